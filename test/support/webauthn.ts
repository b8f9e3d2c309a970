/**
 * A software WebAuthn authenticator for route tests: ES256 keys from node:crypto, attestation
 * "none", discoverable credentials, assertions with a signature counter the test controls. It
 * builds what a browser sends (`PublicKeyCredential.toJSON()`), with its own tiny CBOR encoder.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto'

type Cbor = number | string | Uint8Array | Cbor[] | Map<number | string, Cbor>

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n])
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n])
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff])
  const b = Buffer.alloc(5)
  b[0] = (major << 5) | 26
  b.writeUInt32BE(n, 1)
  return b
}

/** CBOR (RFC 8949) of the few types WebAuthn uses: integers, byte and text strings, arrays, maps. */
export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value)
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8')
    return Buffer.concat([head(3, bytes.length), bytes])
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value])
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)])
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])])
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest()

export interface Credential {
  id: string
  privateKey: KeyObject
  cosePublicKey: Buffer
  userHandle: string
  rpId: string
  counter: number
}

type Json = Record<string, any>

export class SoftwareAuthenticator {
  readonly credentials = new Map<string, Credential>()

  constructor(readonly origin: string) {}

  /** Answers creation options as `navigator.credentials.create()` would (attestation "none"). */
  create(
    options: Json,
    override: { origin?: string; challenge?: string; counter?: number; userVerified?: boolean } = {},
  ): Json {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' })
    const cosePublicKey = cbor(
      new Map<number, Cbor>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x as string, 'base64url')],
        [-3, Buffer.from(jwk.y as string, 'base64url')],
      ]),
    )
    const id = randomBytes(16)
    const rpId = options.rp.id as string
    const counter = override.counter ?? 0
    const credential: Credential = {
      id: b64url(id),
      privateKey,
      cosePublicKey,
      userHandle: options.user.id,
      rpId,
      counter,
    }
    const idLength = Buffer.from([id.length >> 8, id.length & 0xff])
    const authData = Buffer.concat([
      this.authDataHead(rpId, 0x01 | (override.userVerified === false ? 0 : 0x04) | 0x40, counter),
      Buffer.alloc(16), // AAGUID: none
      idLength,
      id,
      cosePublicKey,
    ])
    const clientDataJSON = this.clientData('webauthn.create', override.challenge ?? options.challenge, override.origin)
    const attestationObject = cbor(
      new Map<string, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    )
    this.credentials.set(credential.id, credential)
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
      },
    }
  }

  /**
   * Answers request options as `navigator.credentials.get()` would: with `credentialId` (or the one
   * the options allow, or the only one held), its counter moved forward by one unless `counter` says
   * what to send.
   */
  get(
    options: Json,
    choose: {
      credentialId?: string
      counter?: number
      origin?: string
      challenge?: string
      userVerified?: boolean
    } = {},
  ): Json {
    const allowed = (options.allowCredentials ?? []).map((c: { id: string }) => c.id) as string[]
    const id = choose.credentialId ?? allowed[0] ?? [...this.credentials.keys()][0]
    const credential = id ? this.credentials.get(id) : undefined
    if (!credential) throw new Error('the authenticator holds no such credential')
    const counter = choose.counter ?? credential.counter + 1
    credential.counter = Math.max(credential.counter, counter) // an older count sent once (a clone's) is not kept
    const flags = 0x01 | (choose.userVerified === false ? 0 : 0x04) // user present, verified unless said
    const authenticatorData = this.authDataHead(credential.rpId, flags, counter)
    const clientDataJSON = this.clientData('webauthn.get', choose.challenge ?? options.challenge, choose.origin)
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), credential.privateKey)
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authenticatorData),
        signature: b64url(signature),
        userHandle: credential.userHandle,
      },
    }
  }

  private authDataHead(rpId: string, flags: number, counter: number): Buffer {
    const count = Buffer.alloc(4)
    count.writeUInt32BE(counter)
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count])
  }

  private clientData(type: string, challenge: string, origin = this.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8')
  }
}
