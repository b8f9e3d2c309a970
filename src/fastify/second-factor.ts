import { createHash, createHmac, hkdfSync, randomBytes, randomInt } from 'node:crypto'
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { Type } from 'typebox'
import type { AuditLog } from '../core/audit.js'
import type { BeforeLoginContext, HookContext } from '../core/hooks.js'
import type { UserManager } from '../core/manager.js'
import {
  enabledMethods,
  type LoginCheck,
  LoginPipeline,
  RECOVERY_CODE,
  type SecondFactor,
  type SecondFactorStores,
  secondFactorCheck,
} from '../core/second-factor.js'
import type { Clock } from '../core/tokens.js'
import type { BaseUser } from '../core/user.js'
import type { TotpFactor } from '../factors/totp/factor.js'
import { audit } from './audit.js'
import { authenticationOf } from './current-user.js'
import { HttpError, unauthorized } from './errors.js'
import type { AuthRateLimiter } from './rate-limit.js'
import type { ErrorDoc } from './route-docs.js'

type MaybePromise<T> = T | Promise<T>

/** A factor was turned on or off for a user: the app tells its owner (a mail). */
export interface FactorChange {
  method: string
  change: 'added' | 'removed'
  /** `admin`: a superuser removed the user's factors. */
  by: 'user' | 'admin'
}

export interface SecondFactorOptions<U extends BaseUser> {
  /** Where tickets, recovery codes and step-ups live (`createKyselySecondFactorStores(database)`). */
  stores: SecondFactorStores
  /** Keys the recovery codes' hashes (HMAC-SHA256 under a key derived from it): the service's SECRET. */
  secret: string
  /** TOTP (`new TotpFactor({ store, encryptionKey })`): the `/2fa/totp/*` routes. */
  totp?: TotpFactor<U>
  /** Other factors (passkeys, an app's own): offered at the challenge and counted by GET /2fa. */
  factors?: SecondFactor<U>[]
  /** Ask for the second factor after a social login too (default true: a provider account is one factor). */
  afterOAuth?: boolean
  /** How long a login through the second factor, or a step-up, counts as recent (default 300 s). */
  stepUpWindowSeconds?: number
  /** How long a login ticket lives (default 300 s). */
  ticketLifetimeSeconds?: number
  /** Wrong codes a ticket allows before it is spent (default 5); each also counts toward the login lock-out. */
  ticketTries?: number
  /** Told when a user's factor is added or removed (e.g. to mail them). Failures are logged, never undo it. */
  onFactorChange?(user: U, change: FactorChange, ctx: HookContext): MaybePromise<void>
  clock?: Clock
}

/** A login waiting for its second factor: the 400 answer of `/login`. */
export const secondFactorRequired = (ticket: string, methods: string[]) =>
  new HttpError(400, { code: 'LOGIN_2FA_REQUIRED', ticket, methods })

export const twoFactorErrors = {
  required: {
    status: 400,
    code: 'LOGIN_2FA_REQUIRED',
    summary: 'The user has a second factor: no token yet; answer the challenge at `/login/2fa` with the ticket.',
    body: { detail: { code: 'LOGIN_2FA_REQUIRED', ticket: 'Q0f3…', methods: ['totp', 'recovery_code'] } },
  },
  badCode: {
    status: 400,
    code: 'LOGIN_2FA_BAD_CODE',
    summary: 'The code is wrong, already used, or the ticket is unknown, expired, spent, or another backend’s.',
    body: { detail: 'LOGIN_2FA_BAD_CODE' },
  },
  stepUpRequired: {
    status: 403,
    code: 'STEP_UP_REQUIRED',
    summary: 'The user has a second factor and this session has not authenticated recently: POST /auth/2fa/step-up.',
    body: { detail: 'STEP_UP_REQUIRED' },
  },
} satisfies Record<string, ErrorDoc>

/** A PATCH whose body changes the e-mail address or the password. */
export const changesCredentials = (request: FastifyRequest) => {
  const body = request.body as { email?: unknown; password?: unknown } | undefined
  return body?.email !== undefined || body?.password !== undefined
}

