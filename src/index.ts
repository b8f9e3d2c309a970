/** fastify-users: the public API. Everything not exported here is internal. */

export { type EmailResult, normalizeEmail } from './core/email.js'
export * from './core/errors.js'
export type { HookContext, LoginContext, PasswordValidator, UpdateContext, UserManagerHooks } from './core/hooks.js'
export { parseUuid } from './core/ids.js'
export {
  type CreateInput,
  type Credentials,
  type UpdateInput,
  UserManager,
  type UserManagerOptions,
} from './core/manager.js'
export {
  associateOAuthAccount,
  type OAuthAccount,
  type OAuthAccountData,
  type OAuthAccountStore,
  type OAuthIdentity,
  type OAuthResolveOptions,
  resolveOAuthUser,
} from './core/oauth.js'
export {
  type Argon2Params,
  createPasswordHasher,
  MAX_PASSWORD_LENGTH,
  OWASP_ARGON2ID,
  type PasswordHasher,
} from './core/passwords.js'
export { DuplicateEmail, type NewUser, type UpdateConditions, type UserChanges, type UserStore } from './core/store.js'
export { AUDIENCE, type Clock, signJwt, verifyJwt } from './core/tokens.js'
export type { BaseUser, ColumnType, FieldSpec, UserCreateOf, UserFields, UserOf, UserUpdateOf } from './core/user.js'
export { defineUserFields, PROTECTED_FIELDS } from './core/user.js'
export { type AuthenticationBackend, authenticationBackend } from './fastify/backend.js'
export { fastapiCompat } from './fastify/compat.js'
export type { CurrentUserOptions } from './fastify/current-user.js'
export { fastapiErrorHandler, HttpError } from './fastify/errors.js'
export { type HealthRoutesOptions, healthRoutes } from './fastify/health.js'
export { type OpenApiOptions, registerOpenApi } from './fastify/openapi.js'
export { FastifyUsers, type FastifyUsersOptions } from './fastify/plugin.js'
export {
  type AccountAction,
  AuthRateLimiter,
  accountKey,
  clientKey,
  DEFAULT_RATE_LIMITS,
  type LoginAttempt,
  type LoginLockout,
  type RateLimitedAction,
  type RateLimitOptions,
  type RateLimitStore,
  type RateLimits,
  type RateWindow,
} from './fastify/rate-limit.js'
export {
  OAuth2AuthorizeResponse,
  type OAuthFlowOptions,
  type OAuthRouterOptions,
} from './fastify/routers/oauth.js'
export { EmailString, nullable, type UserSchemas, userSchemas } from './fastify/schemas.js'
export type { Register, RegisteredUser } from './fastify/types.js'
export { hookContext } from './fastify/types.js'
export { backgroundMailer, logDelivery, type MailDelivery, type MailMessage, smtpDelivery } from './mail/delivery.js'
export {
  emailChangedMail,
  type MailContent,
  type MailUser,
  passwordChangedMail,
  resetPasswordMail,
  verifyMail,
  welcomeMail,
} from './mail/templates.js'
export {
  type AuthorizationRequest,
  type CallbackRequest,
  type GitHubClientOptions,
  type GoogleClientOptions,
  githubClient,
  googleClient,
  type OAuthClient,
  type OidcClientOptions,
  oidcClient,
} from './oauth/clients.js'
export {
  checkFlow,
  memoryStateStore,
  OAUTH_CSRF_COOKIE,
  OAUTH_STATE_AUDIENCE,
  type OAuthStateStore,
  startFlow,
} from './oauth/state.js'
export {
  type HostedPagesOptions,
  hostedPages,
  type PageField,
  type PageStrings,
  type PageStringsOverride,
  type PagesApi,
  type PasswordRule,
  pageStrings,
  redactTokenQuery,
} from './pages/index.js'
export {
  type AccessTokenRow,
  type AccessTokenStore,
  createKyselyAccessTokenStore,
} from './stores/kysely/access-token-store.js'
export {
  type Capabilities,
  type Database,
  type DatabaseOptions,
  openDatabase,
  pingDatabase,
} from './stores/kysely/database.js'
export {
  type DoctorReport,
  type Finding,
  formatDoctorReport,
  type InspectOptions,
  inspectDatabase,
  openDatabaseReadOnly,
} from './stores/kysely/doctor.js'
export { type MigrateOptions, MigrationFailed, type MigrationReport, migrateToLatest } from './stores/kysely/migrate.js'
export { MigrationLockTimeout, withMigrationLock } from './stores/kysely/migration-lock.js'
export { createKyselyOAuthAccountStore } from './stores/kysely/oauth-account-store.js'
export {
  createKyselyRefreshTokenStore,
  type RefreshTokenRow,
  type RefreshTokenStore,
} from './stores/kysely/refresh-token-store.js'
export { createKyselyUserStore } from './stores/kysely/user-store.js'
export { DatabaseStrategy, type DatabaseStrategyOptions } from './strategies/database.js'
export {
  type AsymmetricAlgorithm,
  type HmacAlgorithm,
  JWTStrategy,
  type JWTStrategyOptions,
  type SigningKey,
} from './strategies/jwt.js'
export { RedisStrategy, type RedisStrategyOptions } from './strategies/redis.js'
export { RefreshTokens, type RefreshTokensOptions } from './strategies/refresh.js'
export type { Session, Strategy } from './strategies/strategy.js'
export { BearerTransport } from './transports/bearer.js'
export { CookieTransport, type CookieTransportOptions } from './transports/cookie.js'
export type { LoginExtras, Transport, TransportDocs } from './transports/transport.js'
