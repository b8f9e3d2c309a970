import type { FastifyPluginAsync } from 'fastify'
import type { BaseUser } from '../../core/user.js'
import { rateLimited } from '../rate-limit.js'
import { EmailBody, errorResponses, Null, TokenBody } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

/**
 * POST /request-verify-token (202, whoever asks) and POST /verify (200 UserRead):
 * fastapi-users' get_verify_router.
 */
export function verifyRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  options: RouterOptions = {},
): FastifyPluginAsync {
  const { manager } = ctx
  const request = rateLimited(ctx.rateLimits, 'requestVerifyToken', 'requestVerifyToken')
  const verify = rateLimited(ctx.rateLimits, 'verify')
  return async (instance) => {
    jsonScope(instance, options, ['auth'])

    instance.post('/request-verify-token', {
      exposeHeadRoute: false,
      config: { fastapiName: 'verify:request-token' },
      schema: {
        body: EmailBody('Body_verify_request_token_auth_request_verify_token_post'),
        response: { 202: Null, ...errorResponses(422), ...request.responses },
      },
      onRequest: request.onRequest,
      preHandler: request.preHandler,
      handler: async (request, reply) => {
        const { email } = request.body as { email: string }
        const user = await manager.getByEmail(email)
        if (user) await manager.requestVerify(user, hookContext(request, reply))
        return reply.code(202).send(null)
      },
    })

    instance.post('/verify', {
      exposeHeadRoute: false,
      config: { fastapiName: 'verify:verify' },
      schema: {
        body: TokenBody('Body_verify_verify_auth_verify_post'),
        response: { 200: ctx.schemas.UserRead, ...errorResponses(400, 422), ...verify.responses },
      },
      onRequest: verify.onRequest,
      handler: async (request, reply) => {
        const { token } = request.body as { token: string }
        return reply.send(await manager.verify(token, hookContext(request, reply)))
      },
    })
  }
}
