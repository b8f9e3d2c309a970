import cookie from '@fastify/cookie'
import type { FastifyPluginAsync } from 'fastify'
import { BadCredentials, UserNotVerified } from '../../core/errors'
import type { BaseUser } from '../../core/user'
import type { AuthenticationBackend } from '../backend'
import { authenticationOf } from '../current-user'
import { unauthorized } from '../errors'
import { errorResponses, LoginForm } from '../schemas'
import { formScope, type RouterOptions } from '../scope'
import { hookContext } from '../types'
import type { RouterContext } from './context'

export interface AuthRouterOptions extends RouterOptions {
  /** Refuse unverified users at login (LOGIN_USER_NOT_VERIFIED). Default false. */
  requiresVerification?: boolean
}

/** POST /login (form data) and POST /logout for one backend: fastapi-users' get_auth_router. */
export function authRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  backend: AuthenticationBackend<U>,
  options: AuthRouterOptions = {},
): FastifyPluginAsync {
  const { manager } = ctx
  const requiresVerification = options.requiresVerification ?? false
  const docs = backend.transport.openapi

  return async (instance) => {
    await formScope(instance, options, ['auth'])
    if (!instance.hasReplyDecorator('setCookie')) await instance.register(cookie)

    instance.post('/login', {
      exposeHeadRoute: false,
      config: { fastapiName: `auth:${backend.name}.login` },
      schema: {
        consumes: ['application/x-www-form-urlencoded', 'multipart/form-data'],
        body: LoginForm,
        response: { ...docs.loginResponses, ...errorResponses(400, 422) },
      },
      handler: async (request, reply) => {
        const { username, password } = request.body as { username: string; password: string }
        const user = await manager.authenticate({ username, password })
        if (!user?.is_active) throw new BadCredentials()
        if (requiresVerification && !user.is_verified) throw new UserNotVerified()
        const token = await backend.strategy.writeToken(user)
        await manager.onAfterLogin(user, { ...hookContext(request, reply), token })
        return backend.transport.sendLogin(reply, token)
      },
    })

    instance.post('/logout', {
      exposeHeadRoute: false,
      config: { fastapiName: `auth:${backend.name}.logout` },
      schema: { security: ctx.security, response: { ...docs.logoutResponses, ...errorResponses(401) } },
      preValidation: ctx.currentUser({ active: true, verified: requiresVerification }),
      handler: async (request, reply) => {
        const auth = authenticationOf<U>(request)
        if (!auth) throw unauthorized()
        await backend.strategy.destroyToken(auth.token, auth.user)
        return backend.transport.sendLogout(reply)
      },
    })
  }
}
