import type { BeforeLoginContext } from './hooks.js'
import type { UserId } from './ids.js'
import type { BaseUser } from './user.js'

type MaybePromise<T> = T | Promise<T>

/**
 * A second factor (TOTP, passkeys, an app's own): what the login pipeline, the `/login/2fa` route,
 * step-up and the 2FA routes need to know of it. Register one with
 * `new FastifyUsers({ secondFactor: { factors: [myFactor] } })`.
 */
export interface SecondFactor<U extends BaseUser = BaseUser> {
  /** The name in the 2FA-required answer's `methods` and in GET /auth/2fa (`totp`, `passkey`…). */
  readonly method: string
  /**
   * The body field carrying this factor's proof at `/login/2fa` and `/2fa/step-up`: `code` (the
   * default: a string the user types) or `passkey` (a WebAuthn assertion, given to `verify` as its JSON).
   */
  readonly field?: 'code' | 'passkey'
  /** Whether the user has this factor turned on (confirmed, not merely pending). */
  isEnabled(user: U): Promise<boolean>
  /**
   * Checks a proof (a code, an assertion…) of this factor for the user; true when it is accepted.
   * A factor whose proofs must not be replayed spends the proof here.
   */
  verify(user: U, proof: string): Promise<boolean>
  /**
   * What the client needs before it can answer (WebAuthn request options): issued for this user
   * alone. Factors whose proof is typed (TOTP) have none.
   */
  options?(user: U): Promise<unknown>
  /** Removes the user's factor entirely (disable, a superuser's DELETE /users/{id}/2fa). */
  remove(user: U): Promise<void>
}

/** What a login check decides once the credentials checked out: go on, or ask for a second factor first. */
export type LoginDecision = undefined | { challenge: string[] }

/**
 * A check of the login pipeline: runs between "credentials are right" and "tokens are written",
 * on every backend's `/login`, after social login (as configured) and, for refusals only, on a
 * refresh. Throw `LoginRefused(code)` to refuse (400 `{"detail": code}`); return
 * `{ challenge: methods }` to ask for one of these second factors first (400 `LOGIN_2FA_REQUIRED`
 * with a ticket); return nothing to let the login through.
 */
export type LoginCheck<U extends BaseUser> = (user: U, ctx: BeforeLoginContext) => MaybePromise<LoginDecision>

/**
 * The login pipeline: the registered checks, in order. The first refusal ends it; challenges of
 * several checks are merged (their methods, in order, once each). A refresh is not a new login:
 * its challenges are ignored (its refusals are not).
 */
export class LoginPipeline<U extends BaseUser> {
  private readonly checks: LoginCheck<U>[] = []

  constructor(checks: LoginCheck<U>[] = []) {
    this.checks.push(...checks)
  }

  /** Adds a check at the end. */
  use(check: LoginCheck<U>): this {
    this.checks.push(check)
    return this
  }

  /** The methods to challenge the user with, or null when the login may go on. */
  async run(user: U, ctx: BeforeLoginContext): Promise<string[] | null> {
    const methods: string[] = []
    for (const check of this.checks) {
      const decision = await check(user, ctx)
      if (decision?.challenge) methods.push(...decision.challenge.filter((m) => !methods.includes(m)))
    }
    if (ctx.method === 'refresh' || methods.length === 0) return null
    return methods
  }
}

/** The second-factor checks of a login: every enabled factor, and recovery codes when any remain. */
export function secondFactorCheck<U extends BaseUser>(
  factors: readonly SecondFactor<U>[],
  recoveryCodes: RecoveryCodeStore,
  options: { afterOAuth: boolean },
): LoginCheck<U> {
  return async (user, ctx) => {
    if (ctx.method === 'refresh' || (ctx.method === 'oauth' && !options.afterOAuth)) return undefined
    const enabled = await enabledMethods(factors, user)
    if (enabled.length === 0) return undefined
    if ((await recoveryCodes.remaining(user.id)) > 0) enabled.push(RECOVERY_CODE)
    return { challenge: enabled }
  }
}

/** The name of recovery codes in `methods`. */
export const RECOVERY_CODE = 'recovery_code'

export async function enabledMethods<U extends BaseUser>(factors: readonly SecondFactor<U>[], user: U) {
  const on = await Promise.all(factors.map((f) => f.isEnabled(user)))
  return factors.filter((_, i) => on[i]).map((f) => f.method)
}

/** A login waiting for its second factor: only the SHA-256 of the ticket is stored. */
export interface LoginTicket {
  ticketHash: string
  userId: UserId
  backend: string
  /** Milliseconds since the epoch. */
  expiresAt: number
  /** Wrong codes given so far. */
  failures: number
}

/** Where login tickets live, shared by every instance of the service (a table, or Redis). */
export interface LoginTicketStore {
  create(ticket: LoginTicket): Promise<void>
  get(ticketHash: string): Promise<LoginTicket | null>
  /** Counts a wrong code; returns the failures now counted (0 when the ticket is gone). */
  fail(ticketHash: string): Promise<number>
  /** Spends the ticket; false when another request already did. */
  spend(ticketHash: string): Promise<boolean>
  /** Forgets expired tickets (housekeeping). */
  prune(now: number): Promise<void>
}

/** Recovery codes, by a keyed hash of each (never the codes). */
export interface RecoveryCodeStore {
  /** Replaces the user's codes with these. */
  replace(userId: UserId, hashes: string[]): Promise<void>
  /** Uses one code once; false when it is not the user's or was used. */
  use(userId: UserId, hash: string, now: number): Promise<boolean>
  remaining(userId: UserId): Promise<number>
  removeAll(userId: UserId): Promise<void>
}

/** Recent authentications (step-up), per session: the SHA-256 of the session's access token. */
export interface StepUpStore {
  record(tokenHash: string, userId: UserId, expiresAt: number): Promise<void>
  /** Whether this session of this user authenticated again recently enough. */
  isRecent(tokenHash: string, userId: UserId, now: number): Promise<boolean>
  removeForUser(userId: UserId): Promise<void>
}

/** The stores the second-factor machinery needs (`createKyselySecondFactorStores(database)`). */
export interface SecondFactorStores {
  tickets: LoginTicketStore
  recoveryCodes: RecoveryCodeStore
  stepUps: StepUpStore
}
