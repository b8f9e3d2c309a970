import type { FastifyPluginAsync } from 'fastify'
import type { BaseUser } from '../../core/user.js'
import { rateLimited } from '../rate-limit.js'
import { EmailBody, errorResponses, Null, ResetPasswordBody } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

/**
 * POST /forgot-password (202, whoever asks) and POST /reset-password (200):
 * fastapi-users' get_reset_password_router.
 */
export function resetPasswordRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  options: RouterOptions = {},
): FastifyPluginAsync {
  const { manager } = ctx
  const forgot = rateLimited(ctx.rateLimits, 'forgotPassword', 'forgotPassword')
  const reset = rateLimited(ctx.rateLimits, 'resetPassword')
  return async (instance) => {
    jsonScope(instance, options, ['auth'])

    instance.post('/forgot-password', {
      exposeHeadRoute: false,
      config: { fastapiName: 'reset:forgot_password' },
      schema: {
        body: EmailBody('Body_reset_forgot_password_auth_forgot_password_post'),
        response: { 202: Null, ...errorResponses(422), ...forgot.responses },
      },
      onRequest: forgot.onRequest,
      preHandler: forgot.preHandler,
      handler: async (request, reply) => {
        const { email } = request.body as { email: string }
        const user = await manager.getByEmail(email)
        if (user) await manager.forgotPassword(user, hookContext(request, reply))
        return reply.code(202).send(null)
      },
    })

    instance.post('/reset-password', {
      exposeHeadRoute: false,
      config: { fastapiName: 'reset:reset_password' },
      schema: { body: ResetPasswordBody, response: { 200: Null, ...errorResponses(400, 422), ...reset.responses } },
      onRequest: reset.onRequest,
      handler: async (request, reply) => {
        const { token, password } = request.body as { token: string; password: string }
        await manager.resetPassword(token, password, hookContext(request, reply))
        return reply.code(200).send(null)
      },
    })
  }
}
