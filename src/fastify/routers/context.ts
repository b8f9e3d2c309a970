import type { preValidationAsyncHookHandler } from 'fastify'
import type { AuditLog } from '../../core/audit.js'
import type { UserManager } from '../../core/manager.js'
import type { OAuthAccountStore } from '../../core/oauth.js'
import type { BaseUser, UserFields } from '../../core/user.js'
import type { OAuthStateStore } from '../../oauth/state.js'
import type { AuthenticationBackend } from '../backend.js'
import type { CurrentUserOptions } from '../current-user.js'
import type { AuthRateLimiter } from '../rate-limit.js'
import type { UserSchemas } from '../schemas.js'
import type { SecondFactors } from '../second-factor.js'

/** What the routers need from FastifyUsers. */
export interface RouterContext<U extends BaseUser> {
  manager: UserManager<U>
  backends: AuthenticationBackend<U>[]
  schemas: UserSchemas
  /** The app's custom fields: what each route lets clients write. */
  fields: UserFields
  currentUser(options?: CurrentUserOptions<U>): preValidationAsyncHookHandler
  /** OpenAPI security requirement listing every backend's scheme. */
  security: Record<string, string[]>[]
  /** Where the OAuth routers keep provider accounts. */
  oauthAccounts?: OAuthAccountStore
  /** Where the OAuth routers record consumed states. */
  oauthStates?: OAuthStateStore
  /** Rate limits and login lock-out, when enabled. */
  rateLimits?: AuthRateLimiter
  /** The login pipeline, second factors and step-up. */
  secondFactors?: SecondFactors<U>
  /** The audit log, when the app keeps one: routes record their events here (see ../audit.ts). */
  audit?: AuditLog
}
