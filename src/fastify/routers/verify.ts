import type { FastifyPluginAsync } from 'fastify'
import type { BaseUser } from '../../core/user.js'
import { audit, audited } from '../audit.js'
import { rateLimited } from '../rate-limit.js'
import { bodyErrors, documented, errors, exampleOf } from '../route-docs.js'
import { EMAIL_EXAMPLE, EmailBody, Null, TokenBody, USER_EXAMPLE } from '../schemas.js'
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
        body: { ...EmailBody('Body_verify_request_token_auth_request_verify_token_post'), examples: [EMAIL_EXAMPLE] },
        ...documented({
          description:
            'Sends a verification token to an active, unverified user with this address (the app’s ' +
            'after-request-verify hook; the reference service mails a link). Anyone may call it, and the answer ' +
            'is the same 202 whether or not such a user exists.',
          success: { 202: { schema: Null, description: 'Accepted: `null`, whoever asked.' } },
          errors: [...bodyErrors, errors.validation, ...request.errors, errors.unavailable],
        }),
      },
      onRequest: request.onRequest,
      preHandler: request.preHandler,
      handler: async (request, reply) => {
        const { email } = request.body as { email: string }
        const user = await manager.getByEmail(email)
        if (user) await manager.requestVerify(user, hookContext(request, reply))
        audit(ctx.audit, request, {
          type: 'verify.requested',
          outcome: 'success',
          ...(user ? { user_id: String(user.id) } : { email }),
        })
        return reply.code(202).send(null)
      },
    })

    instance.post('/verify', {
      exposeHeadRoute: false,
      config: { fastapiName: 'verify:verify' },
      schema: {
        body: {
          ...TokenBody('Body_verify_verify_auth_verify_post'),
          examples: [{ token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…' }],
        },
        ...documented({
          description:
            'Marks the user a verification token names as verified (anyone holding the token may call it). The ' +
            'token dies once the address it names changes. Past fastapi-users: proving the address removes OAuth ' +
            'links made before by whoever created the account, and ends the sessions they opened.',
          success: {
            200: {
              schema: ctx.schemas.UserRead,
              description: 'The user, now verified.',
              example: exampleOf(ctx.schemas.UserRead, { ...USER_EXAMPLE, is_verified: true }, true),
            },
          },
          errors: [
            ...bodyErrors,
            errors.verifyBadToken,
            errors.verifyAlreadyVerified,
            errors.validation,
            ...verify.errors,
            errors.unavailable,
          ],
        }),
      },
      onRequest: verify.onRequest,
      handler: async (request, reply) => {
        const { token } = request.body as { token: string }
        const user = await audited(
          ctx.audit,
          request,
          { type: 'verify.done' },
          () => manager.verify(token, hookContext(request, reply)),
          (verified) => ({ type: 'verify.done', outcome: 'success', user_id: String(verified.id) }),
        )
        return reply.send(user)
      },
    })
  }
}
