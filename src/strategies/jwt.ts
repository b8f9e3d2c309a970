import { createHmac, createPublicKey, timingSafeEqual } from 'node:crypto'
import {
  type CryptoKey,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  exportJWK,
  importPKCS8,
  importSPKI,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose'
import { HmacJwtVerifier, signHmacJwt } from '../core/hmac-jwt.js'
import type { UserManager } from '../core/manager.js'
import { AUDIENCE, type Clock } from '../core/tokens.js'
import type { BaseUser } from '../core/user.js'
import type { SessionContext, Strategy } from './strategy.js'

export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512'
/**
 * The asymmetric algorithms PyJWT offers that apps use: RSA PKCS#1 v1.5 (RS*), RSA-PSS (PS*), ECDSA on
 * P-256, P-384 and P-521 (ES256, ES384, ES512), and Ed25519 (EdDSA).
 */
export type AsymmetricAlgorithm =
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'

export const ASYMMETRIC_ALGORITHMS: readonly AsymmetricAlgorithm[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]

/** One key of an asymmetric key set, in PEM. The first key with a private half signs; all verify. */
export interface SigningKey {
  /** PKCS#8 private key: this key can sign. */
  privateKey?: string
  /** SPKI public key: enough to verify tokens of a retired key until they expire. */
  publicKey?: string
  /** Key id; default: the JWK thumbprint of the public key. */
  kid?: string
}

interface BaseOptions<U extends BaseUser> {
  /** Seconds; null for tokens that never expire. fastapi-users' reference app uses 3600. */
  lifetimeSeconds: number | null
  audience?: string[]
  /**
   * Adds a `pfp` claim (an HMAC of the password hash) and refuses tokens whose `pfp` no longer
   * matches: a password change or reset ends every JWT issued before it. Tokens without the
   * claim (issued by fastapi-users) are accepted until they expire. Default true.
   */
  bindToPassword?: boolean
  /** Custom claims added to every access token; they cannot replace sub, aud, exp or pfp. */
  claims?: (user: U) => Record<string, unknown> | Promise<Record<string, unknown>>
  clock?: Clock
}

export type JWTStrategyOptions<U extends BaseUser> = BaseOptions<U> &
  (
    | { secret: string; algorithm?: HmacAlgorithm; keys?: undefined }
    | {
        algorithm: AsymmetricAlgorithm
        /** Newest first: new tokens are signed with the first private key; every key verifies. */
        keys: SigningKey[]
        /** Still needed for the password binding's HMAC. */
        secret: string
      }
  )

interface LoadedKey {
  kid: string
  publicKey: CryptoKey
  privateKey?: CryptoKey
  jwk: JWK
}

const RESERVED = new Set(['sub', 'aud', 'exp', 'pfp'])

/**
 * Stateless access tokens: `{sub, aud: ["fastapi-users:auth"], exp}` plus custom claims.
 * HS256 with a secret by default (as fastapi-users' JWTStrategy); HS384/HS512, or an asymmetric
 * algorithm (RS256/384/512, PS256/384/512, ES256/384/512, EdDSA) with a key set whose
 * public half is published as a JWKS. The algorithm is pinned: the token's header never chooses.
 */
export class JWTStrategy<U extends BaseUser> implements Strategy<U> {
  private readonly audience: string[]
  private readonly algorithm: HmacAlgorithm | AsymmetricAlgorithm
  private readonly keys: Promise<LoadedKey[]> | null
  /** HMAC tokens are verified synchronously (src/core/hmac-jwt.ts): the hot path of every request. */
  private readonly hmac: HmacJwtVerifier | null

  constructor(private readonly options: JWTStrategyOptions<U>) {
    if (!options.secret) throw new TypeError('JWTStrategy: `secret` is required')
    this.audience = options.audience ?? [AUDIENCE.auth]
    this.algorithm = options.algorithm ?? 'HS256'
    if (options.keys) {
      if (!options.keys.some((k) => k.privateKey)) throw new TypeError('JWTStrategy: one key needs a privateKey')
      this.keys = loadKeys(options.keys, options.algorithm)
      this.keys.catch(() => {}) // reported where it is awaited
    } else {
      this.keys = null
    }
    this.hmac = options.keys
      ? null
      : new HmacJwtVerifier(options.secret, this.algorithm as HmacAlgorithm, this.audience, 10_000)
  }

  get lifetimeSeconds(): number | null {
    return this.options.lifetimeSeconds
  }

  async readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null> {
    if (!token) return null
    const claims = await this.verify(token)
    if (!claims || typeof claims.sub !== 'string') return null
    const user = await manager.get(claims.sub)
    if (!user || claims.pfp === undefined) return user
    return typeof claims.pfp === 'string' && this.fingerprintMatches(claims.pfp, user) ? user : null
  }

  async writeToken(user: U, context?: SessionContext): Promise<string> {
    const custom = (await this.options.claims?.(user)) ?? {}
    const extra = Object.fromEntries(Object.entries(custom).filter(([name]) => !RESERVED.has(name)))
    const bound = this.options.bindToPassword === false ? {} : { pfp: this.fingerprint(user) }
    // Issued with a refresh token: `sid` names its family (an additive claim), so the sessions list can say which is this one.
    const sid = context?.refreshSessionId ? { sid: context.refreshSessionId } : {}
    // `sub` is the id as text, as fastapi-users writes it (`str(user.id)`): a decimal string for integer ids.
    const payload: JWTPayload = { sub: String(user.id), aud: this.audience, ...extra, ...sid, ...bound }
    const lifetime = this.options.lifetimeSeconds
    if (lifetime !== null) payload.exp = Math.floor(this.now().getTime() / 1000) + lifetime
    if (!this.keys) return signHmacJwt(payload, this.options.secret, this.algorithm as HmacAlgorithm)
    const signer = (await this.keys).find((k) => k.privateKey)
    if (!signer?.privateKey) throw new Error('no signing key')
    return new SignJWT(payload)
      .setProtectedHeader({ alg: this.algorithm, typ: 'JWT', kid: signer.kid })
      .sign(signer.privateKey)
  }

  /**
   * The `sid` claim of a token this strategy has verified (its refresh family's public id), or null.
   * Only the payload is decoded: call it for a token `readToken` has accepted.
   */
  sessionIdOf(token: string): string | null {
    try {
      const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
      return typeof payload?.sid === 'string' ? payload.sid : null
    } catch {
      return null
    }
  }

  async destroyToken(): Promise<void> {
    // A JWT cannot be destroyed; it expires, or dies with the password it was bound to.
  }

  /** The public keys, for `/.well-known/jwks.json` (empty for HMAC secrets, which are never published). */
  async publicJwks(): Promise<JWK[]> {
    return this.keys ? (await this.keys).map((k) => k.jwk) : []
  }

  private now(): Date {
    return this.options.clock?.() ?? new Date()
  }

  private async verify(token: string): Promise<JWTPayload | null> {
    if (this.hmac) return this.hmac.verify(token, this.now().getTime())
    const options = { algorithms: [this.algorithm], audience: this.audience, currentDate: this.now() }
    let kid: string | undefined
    try {
      kid = decodeProtectedHeader(token).kid
    } catch {
      return null
    }
    // A token without `kid` (PyJWT writes none, so fastapi-users' tokens have none) is tried against each key.
    const keys = await (this.keys as Promise<LoadedKey[]>)
    const candidates = kid === undefined ? keys : keys.filter((k) => k.kid === kid)
    for (const key of candidates) {
      try {
        return (await jwtVerify(token, key.publicKey, options)).payload
      } catch {}
    }
    return null
  }

  /** password hash → its `pfp`: one HMAC per password, not per request (bounded; cleared when full). */
  private readonly fingerprints = new Map<string, string>()

  private fingerprint(user: U): string {
    let pfp = this.fingerprints.get(user.hashed_password)
    if (pfp === undefined) {
      pfp = createHmac('sha256', this.options.secret).update(user.hashed_password).digest('base64url').slice(0, 16)
      if (this.fingerprints.size >= 10_000) this.fingerprints.clear()
      this.fingerprints.set(user.hashed_password, pfp)
    }
    return pfp
  }

  private fingerprintMatches(pfp: string, user: U): boolean {
    const expected = Buffer.from(this.fingerprint(user))
    const given = Buffer.from(pfp)
    return expected.length === given.length && timingSafeEqual(expected, given)
  }
}

async function loadKeys(keys: SigningKey[], algorithm: AsymmetricAlgorithm): Promise<LoadedKey[]> {
  return Promise.all(
    keys.map(async (key) => {
      const publicPem = key.publicKey ?? (key.privateKey ? publicPemOf(key.privateKey) : undefined)
      if (!publicPem) throw new TypeError('JWTStrategy: a key needs a privateKey or a publicKey')
      const publicKey = await importSPKI(publicPem, algorithm, { extractable: true })
      const privateKey = key.privateKey ? await importPKCS8(key.privateKey, algorithm) : undefined
      const exported = await exportJWK(publicKey)
      const kid = key.kid ?? (await calculateJwkThumbprint(exported))
      return { kid, publicKey, privateKey, jwk: { ...exported, kid, alg: algorithm, use: 'sig' } }
    }),
  )
}

function publicPemOf(privatePem: string): string {
  return createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }).toString()
}
