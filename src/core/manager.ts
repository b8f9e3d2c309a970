import type { AuthEventInput } from './audit.js'
import { normalizeEmail } from './email.js'
import {
  EMAIL_CHANGE_AUDIENCE,
  EMAIL_CHANGE_MODES,
  type EmailChangeMode,
  emailChangeFingerprint,
  emailChangeFingerprintMatches,
} from './email-change.js'
import {
  EmailAlreadyExists,
  InvalidEmailChangeToken,
  InvalidPasswordError,
  InvalidResetPasswordToken,
  InvalidVerifyToken,
  type PasswordContext,
  ServiceUnavailable,
  UserAlreadyExists,
  UserAlreadyVerified,
} from './errors.js'
import type { HmacJwtAlgorithm } from './hmac-jwt.js'
import type {
  BeforeLoginContext,
  HookContext,
  LoginContext,
  PasswordValidator,
  UserManagerHooks,
  UserValidator,
} from './hooks.js'
import {
  checkIdentifiersFree,
  checkLoginIdentifiers,
  DEFAULT_LOGIN_IDENTIFIERS,
  findByLoginName,
  IdentifierAlreadyExists,
} from './identifiers.js'
import { idParser, type UserId, type UserIdType } from './ids.js'
import {
  associateOAuthAccount,
  type OAuthAccount,
  type OAuthAssociateCallback,
  type OAuthAssociateInput,
  type OAuthCallback,
  type OAuthCallbackInput,
  resolveOAuthUser,
} from './oauth.js'
import { createPasswordHasher, MAX_PASSWORD_LENGTH, type PasswordHasher, passwordLength } from './passwords.js'
import {
  DuplicateEmail,
  DuplicateIdentifier,
  type UserChanges,
  type UserListQuery,
  type UserPage,
  type UserStore,
} from './store.js'
import { AUDIENCE, type Clock, fingerprintMatches, passwordFingerprint, signJwt, verifyJwt } from './tokens.js'
import type { BaseUser } from './user.js'

/**
 * A reset or verification token's settings: fastapi-users' `reset_password_token_secret`,
 * `reset_password_token_lifetime_seconds` and `reset_password_token_audience` (and the
 * `verification_token_*` ones), plus the HMAC algorithm PyJWT signs them with.
 */
export interface TokenSettings {
  secret: string
  lifetimeSeconds?: number
  /** Default `fastapi-users:reset` / `fastapi-users:verify`: a token of one purpose never serves another. */
  audience?: string
  /** Default HS256, as fastapi-users. */
  algorithm?: HmacJwtAlgorithm
}

/**
 * Why every session of a user ended (the audit log's `session.ended` reason): the user signed out
 * everywhere (`user`), a superuser did (`admin`), or a change ended them.
 */
export type SessionEndReason =
  | 'user'
  | 'admin'
  | 'password_changed'
  | 'password_reset'
  | 'deactivated'
  | 'email_changed'
  | 'mailbox_proven'
  | 'cap'

/**
 * Told of the audit events only the manager knows of (why sessions ended, an e-mail change asked
 * for), with the hook context of the operation (the Fastify layer reads its request from there).
 * Framework-neutral: the listener adds the client's address and the request id.
 */
export type ManagerEventListener = (event: AuthEventInput, ctx: HookContext | undefined) => void

export interface ManagerLogger {
  error(obj: object, msg?: string): void
}

