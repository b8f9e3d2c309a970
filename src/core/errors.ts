/**
 * Errors a client can act on. Each carries the wire code fastapi-users uses;
 * only `fastify/errors.ts` knows how a code becomes a status and a body.
 */
export abstract class AuthError extends Error {
  abstract readonly code: string
  override get name(): string {
    return this.constructor.name
  }
}

export class UserAlreadyExists extends AuthError {
  readonly code = 'REGISTER_USER_ALREADY_EXISTS'
}

export class BadCredentials extends AuthError {
  readonly code = 'LOGIN_BAD_CREDENTIALS'
}

export class UserNotVerified extends AuthError {
  readonly code = 'LOGIN_USER_NOT_VERIFIED'
}

/**
 * Thrown by the `onBeforeLogin` hook to refuse a sign-in whose password (or provider) checked out:
 * the login answers 400 `{"detail": code}` and no token, cookie or session is written.
 * `new LoginRefused('LOGIN_ACCOUNT_SUSPENDED')`; the code is a word of capitals, digits and `_`.
 */
export class LoginRefused extends AuthError {
  readonly code: string
  constructor(code = 'LOGIN_REFUSED') {
    if (!/^[A-Z][A-Z0-9_]{0,99}$/.test(code))
      throw new TypeError(`LoginRefused: "${code}" is not a code like LOGIN_REFUSED`)
    super(code)
    this.code = code
  }
}

/**
 * Thrown by the `onBeforeDelete` hook to refuse a deletion (the user's own `DELETE /users/me`, or a
 * superuser's `DELETE /users/{id}`): the route answers 400 `{"detail": code}` and nothing is deleted
 * or ended. `new DeleteRefused('DELETE_USER_HAS_OPEN_INVOICES')`; the code is a word of capitals, digits and `_`.
 */
export class DeleteRefused extends AuthError {
  readonly code: string
  constructor(code = 'DELETE_USER_REFUSED') {
    if (!/^[A-Z][A-Z0-9_]{0,99}$/.test(code))
      throw new TypeError(`DeleteRefused: "${code}" is not a code like DELETE_USER_REFUSED`)
    super(code)
    this.code = code
  }
}

export class InvalidResetPasswordToken extends AuthError {
  readonly code = 'RESET_PASSWORD_BAD_TOKEN'
}

export class InvalidVerifyToken extends AuthError {
  readonly code = 'VERIFY_USER_BAD_TOKEN'
}

export class UserAlreadyVerified extends AuthError {
  readonly code = 'VERIFY_USER_ALREADY_VERIFIED'
}

export class EmailAlreadyExists extends AuthError {
  readonly code = 'UPDATE_USER_EMAIL_ALREADY_EXISTS'
}

/** Where a password was refused decides its wire code, as in fastapi-users. */
export type PasswordContext = 'REGISTER' | 'RESET_PASSWORD' | 'UPDATE_USER'

/**
 * Thrown by `validatePassword` (yours or the built-in bound) with a reason for humans.
 * The manager fills in `context` so the body reads `{"code":"<CONTEXT>_INVALID_PASSWORD","reason":…}`.
 */
export class InvalidPasswordError extends AuthError {
  context: PasswordContext = 'REGISTER'
  constructor(readonly reason: string) {
    super(reason)
  }
  get code(): string {
    return `${this.context}_INVALID_PASSWORD`
  }
}

/** A store or cache could not be reached: the request may succeed later (503). */
export class ServiceUnavailable extends Error {
  readonly code = 'SERVICE_UNAVAILABLE'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The provider gave no e-mail address for the account (fastapi-users' OAUTH_NOT_AVAILABLE_EMAIL). */
export class OAuthNotAvailableEmail extends AuthError {
  readonly code = 'OAUTH_NOT_AVAILABLE_EMAIL'
}

/**
 * The provider does not vouch for the address and no user may be created for it (the wire code
 * is fastapi-users' OAUTH_NOT_AVAILABLE_EMAIL: no usable address).
 */
export class OAuthEmailNotVerified extends OAuthNotAvailableEmail {}

/**
 * A local user has the provider's e-mail and may not be linked to it automatically
 * (associate-by-email off, or either side's address not verified): sign in and link explicitly.
 */
export class OAuthUserAlreadyExists extends AuthError {
  readonly code = 'OAUTH_USER_ALREADY_EXISTS'
}

/** The state is missing, forged, expired, replayed, for another provider or user, or its CSRF cookie does not match. */
export class OAuthInvalidState extends AuthError {
  readonly code = 'OAUTH_INVALID_STATE'
}

/** The provider account is already linked to another user (association router). */
export class OAuthAccountAlreadyLinked extends AuthError {
  readonly code = 'OAUTH_ACCOUNT_ALREADY_LINKED'
}

/** The provider refused the authorization (`error=` on the callback) or its answer did not check out. */
export class OAuthProviderError extends AuthError {
  readonly code = 'OAUTH_PROVIDER_ERROR'
}

/**
 * Thrown by the manager's `validateUser` to refuse a user as a whole (pydantic's `model_validator`
 * raising ValueError): the answer is FastAPI's 422, `"msg": "Value error, <message>"` at `["body"]`.
 */
export class InvalidUserError extends Error {
  override get name(): string {
    return 'InvalidUserError'
  }
}

/** An e-mail change token that is forged, expired, already used, or issued before the address or password changed. */
export class InvalidEmailChangeToken extends AuthError {
  readonly code = 'EMAIL_CHANGE_BAD_TOKEN'
}
