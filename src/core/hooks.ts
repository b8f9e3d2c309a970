import type { BaseUser } from './user.js'

/**
 * What the hooks learn about the request that caused them. Framework-neutral here;
 * the Fastify layer adds `request` and `reply` through declaration merging.
 */
export interface HookContext {
  ip?: string
  userAgent?: string
  /**
   * The language the request asked for, among the app's (FastifyUsers' `locales`): its explicit
   * choice (`?lang=`, the `lang` cookie) first, then Accept-Language. Absent when it named none of
   * them, and where no request caused the operation (a CLI): mails then use their default language.
   */
  locale?: string
  /** Where a failing after-hook is reported (the request's logger, with its id); default the manager's. */
  logger?: { error(obj: object, msg?: string): void }
}

export interface LoginContext extends HookContext {
  /** The token (or session id) just issued. */
  token?: string
}

/** onBeforeLogin's context: how the user is signing in, before any token exists. */
export interface BeforeLoginContext extends HookContext {
  /** The backend that will issue the tokens. */
  backend: string
  /** A password login, a social login (with `oauthName`), a refresh token's renewal, or a passkey sign-in. */
  method: 'password' | 'oauth' | 'refresh' | 'passkey'
  oauthName?: string
}

/** onAfterUpdate's context: also the address the user had, when the update changed it (to tell the owner). */
export interface UpdateContext extends HookContext {
  previousEmail?: string
}

type MaybePromise<T> = T | Promise<T>

/** What `validateUser` is asked about: a new user, or an update of a stored one. */
export interface UserValidationContext<U extends BaseUser> {
  operation: 'create' | 'update'
  /** The fields being written (on create, every field given; never the password). */
  changes: Record<string, unknown>
  /** The stored user, on update. */
  current?: U
}

/**
 * Cross-field rules over the whole user, run after each field's own validation (pydantic's
 * `model_validator(mode="after")`): refuse by throwing `InvalidUserError(message)`. On update it sees
 * the stored user with the changes applied, so a rule holds whatever is patched.
 */
export type UserValidator<U extends BaseUser> = (
  user: Readonly<Pick<U, 'email'> & Partial<Omit<U, 'hashed_password'>>>,
  context: UserValidationContext<U>,
) => MaybePromise<void>

/**
 * fastapi-users' `on_after_*` hooks. An after-hook that fails is logged and never undoes
 * the change it follows; `onBeforeLogin` and `onBeforeDelete` may veto by throwing.
 */
export interface UserManagerHooks<U extends BaseUser> {
  onAfterRegister?(user: U, ctx: HookContext): MaybePromise<void>
  onAfterUpdate?(user: U, changes: Record<string, unknown>, ctx: UpdateContext): MaybePromise<void>
  /**
   * A login veto (fastapi-users has only `on_after_login`, which cannot refuse): runs once the
   * password (or the provider, or the refresh token) checked out and before any token is written;
   * throw `LoginRefused(code)` to answer 400 `{"detail": code}` with nothing issued. Any other error
   * fails the request. Also runs on refresh-token renewals, so a refused user cannot renew either.
   */
  onBeforeLogin?(user: U, ctx: BeforeLoginContext): MaybePromise<void>
  onAfterLogin?(user: U, ctx: LoginContext): MaybePromise<void>
  onAfterRequestVerify?(user: U, token: string, ctx: HookContext): MaybePromise<void>
  onAfterVerify?(user: U, ctx: HookContext): MaybePromise<void>
  onAfterForgotPassword?(user: U, token: string, ctx: HookContext): MaybePromise<void>
  /**
   * `emailChange: 'confirm'` only: the user asked to move to `newEmail`; send `token` there (a link to
   * the confirm page). Once confirmed, `onAfterUpdate` runs with the new address and `previousEmail`.
   */
  onAfterRequestEmailChange?(user: U, newEmail: string, token: string, ctx: HookContext): MaybePromise<void>
  onAfterResetPassword?(user: U, ctx: HookContext): MaybePromise<void>
  onBeforeDelete?(user: U, ctx: HookContext): MaybePromise<void>
  onAfterDelete?(user: U, ctx: HookContext): MaybePromise<void>
}

/** Rejects a password by throwing `InvalidPasswordError(reason)`; `user` is the user or the registration data. */
export type PasswordValidator<U extends BaseUser> = (
  password: string,
  user: Pick<U, 'email'> & Partial<U>,
) => MaybePromise<void>