export interface UserManagerOptions<U extends BaseUser> {
  store: UserStore<U>
  /** Signs reset and verification tokens unless they have their own. */
  secret: string
  resetPasswordToken?: Partial<TokenSettings>
  verificationToken?: Partial<TokenSettings>
  passwords?: PasswordHasher
  hooks?: UserManagerHooks<U>
  validatePassword?: PasswordValidator<U>
  /**
   * Cross-field rules over the whole user (pydantic's `model_validator`), run on every create and
   * update, a superuser's and the server's own included: they guard the data, not a route.
   */
  validateUser?: UserValidator<U>
  logger?: ManagerLogger
  clock?: Clock
  /**
   * What a URL segment or a token's `sub` is as an id, or null when it is none (fastapi-users'
   * `UserManager.parse_id`). Default: the store's id type's parser (`parseUuid`, or `parseIntegerId`
   * for integer ids, which reads what Python's `int()` reads). A null is a 404 on `/users/{id}` and
   * an invalid token.
   */
  parseId?: (value: string) => UserId | null
  /**
   * Longest password accepted, in code points (default MAX_PASSWORD_LENGTH): it bounds the hashing
   * work one request can cause. Longer new passwords are refused with `…_INVALID_PASSWORD`; a
   * longer login password fails like a wrong one, after a dummy verification.
   */
  maxPasswordLength?: number
  /**
   * fastapi-users' `oauth_callback` (overridden there by subclassing the manager, as here too): wraps
   * or replaces how a social login finds, links or creates its user, e.g. refusing some domains or
   * setting custom fields on a new user. Default: `resolveOAuthUser`'s rules.
   */
  oauthCallback?: OAuthCallback<U>
  /** fastapi-users' `oauth_associate_callback`: wraps or replaces how a signed-in user's link is made. */
  oauthAssociateCallback?: OAuthAssociateCallback<U>
  /**
   * Past fastapi-users: how a user's own new address (a safe `update`, PATCH /users/me) is applied.
   * `immediate` (default, fastapi-users' contract) or `confirm`: the address stays, a token for the new
   * one goes to `onAfterRequestEmailChange`, and `confirmEmailChange(token)` moves it (verified). A
   * superuser's update (`safe: false`) is always immediate.
   */
  emailChange?: EmailChangeMode
  /** The e-mail change tokens (default: `secret`, 3600 s, audience `fastify-users:email-change`, HS256). */
  emailChangeToken?: Partial<TokenSettings>
  /**
   * The fields a login's `username` may name, looked up in this order (default: the store's
   * `loginIdentifiers`, else `['email']`, fastapi-users' contract). Each besides `email` must be one
   * the store keeps unique (`createKyselyUserStore(db, fields, { loginIdentifiers })`).
   */
  loginIdentifiers?: string[]
}

export interface Credentials {
  username: string
  password: string
}

/** Registration data: e-mail, password, optional flags and the app's custom fields. */
export type CreateInput<U extends BaseUser> = { email: string; password: string } & Partial<Omit<U, 'id' | 'email'>>

/** PATCH data: any user field, plus a clear-text `password` (null is ignored). */
export type UpdateInput<U extends BaseUser> = Partial<Omit<U, 'id' | 'hashed_password'>> & { password?: string | null }

interface WriteOptions {
  /**
   * Safe writes ignore is_active, is_superuser and is_verified (the client's own routes). Default true.
   * Custom fields are written as given: the routers pass only those the route may write (`writableInput`).
   */
  safe?: boolean
  ctx?: HookContext
}

const FLAGS = ['is_active', 'is_superuser', 'is_verified'] as const
const NOT_WRITABLE = new Set(['id', 'hashed_password', 'password', 'email', ...FLAGS])
const DEFAULT_LIFETIME = 3600
/** Compare-and-set retries before giving up with a 503 (only under a storm of writes to one user). */
const MAX_ATTEMPTS = 10

/** fastapi-users' BaseUserManager: every rule about users lives here; routers stay thin. */
export class UserManager<U extends BaseUser> {
  readonly store: UserStore<U>
  readonly passwords: PasswordHasher
  readonly hooks: UserManagerHooks<U>
  private readonly reset: Required<TokenSettings>
  private readonly verification: Required<TokenSettings>
  private readonly emailChangeToken: Required<TokenSettings>
  /** How a user's own new address is applied (UserManagerOptions.emailChange). */
  readonly emailChange: EmailChangeMode
  private readonly validator: PasswordValidator<U> | undefined
  private readonly userValidator: UserValidator<U> | undefined
  readonly logger: ManagerLogger | undefined
  private readonly maxPasswordLength: number
  readonly clock: Clock
  /** The type of user ids, from the store (default 'uuid'). */
  readonly idType: UserIdType
  private readonly parseIdOption: ((value: string) => UserId | null) | undefined
  private readonly revokers: ((user: U) => Promise<void>)[] = []
  private readonly proofListeners: ((user: U, ctx?: HookContext) => Promise<void>)[] = []
  private readonly eventListeners: ManagerEventListener[] = []
  private readonly oauthCallbacks: Pick<UserManagerOptions<U>, 'oauthCallback' | 'oauthAssociateCallback'>
  /** The fields a login's `username` may name, in look-up order. */
  readonly loginIdentifiers: readonly string[]

