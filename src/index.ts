/** fastify-users: the public API. Everything not exported here is internal. */

export { type EmailResult, normalizeEmail } from './core/email'
export * from './core/errors'
export type { HookContext, LoginContext, PasswordValidator, UpdateContext, UserManagerHooks } from './core/hooks'
export { parseUuid } from './core/ids'
export {
  type CreateInput,
  type Credentials,
  type UpdateInput,
  UserManager,
  type UserManagerOptions,
} from './core/manager'
export {
  associateOAuthAccount,
  type OAuthAccount,
  type OAuthAccountData,
  type OAuthAccountStore,
  type OAuthIdentity,
  type OAuthResolveOptions,
  resolveOAuthUser,
} from './core/oauth'
export {
  type Argon2Params,
  createPasswordHasher,
  MAX_PASSWORD_LENGTH,
  OWASP_ARGON2ID,
  type PasswordHasher,
} from './core/passwords'
export { DuplicateEmail, type NewUser, type UpdateConditions, type UserChanges, type UserStore } from './core/store'
export { AUDIENCE, type Clock, signJwt, verifyJwt } from './core/tokens'
export type { BaseUser, ColumnType, FieldSpec, UserCreateOf, UserFields, UserOf, UserUpdateOf } from './core/user'
export { defineUserFields, PROTECTED_FIELDS } from './core/user'
export { type AuthenticationBackend, authenticationBackend } from './fastify/backend'
export { fastapiCompat } from './fastify/compat'
export type { CurrentUserOptions } from './fastify/current-user'
export { fastapiErrorHandler, HttpError } from './fastify/errors'
export { type HealthRoutesOptions, healthRoutes } from './fastify/health'
export { type OpenApiOptions, registerOpenApi } from './fastify/openapi'
export { FastifyUsers, type FastifyUsersOptions } from './fastify/plugin'
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
} from './fastify/rate-limit'
export {
  OAuth2AuthorizeResponse,
  type OAuthFlowOptions,
  type OAuthRouterOptions,
} from './fastify/routers/oauth'
export { EmailString, nullable, type UserSchemas, userSchemas } from './fastify/schemas'
export type { Register, RegisteredUser } from './fastify/types'
export { hookContext } from './fastify/types'
export { backgroundMailer, logDelivery, type MailDelivery, type MailMessage, smtpDelivery } from './mail/delivery'
export {
  emailChangedMail,
  type MailContent,
  type MailUser,
  passwordChangedMail,
  resetPasswordMail,
  verifyMail,
  welcomeMail,
} from './mail/templates'
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
} from './oauth/clients'
export {
  checkFlow,
  memoryStateStore,
  OAUTH_CSRF_COOKIE,
  OAUTH_STATE_AUDIENCE,
  type OAuthStateStore,
  startFlow,
} from './oauth/state'
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
} from './pages'
export {
  type AccessTokenRow,
  type AccessTokenStore,
  createKyselyAccessTokenStore,
} from './stores/kysely/access-token-store'
export {
  type Capabilities,
  type Database,
  type DatabaseOptions,
  openDatabase,
  pingDatabase,
} from './stores/kysely/database'
export {
  type DoctorReport,
  type Finding,
  formatDoctorReport,
  type InspectOptions,
  inspectDatabase,
  openDatabaseReadOnly,
} from './stores/kysely/doctor'
export { type MigrateOptions, MigrationFailed, type MigrationReport, migrateToLatest } from './stores/kysely/migrate'
export { createKyselyOAuthAccountStore } from './stores/kysely/oauth-account-store'
export {
  createKyselyRefreshTokenStore,
  type RefreshTokenRow,
  type RefreshTokenStore,
} from './stores/kysely/refresh-token-store'
export { createKyselyUserStore } from './stores/kysely/user-store'
export { DatabaseStrategy, type DatabaseStrategyOptions } from './strategies/database'
export {
  type AsymmetricAlgorithm,
  type HmacAlgorithm,
  JWTStrategy,
  type JWTStrategyOptions,
  type SigningKey,
} from './strategies/jwt'
export { RedisStrategy, type RedisStrategyOptions } from './strategies/redis'
export { RefreshTokens, type RefreshTokensOptions } from './strategies/refresh'
export type { Session, Strategy } from './strategies/strategy'
export { BearerTransport } from './transports/bearer'
export { CookieTransport, type CookieTransportOptions } from './transports/cookie'
export type { LoginExtras, Transport, TransportDocs } from './transports/transport'
