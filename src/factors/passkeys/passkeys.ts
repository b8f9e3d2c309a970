import { randomBytes } from 'node:crypto'
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server'
import type { HookContext } from '../../core/hooks.js'
import type { UserId } from '../../core/ids.js'
import type { BaseUser } from '../../core/user.js'
import { PasskeyAlreadyRegistered, PasskeyChallengeExpired, PasskeyInvalid } from './errors.js'
import type { ChallengePurpose, PasskeyRow, PasskeyStore } from './store.js'

export interface PasskeyHooks {
  /** After a passkey is registered (the reference service mails the owner). */
  onPasskeyAdded?(user: BaseUser, passkey: PasskeyRow, ctx: HookContext): void | Promise<void>
  /** After one or more passkeys are removed, by their owner or a superuser. */
  onPasskeysRemoved?(user: BaseUser, passkeys: PasskeyRow[], ctx: HookContext): void | Promise<void>
}

export interface PasskeysOptions {
  store: PasskeyStore
  /** The relying party id: the site's host name (`example.com`; `localhost` in development). */
  rpID: string
  /** The name authenticators show. */
  rpName: string
  /** The origins ceremonies may come from (`https://example.com`). */
  origin: string | string[]
  /** How long a challenge may be answered, in seconds. Default 300. */
  challengeLifetimeSeconds?: number
  /** `required`: only authenticators that verified their user (PIN, biometrics) are accepted. Default `preferred`. */
  userVerification?: 'required' | 'preferred'
  hooks?: PasskeyHooks
}

/** The longest credential id the spec allows (bytes), as base64url characters. */
const MAX_CREDENTIAL_ID = 1366
/** A client's JSON parts are bounded: nothing bigger reaches the verifier. */
const MAX_PART = 16_384

/**
 * WebAuthn passkeys with @simplewebauthn/server: registration for a signed-in user, sign-in with a
 * discoverable credential alone, and assertions restricted to one user's credentials (a second factor).
 * Each ceremony's challenge is stored (PasskeyStore) and used once, whichever instance answers.
 */
export class Passkeys {
  readonly store: PasskeyStore
  readonly rpID: string
  readonly rpName: string
  readonly origins: string[]
  readonly challengeLifetimeSeconds: number
  readonly userVerification: 'required' | 'preferred'
  readonly hooks: PasskeyHooks

  constructor(options: PasskeysOptions) {
    if (!options.store) throw new TypeError('Passkeys: `store` is required')
    if (!options.rpID || /[/:]/.test(options.rpID)) throw new TypeError('Passkeys: `rpID` must be a host name')
    this.store = options.store
    this.rpID = options.rpID
    this.rpName = options.rpName || options.rpID
    this.origins = [options.origin].flat()
    if (this.origins.length === 0) throw new TypeError('Passkeys: `origin` is required')
    this.challengeLifetimeSeconds = options.challengeLifetimeSeconds ?? 300
    this.userVerification = options.userVerification ?? 'preferred'
    this.hooks = options.hooks ?? {}
  }