  constructor(options: UserManagerOptions<U>) {
    if (!options.store) throw new TypeError('UserManager: `store` is required')
    if (!options.secret) throw new TypeError('UserManager: `secret` is required')
    this.store = options.store
    this.passwords = options.passwords ?? createPasswordHasher()
    this.hooks = options.hooks ?? {}
    this.validator = options.validatePassword
    this.userValidator = options.validateUser
    this.logger = options.logger
    this.clock = options.clock ?? (() => new Date())
    this.idType = options.store.idType ?? 'uuid'
    this.parseIdOption = options.parseId
    this.maxPasswordLength = options.maxPasswordLength ?? MAX_PASSWORD_LENGTH
    if (!Number.isInteger(this.maxPasswordLength) || this.maxPasswordLength < 1)
      throw new TypeError('UserManager: `maxPasswordLength` must be a positive whole number')
    this.reset = tokenSettings(options.secret, AUDIENCE.reset, options.resetPasswordToken)
    this.verification = tokenSettings(options.secret, AUDIENCE.verify, options.verificationToken)
    this.emailChangeToken = tokenSettings(options.secret, EMAIL_CHANGE_AUDIENCE, options.emailChangeToken)
    this.emailChange = options.emailChange ?? 'immediate'
    if (!EMAIL_CHANGE_MODES.includes(this.emailChange))
      throw new TypeError(`UserManager: \`emailChange\` must be one of ${EMAIL_CHANGE_MODES.join(', ')}`)
    this.oauthCallbacks = {
      oauthCallback: options.oauthCallback,
      oauthAssociateCallback: options.oauthAssociateCallback,
    }
    this.loginIdentifiers = checkLoginIdentifiers(
      options.loginIdentifiers ?? this.store.loginIdentifiers ?? DEFAULT_LOGIN_IDENTIFIERS,
      this.store.loginIdentifiers ?? [],
    )
  }

  /**
   * Registers what ends a user's sessions (the strategies' stored tokens, refresh tokens).
   * It runs after a password change or reset and after a deactivation.
   */
  onRevokeSessions(revoke: (user: U) => Promise<void>): void {
    this.revokers.push(revoke)
  }

  /**
   * Registers what runs when the owner of a not yet verified address proves it by mail: a
   * verification, or a password reset (the reset link reached the mailbox). It runs before the
   * after-hooks; a failure fails the request. The OAuth links use it (`dropUnvouchedLinks`).
   */
  onMailboxProven(listener: (user: U, ctx?: HookContext) => Promise<void>): void {
    this.proofListeners.push(listener)
  }

  private async mailboxProven(user: U, ctx?: HookContext): Promise<void> {
    for (const listener of this.proofListeners) await listener(user, ctx)
  }

  /**
   * Ends every session and refresh token of the user ("log out everywhere"). With `ended`, one
   * `session.ended` event with its reason is told to the event listeners once all ended.
   */
  async revokeSessions(
    user: U,
    ended?: { reason: SessionEndReason; ctx?: HookContext; actorId?: string },
  ): Promise<void> {
    for (const revoke of this.revokers) await revoke(user)
    if (ended)
      this.emit(
        {
          type: 'session.ended',
          outcome: 'success',
          user_id: String(user.id),
          reason: ended.reason,
          ...(ended.actorId !== undefined && { actor_id: ended.actorId }),
        },
        ended.ctx,
      )
  }

  /** Registers a listener of the audit events the manager records (FastifyUsers' audit log does). */
  onEvent(listener: ManagerEventListener): void {
    this.eventListeners.push(listener)
  }

  /** Tells the event listeners; a failing listener never fails the operation. */
  emit(event: AuthEventInput, ctx?: HookContext): void {
    for (const listener of this.eventListeners) {
      try {
        listener(event, ctx)
      } catch (err) {
        ;(ctx?.logger ?? this.logger)?.error({ err }, 'user manager event listener failed')
      }
    }
  }

  /** One page of users, filtered and ordered (the superusers' list); a TypeError where the store cannot list. */
  async list(query: UserListQuery): Promise<UserPage<U>> {
    if (!this.store.list) throw new TypeError('UserManager: the user store has no `list` method')
    return this.store.list(query)
  }