/** The challenge's `detail`: fastapi-users' ErrorModel has none with a list in it. */
const ChallengeDetail = Type.Object(
  { code: Type.Literal('LOGIN_2FA_REQUIRED'), ticket: Type.String(), methods: Type.Array(Type.String()) },
  { title: 'SecondFactorChallenge' },
)

/**
 * A login route's `documented(...)` schema whose 400 may also carry the challenge: ErrorModel's
 * `detail` (a string, or a map of strings) or SecondFactorChallenge.
 */
export function withChallenge<T extends { response: object }>(docs: T, enabled: boolean): T {
  const response = docs.response as Record<number, Record<string, unknown>>
  const bad = response[400]
  if (!enabled || !bad) return docs
  const properties = bad.properties as { detail: { anyOf: unknown[] } }
  const detail = { ...properties.detail, anyOf: [...properties.detail.anyOf, ChallengeDetail] }
  return { ...docs, response: { ...response, 400: { ...bad, properties: { ...properties, detail } } } }
}

/** A proof of a second factor, as the bodies carry it: a typed `code`, or a passkey's assertion. */
export interface SecondFactorProof {
  code?: string
  passkey?: unknown
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

/**
 * The login pipeline and the second factors: challenges at login (tickets), their redemption,
 * recovery codes, and step-up (recent authentication per session).
 */
export class SecondFactors<U extends BaseUser> {
  readonly pipeline: LoginPipeline<U>
  readonly factors: SecondFactor<U>[]
  readonly totp: TotpFactor<U> | undefined
  readonly stepUpWindowSeconds: number
  private readonly options: SecondFactorOptions<U> | undefined
  private readonly recoveryKey: Buffer
  private readonly clock: Clock
  /** Where a wrong code at `/login/2fa` is recorded (`second_factor.failed`); set by FastifyUsers. */
  audit: AuditLog | undefined

  constructor(
    private readonly manager: UserManager<U>,
    options: SecondFactorOptions<U> | undefined,
    checks: LoginCheck<U>[],
    /** Factors the wiring adds (the passkeys of FastifyUsers' `passkeys`), after the app's own. */
    wired: SecondFactor<U>[] = [],
  ) {
    this.options = options
    this.totp = options?.totp
    const own = [...(options?.totp ? [options.totp] : []), ...(options?.factors ?? [])]
    this.factors = [...own, ...wired.filter((w) => !own.some((f) => f.method === w.method))]
    this.stepUpWindowSeconds = options?.stepUpWindowSeconds ?? 300
    this.clock = options?.clock ?? (() => new Date())
    if (options && !options.secret) throw new TypeError('secondFactor.secret is required')
    this.recoveryKey = Buffer.from(hkdfSync('sha256', options?.secret ?? 'none', 'fastify-users', 'recovery-codes', 32))
    const builtIn = options
      ? [secondFactorCheck(this.factors, options.stores.recoveryCodes, { afterOAuth: options.afterOAuth ?? true })]
      : []
    this.pipeline = new LoginPipeline([...checks, ...builtIn])
  }

  get enabled(): boolean {
    return this.options !== undefined
  }

  private get stores(): SecondFactorStores {
    if (!this.options) throw new TypeError('second factors are not configured (FastifyUsers `secondFactor`)')
    return this.options.stores
  }

  private now(): number {
    return this.clock().getTime()
  }

  /**
   * Runs the login pipeline for a user whose credentials checked out: a refusal is thrown as is; a
   * challenge becomes a ticket bound to the user and the backend, answered 400 LOGIN_2FA_REQUIRED.
   */
  async check(user: U, ctx: BeforeLoginContext): Promise<void> {
    const methods = await this.pipeline.run(user, ctx)
    if (!methods) return
    const ticket = randomBytes(32).toString('base64url')
    const lifetime = this.options?.ticketLifetimeSeconds ?? 300
    await this.stores.tickets.prune(this.now())
    await this.stores.tickets.create({
      ticketHash: sha256(ticket),
      userId: user.id,
      backend: ctx.backend,
      expiresAt: this.now() + lifetime * 1000,
      failures: 0,
    })
    throw secondFactorRequired(ticket, methods)
  }

