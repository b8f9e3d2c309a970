import type { FastifyPluginAsync } from 'fastify'
import type { CreateInput } from '../../core/manager.js'
import { type BaseUser, writableInput } from '../../core/user.js'
import { audited } from '../audit.js'
import { keepRawBody } from '../errors.js'
import { rateLimited } from '../rate-limit.js'
import { bodyErrors, documented, errors, exampleOf, identifierErrors } from '../route-docs.js'
import { REGISTER_EXAMPLE, USER_EXAMPLE } from '../schemas.js'
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
        body: { ...ctx.schemas.UserCreate, examples: [exampleOf(ctx.schemas.UserCreate, REGISTER_EXAMPLE)] },
        ...documented({
          description:
            'Creates a user from an e-mail address and a password (anyone may call it). The password rules are ' +
            'checked before the address is looked up; `is_active`, `is_superuser` and `is_verified` in the body are ' +
            'ignored. The new user is unverified; the app’s after-register hook runs (the reference service mails a welcome).',
          success: {
            201: {
              schema: ctx.schemas.UserRead,
              description: 'The user, created.',
              example: exampleOf(ctx.schemas.UserRead, USER_EXAMPLE, true),
            },
          },
          errors: [
            ...bodyErrors,
            errors.registerUserExists,
            ...identifierErrors(ctx.manager.store.loginIdentifiers, ctx.fields, 'register', 'REGISTER'),
            errors.registerInvalidPassword,
            errors.validation,
            ...limit.errors,
            errors.unavailable,
          ],
        }),
      },
      onRequest: limit.onRequest,
      preValidation: keepRawBody,
      preHandler: limit.preHandler,
      handler: async (request, reply) => {
        const input = request.body as CreateInput<U>
        // a refusal is recorded here; the success by the manager, as for every user it creates
        const user = await audited(ctx.audit, request, { type: 'register', email: input.email }, () =>
          ctx.manager.create(writableInput(input, ctx.fields, 'register'), {
            safe: true,
            ctx: hookContext(request, reply),
          }),
        )
        return reply.code(201).send(user)
      },
    })
  }
}