  /** Creation options for `navigator.credentials.create()`: a discoverable credential for this user. */
  async registrationOptions(user: BaseUser): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.store.listForUser(user.id)
    const challenge = await this.newChallenge('register', user.id)
    return (await webauthn()).generateRegistrationOptions({
      rpName: this.rpName,
      rpID: this.rpID,
      userName: user.email,
      userID: userHandleOf(user.id),
      challenge: bytesOf(challenge),
      timeout: this.challengeLifetimeSeconds * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.credential_id, transports: p.transports })),
      authenticatorSelection: { residentKey: 'required', userVerification: this.userVerification },
    })
  }

  /** Verifies the authenticator's answer to `registrationOptions` and stores the new passkey. */
  async register(user: BaseUser, response: unknown, name: string): Promise<PasskeyRow> {
    const answer = credentialResponse(response, 'attestationObject') as RegistrationResponseJSON
    const challenge = await this.takeChallenge(answer, 'register', user.id)
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>
    try {
      verified = await (await webauthn()).verifyRegistrationResponse({
        response: answer,
        expectedChallenge: challenge,
        expectedOrigin: this.origins,
        expectedRPID: this.rpID,
        requireUserVerification: this.userVerification === 'required',
      })
    } catch {
      throw new PasskeyInvalid()
    }
    if (!verified.verified) throw new PasskeyInvalid()
    const info = verified.registrationInfo
    if (info.credential.id.length > MAX_CREDENTIAL_ID) throw new PasskeyInvalid()
    const row: PasskeyRow = {
      id: randomBytes(16).toString('base64url'),
      user_id: user.id,
      credential_id: info.credential.id,
      public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: (answer.response.transports ?? []).filter((t) => /^[a-z-]{1,32}$/.test(t)).slice(0, 6), // fits varchar(255)
      name,
      device_type: info.credentialDeviceType,
      backed_up: info.credentialBackedUp,
      created_at: new Date(),
      last_used_at: null,
    }
    if (!(await this.store.create(row))) throw new PasskeyAlreadyRegistered()
    return row
  }

  /** Request options for a sign-in with a passkey alone: no credential listed, the authenticator offers its own. */
  async loginOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return this.requestOptions('login', null, [])
  }

  /** Request options restricted to `user`'s passkeys (a second factor). */
  async secondFactorOptions(user: BaseUser): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = await this.store.listForUser(user.id)
    return this.requestOptions('second-factor', user.id, passkeys)
  }

  /**
   * Verifies an assertion: for a sign-in, by whichever user owns the credential (returned); for a second
   * factor, only by one of `user`'s passkeys. The signature counter must move forward (or stay 0
   * for authenticators without one); the passkey's counter and last use are then recorded.
   */
  async authenticate(response: unknown, purpose: 'login'): Promise<PasskeyRow>
  async authenticate(response: unknown, purpose: 'second-factor', user: BaseUser): Promise<PasskeyRow>
  async authenticate(response: unknown, purpose: 'login' | 'second-factor', user?: BaseUser): Promise<PasskeyRow> {
    const answer = credentialResponse(response, 'authenticatorData') as AuthenticationResponseJSON
    const challenge = await this.takeChallenge(answer, purpose, user?.id ?? null)
    const passkey = await this.store.getByCredentialId(answer.id)
    if (!passkey || (user && passkey.user_id !== user.id)) throw new PasskeyInvalid()
    const handle = answer.response.userHandle
    if (
      handle !== undefined &&
      handle !== null &&
      handle !== Buffer.from(userHandleOf(passkey.user_id)).toString('base64url')
    )
      throw new PasskeyInvalid()
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>
    try {
      verified = await (await webauthn()).verifyAuthenticationResponse({
        response: answer,
        expectedChallenge: challenge,
        expectedOrigin: this.origins,
        expectedRPID: this.rpID,
        credential: {
          id: passkey.credential_id,
          publicKey: new Uint8Array(Buffer.from(passkey.public_key, 'base64url')),
          counter: passkey.counter,
          transports: passkey.transports,
        },
        requireUserVerification: this.userVerification === 'required',
      })
    } catch {
      // a bad signature, another origin, a counter that did not move forward (a cloned authenticator)
      throw new PasskeyInvalid()
    }
    if (!verified.verified) throw new PasskeyInvalid()
    const { newCounter, credentialBackedUp } = verified.authenticationInfo
    const at = new Date()
    // compare-and-set: of two answers carrying one counter value, one is recorded
    if (!(await this.store.recordUse(passkey.id, passkey.counter, newCounter, at, credentialBackedUp)))
      throw new PasskeyInvalid()
    return { ...passkey, counter: newCounter, last_used_at: at, backed_up: credentialBackedUp }
  }

  private async requestOptions(purpose: ChallengePurpose, userId: UserId | null, passkeys: PasskeyRow[]) {
    const challenge = await this.newChallenge(purpose, userId)
    return (await webauthn()).generateAuthenticationOptions({
      rpID: this.rpID,
      challenge: bytesOf(challenge),
      timeout: this.challengeLifetimeSeconds * 1000,
      userVerification: this.userVerification,
      allowCredentials: passkeys.map((p) => ({ id: p.credential_id, transports: p.transports })),
    })
  }

  private async newChallenge(purpose: ChallengePurpose, userId: UserId | null): Promise<string> {
    const challenge = randomBytes(32).toString('base64url')
    const expires_at = Date.now() + this.challengeLifetimeSeconds * 1000
    await this.store.createChallenge(challenge, { purpose, user_id: userId, expires_at })
    return challenge
  }

  /** The challenge the answer signs, taken (used up) from the store; refused unless issued for this. */
  private async takeChallenge(
    answer: { response: { clientDataJSON: string } },
    purpose: ChallengePurpose,
    userId: UserId | null,
  ) {
    let challenge: unknown
    try {
      challenge = JSON.parse(Buffer.from(answer.response.clientDataJSON, 'base64url').toString('utf8')).challenge
    } catch {
      throw new PasskeyInvalid()
    }
    if (typeof challenge !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(challenge)) throw new PasskeyInvalid()
    const row = await this.store.takeChallenge(challenge)
    if (!row || row.purpose !== purpose || row.user_id !== userId || row.expires_at <= Date.now())
      throw new PasskeyChallengeExpired()
    return challenge
  }
}