  /**
   * The user a ticket and a code (of a factor, or a recovery code) sign in on this backend; the
   * ticket is then spent. A wrong code counts against the ticket's tries and the login lock-out.
   */
  async redeem(
    request: FastifyRequest,
    ticket: string,
    proof: string | SecondFactorProof,
    backend: string,
    limits?: AuthRateLimiter,
  ) {
    const bad = () => new HttpError(400, 'LOGIN_2FA_BAD_CODE')
    const hash = sha256(ticket)
    const user = await this.ticketUser(hash, backend)
    const attempt = await limits?.beginLogin(request, user.email)
    let accepted: boolean
    try {
      accepted = await this.verifyProof(user, typeof proof === 'string' ? { code: proof } : proof, true)
    } catch (error) {
      await attempt?.abandoned()
      throw error
    }
    if (!accepted) {
      audit(this.audit, request, {
        type: 'second_factor.failed',
        outcome: 'failure',
        reason: 'LOGIN_2FA_BAD_CODE',
        user_id: String(user.id),
        backend,
        detail: { stage: 'login' },
      })
      const failures = await this.stores.tickets.fail(hash)
      if (failures >= (this.options?.ticketTries ?? 5)) await this.stores.tickets.spend(hash)
      throw bad()
    }
    if (!(await this.stores.tickets.spend(hash))) throw bad() // a concurrent request spent it first
    const deviceCookie = await attempt?.succeeded()
    return { user, deviceCookie }
  }

  /** The active user of a live ticket of this backend; 400 LOGIN_2FA_BAD_CODE otherwise. */
  private async ticketUser(hash: string, backend: string): Promise<U> {
    const bad = () => new HttpError(400, 'LOGIN_2FA_BAD_CODE')
    const found = await this.stores.tickets.get(hash)
    if (!found || found.backend !== backend || found.expiresAt <= this.now()) throw bad()
    const user = await this.manager.get(found.userId)
    if (!user?.is_active) {
      await this.stores.tickets.spend(hash)
      throw bad()
    }
    return user
  }

  /**
   * What the client needs to answer a ticket with `method` (a passkey's request options, limited to
   * the ticket's user's credentials, the challenge bound to that user). 400 LOGIN_2FA_BAD_CODE when
   * the ticket is not a live one of this backend or the user has no such factor. Spends no try.
   */
  async ticketOptions(ticket: string, backend: string, method: string): Promise<unknown> {
    const user = await this.ticketUser(sha256(ticket), backend)
    return this.optionsFor(user, method, () => new HttpError(400, 'LOGIN_2FA_BAD_CODE'))
  }

  /** The options of the user's factor `method` (step-up); `refuse()` is thrown when it has none on. */
  async optionsFor(user: U, method: string, refuse: () => Error): Promise<unknown> {
    const factor = this.factors.find((f) => f.method === method)
    if (!factor?.options || !(await factor.isEnabled(user))) throw refuse()
    return factor.options(user)
  }

  /** Whether the code is one of the user's factors' (or, when `recovery`, an unused recovery code, then used). */
  async verifyAny(user: U, code: string, recovery: boolean): Promise<boolean> {
    return this.verifyProof(user, { code }, recovery)
  }

  /**
   * Whether the proof is accepted: a passkey assertion by the factors answered with one, a code by
   * the others (or, when `recovery`, an unused recovery code, then used).
   */
  async verifyProof(user: U, proof: SecondFactorProof, recovery: boolean): Promise<boolean> {
    const field = proof.passkey !== undefined ? 'passkey' : 'code'
    const value = field === 'passkey' ? JSON.stringify(proof.passkey) : (proof.code ?? '')
    if (field === 'code' && value === '') return false
    for (const factor of this.factors) {
      if ((factor.field ?? 'code') !== field) continue
      if ((await factor.isEnabled(user)) && (await factor.verify(user, value))) return true
    }
    if (!recovery || field !== 'code') return false
    return this.stores.recoveryCodes.use(user.id, this.recoveryHash(user, value), this.now())
  }