  /** What a URL segment or a token's `sub` is as an id (fastapi-users' `parse_id`), or null. */
  parseId(value: string): UserId | null {
    return this.parseIdOption ? this.parseIdOption(value) : idParser(this.idType)(value)
  }

  /**
   * The user with this id, or null. Text (a URL segment, a token's `sub`) is read by `parseId` (every UUID
   * spelling, `05` for 5); a number is an integer id as stored, looked up as it is.
   */
  async get(id: UserId): Promise<U | null> {
    const parsed = typeof id === 'number' ? id : this.parseId(id)
    return parsed === null ? null : this.store.get(parsed)
  }

  /** Case-insensitive, as every look-up by e-mail in fastapi-users. */
  getByEmail(email: string): Promise<U | null> {
    return this.store.getByEmail(email.trim())
  }

  async validatePassword(
    password: string,
    user: Pick<U, 'email'> & Partial<U>,
    context: PasswordContext,
  ): Promise<void> {
    try {
      if (passwordLength(password) > this.maxPasswordLength) {
        throw new InvalidPasswordError(`Password should be at most ${this.maxPasswordLength} characters`)
      }
      await this.validator?.(password, user)
    } catch (error) {
      if (error instanceof InvalidPasswordError) error.context = context
      throw error
    }
  }

  async create(input: CreateInput<U>, options: WriteOptions = {}): Promise<U> {
    const { password, ...fields } = { ...input, email: canonicalEmail(input.email) }
    const given: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(fields)) {
      if (key === 'id' || key === 'hashed_password') continue
      if (options.safe !== false && (FLAGS as readonly string[]).includes(key)) continue
      given[key] = value
    }
    const row: Record<string, unknown> = { is_active: true, is_superuser: false, is_verified: false, ...given }
    const draft = row as Pick<U, 'email'> & Partial<U>
    // pydantic validates the body (422) before fastapi-users looks at the password or the address (400)
    await this.userValidator?.(draft, { operation: 'create', changes: given })
    await this.validatePassword(password, draft, 'REGISTER')
    if (await this.store.getByEmail(draft.email)) throw new UserAlreadyExists()
    await checkIdentifiersFree(this.store, this.store.loginIdentifiers ?? [], given, 'REGISTER')

