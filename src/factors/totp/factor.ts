import { randomBytes } from 'node:crypto'
import type { SecondFactor } from '../../core/second-factor.js'
import type { Clock } from '../../core/tokens.js'
import type { BaseUser } from '../../core/user.js'
import { SecretBox } from './secret-box.js'
import type { TotpStore } from './store.js'
import { base32Encode, matchingStep, otpauthUrl, timeStep } from './totp.js'

export interface TotpOptions {
  /** Where the secrets live (`createKyselyTotpStore(database)`). */
  store: TotpStore
  /**
   * Encrypts the secrets at rest (AES-256-GCM, the key derived from it by HKDF): the service's
   * SECRET, or a key of its own (TOTP_ENCRYPTION_KEY). Changing it makes every enrolled secret unreadable.
   */
  encryptionKey: string | Uint8Array
  /** The issuer authenticator apps show (the `otpauth://` label). Default `fastify-users`. */
  issuer?: string
  /** Now (tests). */
  clock?: Clock
}

/**
 * TOTP (RFC 6238: SHA-1, 6 digits, 30 s, one step of drift either side) as a second factor. A code
 * is accepted once: the last step used is stored, and only a later step is accepted after it.
 */
export class TotpFactor<U extends BaseUser = BaseUser> implements SecondFactor<U> {
  readonly method = 'totp'
  readonly issuer: string
  private readonly store: TotpStore
  private readonly box: SecretBox
  private readonly clock: Clock

  constructor(options: TotpOptions) {
    this.store = options.store
    this.box = new SecretBox(options.encryptionKey)
    this.issuer = options.issuer ?? 'fastify-users'
    this.clock = options.clock ?? (() => new Date())
  }

  async isEnabled(user: U): Promise<boolean> {
    return (await this.store.get(user.id))?.confirmed ?? false
  }

  /** A new secret, pending until `enable` gets a code of it; null when TOTP is already on. */
  async setup(user: U): Promise<{ secret: string; otpauth_url: string } | null> {
    const key = randomBytes(20) // 160 bits, RFC 4226's recommended length for SHA-1
    const stored = await this.store.setPending(user.id, this.box.seal(key, user.id), this.now())
    if (!stored) return null
    const secret = base32Encode(key)
    return { secret, otpauth_url: otpauthUrl(secret, user.email, this.issuer) }
  }

  /** Confirms the pending secret with a code of it; false for a wrong code or nothing pending. */
  async enable(user: U, code: string): Promise<boolean> {
    const row = await this.store.get(user.id)
    if (!row || row.confirmed) return false
    const key = this.box.open(row.secret, user.id)
    if (!key) return false
    const step = matchingStep(key, code, this.now())
    if (step === null) return false
    return this.store.confirm(user.id, step, this.now())
  }

  async verify(user: U, code: string): Promise<boolean> {
    const row = await this.store.get(user.id)
    if (!row?.confirmed) return false
    const key = this.box.open(row.secret, user.id)
    if (!key) return false
    const step = matchingStep(key, code.trim(), this.now())
    if (step === null || (row.lastStep !== null && step <= row.lastStep)) return false
    return this.store.useStep(user.id, step)
  }

  async remove(user: U): Promise<void> {
    await this.store.remove(user.id)
  }

  /** The current RFC 6238 step (for tests and tools). */
  currentStep(): number {
    return timeStep(this.now())
  }

  private now(): number {
    return this.clock().getTime()
  }
}