  /** The methods the user has on, with recovery codes when any remain. */
  async methodsOf(user: U): Promise<string[]> {
    const methods = await enabledMethods(this.factors, user)
    if (methods.length > 0 && (await this.stores.recoveryCodes.remaining(user.id)) > 0) methods.push(RECOVERY_CODE)
    return methods
  }

  async hasFactor(user: U): Promise<boolean> {
    return this.enabled && (await enabledMethods(this.factors, user)).length > 0
  }

  async recoveryCodesRemaining(user: U): Promise<number> {
    return this.stores.recoveryCodes.remaining(user.id)
  }

  /** Ten new recovery codes (`xxxxx-xxxxx`, 50 bits each), replacing the user's; only their hashes are kept. */
  async newRecoveryCodes(user: U): Promise<string[]> {
    const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789'
    const codes = Array.from({ length: 10 }, () => {
      const chars = Array.from({ length: 10 }, () => alphabet[randomInt(alphabet.length)]).join('')
      return `${chars.slice(0, 5)}-${chars.slice(5)}`
    })
    await this.stores.recoveryCodes.replace(
      user.id,
      codes.map((c) => this.recoveryHash(user, c)),
    )
    return codes
  }

  private recoveryHash(user: U, code: string): string {
    const normal = code.trim().toLowerCase().replace(/[\s-]/g, '')
    return createHmac('sha256', this.recoveryKey).update(`${user.id}:${normal}`).digest('hex')
  }

  /** Removes every factor of the user, their recovery codes and step-ups; the methods that were on. */
  async removeAll(user: U): Promise<string[]> {
    const methods = await enabledMethods(this.factors, user)
    for (const factor of this.factors) await factor.remove(user)
    await this.stores.recoveryCodes.removeAll(user.id)
    await this.stores.stepUps.removeForUser(user.id)
    return methods
  }

  /** Marks this session (its access token) as recently authenticated. */
  async recordStepUp(user: U, token: string): Promise<void> {
    await this.stores.stepUps.record(sha256(token), user.id, this.now() + this.stepUpWindowSeconds * 1000)
  }

  /** Whether this session of a user with a factor authenticated recently (always true without a factor). */
  async isRecent(user: U, token: string): Promise<boolean> {
    if (!(await this.hasFactor(user))) return true
    return this.stores.stepUps.isRecent(sha256(token), user.id, this.now())
  }

  /**
   * A preHandler (after `currentUser`) refusing 403 STEP_UP_REQUIRED when the user has a second
   * factor and this session has not authenticated again within the window; `when` narrows it to
   * the requests that need it (e.g. a PATCH that changes the e-mail or the password).
   * Users without a second factor pass: fastapi-users' behaviour.
   */
  requireRecentAuth(when?: (request: FastifyRequest) => boolean): preHandlerAsyncHookHandler {
    return async (request) => {
      if (when && !when(request)) return
      await this.assertRecent(request)
    }
  }

  /** Throws 403 STEP_UP_REQUIRED unless the request's session is recent enough (see requireRecentAuth). */
  async assertRecent(request: FastifyRequest): Promise<void> {
    if (!this.enabled) return
    const auth = authenticationOf<U>(request)
    if (!auth) throw unauthorized()
    if (!(await this.isRecent(auth.user, auth.token))) throw new HttpError(403, 'STEP_UP_REQUIRED')
  }

  /** Tells the app of a change of factors; a failure is logged. */
  async notify(user: U, change: FactorChange, ctx: HookContext): Promise<void> {
    try {
      await this.options?.onFactorChange?.(user, change, ctx)
    } catch (error) {
      ctx.logger?.error({ err: error }, 'onFactorChange failed')
    }
  }
}
