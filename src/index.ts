/**
 * `fastify-users`: the core (users, passwords, tokens, hooks) and the Fastify plugin (routers,
 * `currentUser`, transports, strategies). Databases, Redis, OAuth, hosted pages and mail have
 * entries of their own (`fastify-users/kysely`, `/redis`, `/oauth`, `/pages`, `/mail`), so an app
 * loads and installs only what it uses. Everything not exported from an entry is internal.
 */

export { type CliConfig, type CliConfigExport, defineCliConfig } from './cli/config.js'
export {
  AUDIT_EMAIL_MAX,
  AUDIT_USER_AGENT_MAX,
  AUTH_EVENT_TYPES,
  type AuditListener,
  AuditLog,
  type AuditLogOptions,
  type AuditQuery,
  type AuditReader,
  type AuditSink,
  type AuthEvent,
  type AuthEventInput,
  type AuthEventOutcome,
  type AuthEventType,
  functionAuditSink,
  logAuditSink,
  multiAuditSink,
  type StoredAuthEvent,
} from './core/audit.js'
export { type AuditRetentionOptions, startAuditRetention } from './core/audit-retention.js'
export { EMAIL_CHANGE_AUDIENCE, EMAIL_CHANGE_MODES, type EmailChangeMode } from './core/email-change.js'
export * from './core/errors.js'
export type {
  BeforeLoginContext,
  HookContext,
  LoginContext,
  PasswordValidator,
  UpdateContext,
  UserManagerHooks,
  UserValidationContext,
  UserValidator,
} from './core/hooks.js'
export {
  DEFAULT_LOGIN_IDENTIFIERS,
  IdentifierAlreadyExists,
  type IdentifierContext,
  identifierKey,
  loginNameKey,
} from './core/identifiers.js'
export { type IdOf, parseIntegerId, parseUuid, type UserId, type UserIdType } from './core/ids.js'
export {
  type CreateInput,
  type ManagerEventListener,
  type SessionEndReason,
  type TokenSettings,
  type UpdateInput,
  UserManager,
  type UserManagerOptions,
} from './core/manager.js'
export {
  type Argon2Params,
  createPasswordHasher,
  DEFAULT_BCRYPT_ROUNDS,
  type HasherOptions,
  type HashQueueStats,
  MAX_PASSWORD_LENGTH,
  OWASP_ARGON2ID,
  type PasswordAlgorithm,
  type PasswordHasher,
} from './core/passwords.js'
export {
  type LoginCheck,
  type LoginDecision,
  LoginPipeline,
  type LoginTicket,
  type LoginTicketStore,
  RECOVERY_CODE,
  type RecoveryCodeStore,
  type SecondFactor,
  type SecondFactorStores,
  type StepUpStore,
} from './core/second-factor.js'
export {
  DuplicateEmail,
  DuplicateIdentifier,
  type NewUser,
  type UpdateConditions,
  type UserChanges,
  type UserListQuery,
  type UserOrder,
  type UserPage,
  type UserStore,
} from './core/store.js'
export type {
  BaseUser,
  ColumnType,
  FieldRead,
  FieldSpec,
  FieldWrite,
  UserCreateOf,
  UserFields,
  UserOf,
  UserReadOf,
  UserUpdateAdminOf,
  UserUpdateOf,
} from './core/user.js'
export { defineUserFields } from './core/user.js'
export {
  PasskeyAlreadyRegistered,
  PasskeyChallengeExpired,
  PasskeyInvalid,
} from './factors/passkeys/errors.js'
export type { PasskeyHooks, Passkeys, PasskeysOptions } from './factors/passkeys/passkeys.js'
export type { PasskeyRouterOptions } from './factors/passkeys/routes.js'
export type { ChallengePurpose, ChallengeRow, PasskeyRow, PasskeyStore } from './factors/passkeys/store.js'
export { TotpFactor, type TotpOptions } from './factors/totp/factor.js'
export type { TotpRow, TotpStore } from './factors/totp/store.js'
export { base32Decode, base32Encode, hotp, otpauthUrl, timeStep, totp } from './factors/totp/totp.js'
export { type AuthenticationBackend, authenticationBackend } from './fastify/backend.js'
export { fastapiCompat } from './fastify/compat.js'
export { type ConfirmIdentity, passwordConfirmation } from './fastify/confirm-identity.js'
export type { CurrentUserOptions } from './fastify/current-user.js'
export { HttpError } from './fastify/errors.js'
export { type HealthRoutesOptions, healthRoutes } from './fastify/health.js'
export { requestLocale } from './fastify/locale.js'
export type { ReadOAuthAccountsOptions } from './fastify/oauth-accounts-read.js'
export { type OpenApiOptions, registerOpenApi } from './fastify/openapi.js'
export { FastifyUsers, type FastifyUsersOptions } from './fastify/plugin.js'
export {
  AuthRateLimiter,
  accountKey,
  clientKey,
  DEFAULT_RATE_LIMITS,
  type DeviceCookieOptions,
  type LockoutListener,
  type RateLimitOptions,
  type RateLimitStore,
  type RateLimits,
  type RateWindow,
} from './fastify/rate-limit.js'
export type { AuditRouterOptions } from './fastify/routers/audit.js'
export { DELETE_USER_INVALID_PASSWORD, type SelfDeleteOptions } from './fastify/routers/delete-me.js'
export { EmailString, nullable, type UserSchemas } from './fastify/schemas.js'
export { type FactorChange, type SecondFactorOptions, SecondFactors } from './fastify/second-factor.js'
export type { CurrentToken, Register, RegisteredUser } from './fastify/types.js'
export { BUILT_IN_LOCALES, type Messages } from './i18n/catalogue.js'
export {
  LOCALE_COOKIE,
  type LocaleSources,
  matchLocale,
  negotiateLocale,
  parseAcceptLanguage,
} from './i18n/negotiate.js'
export type { AccessTokenRow, AccessTokenStore } from './stores/kysely/access-token-store.js'
export type { RefreshTokenRow, RefreshTokenStore } from './stores/kysely/refresh-token-store.js'
export { DatabaseStrategy, type DatabaseStrategyOptions } from './strategies/database.js'
export {
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlgorithm,
  type HmacAlgorithm,
  JWTStrategy,
  type JWTStrategyOptions,
  type SigningKey,
} from './strategies/jwt.js'
export { familySessionId, RefreshTokens, type RefreshTokensOptions } from './strategies/refresh.js'
export { SessionLimit, type SessionSource } from './strategies/session-usage.js'
export type { Session, SessionContext, Strategy } from './strategies/strategy.js'
export { BearerTransport } from './transports/bearer.js'
export { CookieTransport, type CookieTransportOptions } from './transports/cookie.js'
export type { LoginExtras, Transport, TransportDocs } from './transports/transport.js'
