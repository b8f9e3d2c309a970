import type { FastifyPluginAsync } from 'fastify'
import type { CreateInput } from '../../core/manager.js'
import { type BaseUser, writableInput } from '../../core/user.js'
import { keepRawBody } from '../errors.js'
import { rateLimited } from '../rate-limit.js'
import { errorResponses } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

/**
 * POST /register → 201 UserRead: fastapi-users' get_register_router (flags in the body, and the
 * custom fields not writable at registration, are ignored).
 */
export function registerRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  options: RouterOptions = {},
): FastifyPluginAsync {
  const limit = rateLimited(ctx.rateLimits, 'register', 'register')
  return async (instance) => {
    jsonScope(instance, options, ['auth'])
    instance.post('/register', {
      exposeHeadRoute: false,
      config: { fastapiName: 'register:register' },
      schema: {
        body: ctx.schemas.UserCreate,
        response: { 201: ctx.schemas.UserRead, ...errorResponses(400, 422), ...limit.responses },
      },
      onRequest: limit.onRequest,
      preValidation: keepRawBody,
      preHandler: limit.preHandler,
      handler: async (request, reply) => {
        const user = await ctx.manager.create(writableInput(request.body as CreateInput<U>, ctx.fields, 'register'), {
          safe: true,
          ctx: hookContext(request, reply),
        })
        return reply.code(201).send(user)
      },
    })
  }
}