/** A base64url challenge as the bytes the options carry (a string would be taken as UTF-8 and encoded again). */
const bytesOf = (base64url: string) => new Uint8Array(Buffer.from(base64url, 'base64url'))

/** The WebAuthn user handle of a user: its id as UTF-8 (no e-mail or other personal data). */
export function userHandleOf(id: UserId): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(String(id), 'utf8'))
}

/**
 * @simplewebauthn/server, loaded at the first passkey request: its ASN.1 and X.509 modules cost
 * about a second and several MB at start-up, for a feature most processes never use.
 */
let loaded: Promise<typeof import('@simplewebauthn/server')> | undefined
const webauthn = () => {
  loaded ??= import('@simplewebauthn/server')
  return loaded
}

/** The client's PublicKeyCredential JSON, checked for shape before any of it is decoded. */
function credentialResponse(value: unknown, part: 'attestationObject' | 'authenticatorData'): unknown {
  const ok = (v: unknown, max = MAX_PART) =>
    typeof v === 'string' && v.length > 0 && v.length <= max && /^[A-Za-z0-9_-]+$/.test(v)
  const r = value as { id?: unknown; rawId?: unknown; type?: unknown; response?: Record<string, unknown> } | null
  if (!r || typeof r !== 'object' || r.type !== 'public-key' || !r.response || typeof r.response !== 'object')
    throw new PasskeyInvalid()
  if (!ok(r.id, MAX_CREDENTIAL_ID) || r.rawId !== r.id) throw new PasskeyInvalid()
  if (!ok(r.response.clientDataJSON) || !ok(r.response[part])) throw new PasskeyInvalid()
  if (part === 'authenticatorData' && !ok(r.response.signature)) throw new PasskeyInvalid()
  const handle = r.response.userHandle
  if (handle !== undefined && handle !== null && !ok(handle, 128)) throw new PasskeyInvalid()
  const transports = r.response.transports
  if (transports !== undefined && !(Array.isArray(transports) && transports.every((t) => typeof t === 'string')))
    throw new PasskeyInvalid()
  const extensions = (r as { clientExtensionResults?: unknown }).clientExtensionResults
  return { ...r, clientExtensionResults: extensions && typeof extensions === 'object' ? extensions : {} }
}
