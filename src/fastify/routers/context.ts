import type { preValidationAsyncHookHandler } from 'fastify'
import type { UserManager } from '../../core/manager'
import type { OAuthAccountStore } from '../../core/oauth'
import type { BaseUser } from '../../core/user'
import type { AuthenticationBackend } from '../backend'
import type { CurrentUserOptions } from '../current-user'
import type { AuthRateLimiter } from '../rate-limit'
import type { UserSchemas } from '../schemas'

/** What the routers need from FastifyUsers. */
export interface RouterContext<U extends BaseUser> {
  manager: UserManager<U>
  backends: AuthenticationBackend<U>[]
  schemas: UserSchemas
  currentUser(options?: CurrentUserOptions): preValidationAsyncHookHandler
  /** OpenAPI security requirement listing every backend's scheme. */
  security: Record<string, string[]>[]
  /** Where the OAuth routers keep provider accounts. */
  oauthAccounts?: OAuthAccountStore
  /** Rate limits and login lock-out, when enabled. */
  rateLimits?: AuthRateLimiter
}