    row.hashed_password = await this.passwords.hash(password)
    let user: U
    try {
      user = await this.store.create(row as unknown as Omit<U, 'id'>)
    } catch (error) {
      if (error instanceof DuplicateEmail) throw new UserAlreadyExists()
      if (error instanceof DuplicateIdentifier) throw new IdentifierAlreadyExists(error.field, 'REGISTER')
      throw error
    }
    // every way a user is made (registration, a superuser, a social login, the CLI) is a `register` event
    this.emit({ type: 'register', outcome: 'success', user_id: String(user.id) }, options.ctx)
    await this.after('onAfterRegister', () => this.hooks.onAfterRegister?.(user, options.ctx ?? {}), options.ctx)
    return user
  }

  /**
   * Applies a PATCH in fastapi-users' field order (password, email, flags, custom fields):
   * a new e-mail un-verifies the user unless a superuser sets `is_verified` in the same update.
   */
  async update(user: U, input: UpdateInput<U>, options: WriteOptions = {}): Promise<U> {
    const changes: Record<string, unknown> = {}
    for (const flag of FLAGS) {
      if (options.safe === false && input[flag] !== undefined) changes[flag] = input[flag]
    }
    for (const [key, value] of Object.entries(input)) {
      if (!NOT_WRITABLE.has(key) && value !== undefined) changes[key] = value
    }
    if (this.userValidator) {
      const { hashed_password: _, ...current } = user
      const email = input.email === undefined ? {} : { email: canonicalEmail(input.email) }
      const merged = { ...current, ...changes, ...email } as Pick<U, 'email'> & Partial<U>
      await this.userValidator(merged, { operation: 'update', changes: { ...changes, ...email }, current: user })
    }
    if (typeof input.password === 'string') {
      await this.validatePassword(input.password, user, 'UPDATE_USER')
      changes.hashed_password = await this.passwords.hash(input.password)
    }

    // emailChange 'confirm': the user's own new address is only asked for here (confirmEmailChange moves it)
    const pending = await this.pendingEmail(user, input.email, options)
    const newEmail = pending === undefined ? input.email : undefined

    const revokes = changes.hashed_password !== undefined || (user.is_active && changes.is_active === false)
    // Sessions are ended before the change is stored: if a session store is down (503), nothing changed.
    if (revokes) await this.revokeSessions(user)
    const { updated, previousEmail } = await this.storeUpdate(user, newEmail, changes)
    const result = updated ?? user
    if (revokes) {
      const reason = changes.hashed_password !== undefined ? 'password_changed' : 'deactivated'
      await this.revokeSessions(result, { reason, ctx: options.ctx }) // and any session opened meanwhile
    }
    const reported = reportedChanges(input, options.safe !== false)
    if (pending !== undefined) delete reported.email
    const changedEmail = newEmail !== undefined && updated && previousEmail !== updated.email
    const ctx = { ...options.ctx, ...(changedEmail ? { previousEmail } : {}) }
    await this.after('onAfterUpdate', () => this.hooks.onAfterUpdate?.(result, reported, ctx), options.ctx)
    if (pending !== undefined && updated) {
      await this.requestEmailChange(updated, pending, options.ctx)
      this.emit({ type: 'email_change.requested', outcome: 'success', user_id: String(updated.id) }, options.ctx)
    }
    return result
  }

  /**
   * In `confirm` mode, the new address of a safe update that is not the user's own, checked free
   * (fastapi-users' duplicate check, up front); undefined where the update writes its address itself.
   */
  private async pendingEmail(user: U, email: string | undefined, options: WriteOptions): Promise<string | undefined> {
    if (this.emailChange !== 'confirm' || options.safe === false || email === undefined) return undefined
    const wanted = canonicalEmail(email)
    if (wanted === user.email) return undefined
    if (await this.store.getByEmail(wanted)) throw new EmailAlreadyExists()
    return wanted
  }

  /**
   * Issues an e-mail change token for `newEmail` through `onAfterRequestEmailChange` (`update` does,
   * in `confirm` mode). The token names the user, the new address and a fingerprint of the current
   * address and password hash: it dies once either changes, its own confirmation included.
   */
  async requestEmailChange(user: U, newEmail: string, ctx: HookContext = {}): Promise<void> {
    const settings = this.emailChangeToken
    const token = await signJwt(
      {
        sub: String(user.id),
        new_email: canonicalEmail(newEmail),
        fgpt: emailChangeFingerprint(user.email, user.hashed_password, settings.secret),
        aud: settings.audience,
      },
      { secret: settings.secret, algorithm: settings.algorithm },
      settings.lifetimeSeconds,
      this.clock,
    )
    await this.after(
      'onAfterRequestEmailChange',
      () => this.hooks.onAfterRequestEmailChange?.(user, canonicalEmail(newEmail), token, ctx),
      ctx,
    )
  }

  /**
   * Moves the user an e-mail change token names to its new address, verified, once: the address
   * must still be free (`EmailAlreadyExists` otherwise), the user active, and its address and
   * password those the token was issued for. Every session and refresh token of the user ends (the
   * link proves a mailbox, not a session); `onAfterUpdate` runs with `previousEmail`, to tell the old address.
   */
  async confirmEmailChange(token: string, ctx: HookContext = {}): Promise<U> {
    const settings = this.emailChangeToken
    const claims = await verifyJwt(token, settings, settings.audience, this.clock)
    const { new_email: wanted, fgpt } = claims ?? {}
    if (typeof wanted !== 'string' || typeof fgpt !== 'string' || claims?.sub === undefined)
      throw new InvalidEmailChangeToken()
    const user = await this.get(String(claims.sub))
    if (!user?.is_active || !emailChangeFingerprintMatches(fgpt, user.email, user.hashed_password, settings.secret))
      throw new InvalidEmailChangeToken()
    const email = canonicalEmail(wanted)
    const holder = await this.store.getByEmail(email)
    if (holder) throw holder.id === user.id ? new InvalidEmailChangeToken() : new EmailAlreadyExists()
    const changes = { email, is_verified: true }
    if (this.userValidator) {
      const { hashed_password: _, ...current } = user
      const merged = { ...current, ...changes } as Pick<U, 'email'> & Partial<U>
      await this.userValidator(merged, { operation: 'update', changes, current: user })
    }

    await this.revokeSessions(user) // before the write: if a session store is down (503), nothing changed
    let updated: U | null
    try {
      // Compare-and-set on what the token was checked against: of two confirmations racing, one wins.
      updated = await this.store.update(user, changes as UserChanges<U>, {
        ifStill: { email: user.email } as UserChanges<U>,
        ifPasswordIs: user.hashed_password,
      })
    } catch (error) {
      if (error instanceof DuplicateEmail) throw new EmailAlreadyExists()
      throw error
    }
    if (!updated) throw new InvalidEmailChangeToken()
    const result = updated
    await this.revokeSessions(result, { reason: 'email_changed', ctx }) // and any session opened meanwhile
    const after = { ...ctx, previousEmail: user.email }
    await this.after('onAfterUpdate', () => this.hooks.onAfterUpdate?.(result, { email }, after), ctx)
    return result
  }

  /**
   * Writes `changes` and the e-mail rule's outcome. Whether the e-mail changes (and un-verifies) is
   * judged against the address read, and written only while the row still has it: if the address
   * moved meanwhile, the row is read again and judged again, so the outcome is that of some serial order.
   * Null when the user was deleted meanwhile.
   */
  private async storeUpdate(
    user: U,
    newEmail: string | undefined,
    changes: Record<string, unknown>,
  ): Promise<{ updated: U | null; previousEmail: string | undefined }> {
    let current: U | null = user
    for (let attempt = 0; current && attempt < MAX_ATTEMPTS; attempt++) {
      let emailChanges: Record<string, unknown> = {}
      if (newEmail !== undefined) {
        const email = canonicalEmail(newEmail)
        if (email !== current.email && (await this.store.getByEmail(email))) throw new EmailAlreadyExists()
        // The same address is written back too, so that the condition below is always checked.
        emailChanges = email === current.email ? { email } : { email, is_verified: false }
      }
      await checkIdentifiersFree(this.store, this.store.loginIdentifiers ?? [], changes, 'UPDATE_USER', current)
      let updated: U | null
      try {
        updated = await this.store.update(
          current,
          { ...emailChanges, ...changes } as UserChanges<U>,
          newEmail === undefined ? {} : { ifStill: { email: current.email } as UserChanges<U> },
        )
      } catch (error) {
        if (error instanceof DuplicateEmail) throw new EmailAlreadyExists()
        if (error instanceof DuplicateIdentifier) throw new IdentifierAlreadyExists(error.field, 'UPDATE_USER')
        throw error
      }
      // the address the row had when the write went through
      if (updated || newEmail === undefined) return { updated, previousEmail: current.email }
      current = await this.store.get(user.id)
    }
    if (!current) return { updated: null, previousEmail: undefined }
    throw new ServiceUnavailable('the user kept changing during the update')
  }

  /**
   * `onBeforeDelete` may veto (throw; `DeleteRefused(code)` answers 400 with its code). Then every
   * stored session and refresh token is ended (Redis keys too, which no foreign key cascades) before
   * the row goes: if a session store is down (503), nothing is deleted. The database's rows of the
   * user (sessions, refresh tokens, OAuth links) go with it by their foreign keys' cascades.
   */
  async delete(user: U, ctx: HookContext = {}): Promise<void> {
    await this.hooks.onBeforeDelete?.(user, ctx)
    await this.revokeSessions(user)
    await this.store.delete(user)
    await this.after('onAfterDelete', () => this.hooks.onAfterDelete?.(user, ctx), ctx)
  }

  /**
   * The user these credentials belong to, or null. The username may name any of `loginIdentifiers`. A missing user costs a dummy verification,
   * so failures take the same time; an outdated hash is upgraded on success.
   */
  async authenticate(credentials: Credentials): Promise<U | null> {
    const { username, password } = credentials
    if (passwordLength(password) > this.maxPasswordLength) {
      await this.passwords.verifyDummy('')
      return null
    }
    const user = await findByLoginName(this.store, this.loginIdentifiers, username.trim())
    if (!user) {
      await this.passwords.verifyDummy(password)
      return null
    }
    const check = await this.passwords.verify(password, user.hashed_password)
    if (!check.valid) return null
    if (!check.upgradedHash) return user
    const upgraded = await this.store.update(user, { hashed_password: check.upgradedHash } as UserChanges<U>, {
      ifPasswordIs: user.hashed_password,
    })
    // Lost the race to a concurrent login's upgrade: the stored hash is that one's.
    return upgraded ?? (await this.store.get(user.id)) ?? user
  }

  /**
   * The name a login's lock-out counts by: with login identifiers besides the e-mail, the address
   * of the account the username names (so that switching between its e-mail and its username, or
   * their spellings, buys no extra attempts), else the username as given. No look-up with the
   * default identifiers.
   */
  async loginAccountName(username: string): Promise<string> {
    if (this.loginIdentifiers.length === 1 && this.loginIdentifiers[0] === 'email') return username
    const user = await findByLoginName(this.store, this.loginIdentifiers, username.trim())
    return user ? user.email : username
  }

  /** The user a login's `username` names (any of `loginIdentifiers`), or null: for the audit of a failed login. */
  getByLoginName(username: string): Promise<U | null> {
    return findByLoginName(this.store, this.loginIdentifiers, username.trim())
  }

  /** Runs the `onBeforeLogin` veto: a `LoginRefused` it throws refuses the login before any token is written. */
  async beforeLogin(user: U, ctx: BeforeLoginContext): Promise<void> {
    await this.hooks.onBeforeLogin?.(user, ctx)
  }

  async onAfterLogin(user: U, ctx: LoginContext): Promise<void> {
    await this.after('onAfterLogin', () => this.hooks.onAfterLogin?.(user, ctx), ctx)
  }

  /**
   * fastapi-users' `oauth_callback`: the user a social login signs in (found by its link, linked by
   * e-mail, or created). Override it in a subclass, or wrap it with the `oauthCallback` option.
   */
  oauthCallback(input: OAuthCallbackInput): Promise<U> {
    const run = (i: OAuthCallbackInput) => resolveOAuthUser(this, i.accounts, i.oauthName, i.identity, i.options)
    const wrapper = this.oauthCallbacks.oauthCallback
    return wrapper ? wrapper(input, run) : run(input)
  }

  /**
   * fastapi-users' `oauth_associate_callback`: links a provider account to the signed-in user.
   * Override it in a subclass, or wrap it with the `oauthAssociateCallback` option.
   */
  oauthAssociateCallback(input: OAuthAssociateInput<U>): Promise<OAuthAccount> {
    const run = (i: OAuthAssociateInput<U>) => associateOAuthAccount(i.user, i.accounts, i.oauthName, i.identity)
    const wrapper = this.oauthCallbacks.oauthAssociateCallback
    return wrapper ? wrapper(input, run) : run(input)
  }

  /** Issues a reset token through `onAfterForgotPassword`; inactive users get nothing. */
  async forgotPassword(user: U, ctx: HookContext = {}): Promise<void> {
    if (!user.is_active) return
    const token = await signJwt(
      {
        sub: String(user.id),
        password_fgpt: passwordFingerprint(user.hashed_password, this.reset.secret),
        aud: this.reset.audience,
      },
      { secret: this.reset.secret, algorithm: this.reset.algorithm },
      this.reset.lifetimeSeconds,
      this.clock,
    )
    await this.after('onAfterForgotPassword', () => this.hooks.onAfterForgotPassword?.(user, token, ctx), ctx)
  }

  async resetPassword(token: string, password: string, ctx: HookContext = {}): Promise<U> {
    const claims = await verifyJwt(token, this.reset, this.reset.audience, this.clock)
    const fingerprint = claims?.password_fgpt
    const user = typeof fingerprint === 'string' ? await this.get(String(claims?.sub)) : null
    if (!user || typeof fingerprint !== 'string') throw new InvalidResetPasswordToken()
    if (!(await this.fingerprintMatches(fingerprint, user.hashed_password))) throw new InvalidResetPasswordToken()
    if (!user.is_active) throw new InvalidResetPasswordToken()

    await this.validatePassword(password, user, 'RESET_PASSWORD')
    const hashed = await this.passwords.hash(password)
    await this.revokeSessions(user)
    // Before the write: a failure here leaves the password as it was, never a proof without its effects.
    if (!user.is_verified) await this.mailboxProven(user, ctx)
    // Compare-and-set on the old hash: of two resets racing with one token, only one wins.
    const updated = await this.store.update(user, { hashed_password: hashed } as UserChanges<U>, {
      ifPasswordIs: user.hashed_password,
    })
    if (!updated) throw new InvalidResetPasswordToken()
    await this.revokeSessions(updated, { reason: 'password_reset', ctx }) // and any session opened meanwhile
    await this.after('onAfterResetPassword', () => this.hooks.onAfterResetPassword?.(updated, ctx), ctx)
    return updated
  }

  /** Issues a verification token through `onAfterRequestVerify`; inactive or verified users get nothing. */
  async requestVerify(user: U, ctx: HookContext = {}): Promise<void> {
    if (!user.is_active || user.is_verified) return
    const token = await signJwt(
      { sub: String(user.id), email: user.email, aud: this.verification.audience },
      { secret: this.verification.secret, algorithm: this.verification.algorithm },
      this.verification.lifetimeSeconds,
      this.clock,
    )
    await this.after('onAfterRequestVerify', () => this.hooks.onAfterRequestVerify?.(user, token, ctx), ctx)
  }

  /** fastapi-users' order: token, e-mail still the user's, id matches, not yet verified. */
  async verify(token: string, ctx: HookContext = {}): Promise<U> {
    const claims = await verifyJwt(token, this.verification, this.verification.audience, this.clock)
    if (!claims || typeof claims.email !== 'string' || claims.sub === undefined) throw new InvalidVerifyToken()
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const user = await this.store.getByEmail(claims.email)
      if (!user || this.parseId(String(claims.sub)) !== user.id) throw new InvalidVerifyToken()
      if (user.is_verified) throw new UserAlreadyVerified()
      // Before the write: a failure here leaves the user unverified, to verify again, never verified with the links kept.
      await this.mailboxProven(user, ctx)
      // Compare-and-set on what was just checked: a verification that lost a race with another one or
      // with an e-mail change writes nothing and is judged again (already verified, or a dead token).
      const verified = await this.store.update(user, { is_verified: true } as UserChanges<U>, {
        ifStill: { email: user.email, is_verified: false } as UserChanges<U>,
      })
      if (!verified) continue
      await this.after('onAfterVerify', () => this.hooks.onAfterVerify?.(verified, ctx), ctx)
      return verified
    }
    throw new ServiceUnavailable('the user kept changing during the verification')
  }

  private async fingerprintMatches(fingerprint: string, hashedPassword: string): Promise<boolean> {
    const ours = fingerprintMatches(fingerprint, hashedPassword, this.reset.secret)
    if (ours !== 'legacy') return ours
    // A token fastapi-users issued: its fingerprint is a passlib hash of the stored hash.
    return this.passwords.matches(hashedPassword, fingerprint)
  }

  private async after(hook: string, run: () => unknown, ctx?: HookContext): Promise<void> {
    try {
      await run()
    } catch (err) {
      ;(ctx?.logger ?? this.logger)?.error({ err, hook }, 'user manager hook failed; the change it follows is kept')
    }
  }
}

