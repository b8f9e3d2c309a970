import type { FastifyReply, FastifyRequest, preValidationAsyncHookHandler } from 'fastify'
import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import type { AuthenticationBackend } from './backend.js'
import { HttpError } from './errors.js'

export interface CurrentUserOptions<U extends BaseUser = BaseUser> {
  /**
   * fastapi-users' `get_enabled_backends`: the backends that may authenticate this route, chosen per
   * request (e.g. only the cookie backend for the browser's routes). Tried in the app's order; a
   * token of a backend left out authenticates nothing here (401). Default: every backend.
   */
  enabledBackends?: (
    request: FastifyRequest,
  ) => readonly AuthenticationBackend<U>[] | Promise<readonly AuthenticationBackend<U>[]>
  /**
   * fastapi-users' `current_user_token`: also put the token the request authenticated with, and its
   * backend, in `request.currentToken` (null where authentication was optional and failed).
   */
  token?: boolean
  /** Refuse inactive users (401). Default true. */
  active?: boolean
  /** Refuse unverified users (403). */
  verified?: boolean
  /** Refuse non-superusers (403). */
  superuser?: boolean
  /** Never refuse: `request.currentUser` is null instead. */
  optional?: boolean
}

export interface Authentication<U extends BaseUser> {
  user: U
  token: string
  backend: AuthenticationBackend<U>
}

const authentications = new WeakMap<FastifyRequest, Authentication<BaseUser>>()

/** The token and backend that authenticated this request (for logout). */
export function authenticationOf<U extends BaseUser>(request: FastifyRequest): Authentication<U> | undefined {
  return authentications.get(request) as Authentication<U> | undefined
}

/**
 * fastapi-users' `current_user(...)`: tries each backend in order, then applies the checks in
 * its order (inactive → 401; unverified or not superuser → 403). A preValidation hook, so
 * authentication is decided before the body is validated, as in FastAPI.
 */
export function currentUserHook<U extends BaseUser>(
  manager: UserManager<U>,
  backends: AuthenticationBackend<U>[],
  options: CurrentUserOptions<U> = {},
): preValidationAsyncHookHandler {
  const { active = true, verified = false, superuser = false, optional = false, enabledBackends } = options
  return async function currentUser(request: FastifyRequest, _reply: FastifyReply) {
    const tried = enabledBackends ? await enabled(request, backends, enabledBackends) : backends
    const found = await authenticate(request, manager, tried)
    let user: U | null = found?.user ?? null
    let status = 401
    if (user) {
      status = 403
      if (active && !user.is_active) {
        status = 401
        user = null
      } else if ((verified && !user.is_verified) || (superuser && !user.is_superuser)) {
        user = null
      }
    }
    if (!user && !optional) throw new HttpError(status, status === 401 ? 'Unauthorized' : 'Forbidden')
    if (user && found && isUnsafe(request.method) && found.backend.transport.isCrossSite?.(request)) {
      throw csrfFailed()
    }
    request.currentUser = user as FastifyRequest['currentUser']
    // also in `request.user`, unless another plugin (@fastify/jwt) decorated that name for its own use
    if (!request.server.hasRequestDecorator('user')) (request as { user?: unknown }).user = user
    if (user && found) authentications.set(request, found as unknown as Authentication<BaseUser>)
    if (options.token) {
      request.currentToken = user && found ? { token: found.token, backend: found.backend.name } : null
    }
  }
}

/** The app's backends that `enabledBackends` keeps for this request, in the app's order. */
async function enabled<U extends BaseUser>(
  request: FastifyRequest,
  backends: AuthenticationBackend<U>[],
  choose: NonNullable<CurrentUserOptions<U>['enabledBackends']>,
): Promise<AuthenticationBackend<U>[]> {
  const chosen = new Set<unknown>(await choose(request))
  return backends.filter((backend) => chosen.has(backend))
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const isUnsafe = (method: string) => !SAFE_METHODS.has(method)

/** A state-changing request that a cookie authenticated came from another site. */
export const csrfFailed = () => new HttpError(403, 'CSRF_CHECK_FAILED')

/** Whether a state-changing request authenticated by one of these backends may be refused as cross-site. */
export const csrfPossible = (ctx: { backends: readonly { transport: { isCrossSite?: unknown } }[] }) =>
  ctx.backends.some((b) => b.transport.isCrossSite !== undefined)

async function authenticate<U extends BaseUser>(
  request: FastifyRequest,
  manager: UserManager<U>,
  backends: AuthenticationBackend<U>[],
): Promise<Authentication<U> | null> {
  for (const backend of backends) {
    const token = backend.transport.readToken(request)
    if (!token) continue
    const user = await backend.strategy.readToken(token, manager)
    if (user) return { user, token, backend }
  }
  return null
}