const HMAC_ALGORITHMS: readonly string[] = ['HS256', 'HS384', 'HS512']

function tokenSettings(
  secret: string,
  audience: string,
  settings: Partial<TokenSettings> = {},
): Required<TokenSettings> {
  const algorithm = settings.algorithm ?? 'HS256'
  if (!HMAC_ALGORITHMS.includes(algorithm))
    throw new TypeError(`UserManager: token algorithm must be one of ${HMAC_ALGORITHMS.join(', ')}`)
  if (settings.audience !== undefined && (typeof settings.audience !== 'string' || settings.audience === ''))
    throw new TypeError('UserManager: a token audience must be a non-empty string')
  return {
    secret: settings.secret ?? secret,
    lifetimeSeconds: settings.lifetimeSeconds ?? DEFAULT_LIFETIME,
    audience: settings.audience ?? audience,
    algorithm,
  }
}

function canonicalEmail(email: string): string {
  const result = normalizeEmail(email)
  if (!result.ok) throw new TypeError(`invalid e-mail address: ${result.reason}`)
  return result.email
}

/**
 * What the client asked to change, as fastapi-users passes it to on_after_update, except that a
 * new password is reported as `password: true`: hooks log their arguments, and a password must never be logged.
 */
function reportedChanges(input: Record<string, unknown>, safe: boolean): Record<string, unknown> {
  const changes: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || key === 'id') continue
    if (safe && (FLAGS as readonly string[]).includes(key)) continue
    changes[key] = key === 'password' ? typeof value === 'string' : value
  }
  return changes
}
