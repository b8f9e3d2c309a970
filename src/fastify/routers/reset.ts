import type { FastifyPluginAsync } from 'fastify'
import type { BaseUser } from '../../core/user.js'
import { audit, audited } from '../audit.js'
import { rateLimited } from '../rate-limit.js'
import { bodyErrors, documented, errors } from '../route-docs.js'
import { EMAIL_EXAMPLE, EmailBody, Null, ResetPasswordBody } from '../schemas.js'
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
        body: { ...EmailBody('Body_reset_forgot_password_auth_forgot_password_post'), examples: [EMAIL_EXAMPLE] },
        ...documented({
          description:
            'Starts a password reset: an active user with this address gets a reset token (the app’s ' +
            'after-forgot-password hook; the reference service mails a link). Anyone may call it, and the answer ' +
            'is the same 202 whether or not such a user exists.',
          success: { 202: { schema: Null, description: 'Accepted: `null`, whoever asked.' } },
          errors: [...bodyErrors, errors.validation, ...forgot.errors, errors.unavailable],
        }),
      },
      onRequest: forgot.onRequest,
      preHandler: forgot.preHandler,
      handler: async (request, reply) => {
        const { email } = request.body as { email: string }
        const user = await manager.getByEmail(email)
        if (user) await manager.forgotPassword(user, hookContext(request, reply))
        audit(ctx.audit, request, {
          type: 'password.forgot_requested',
          outcome: 'success',
          ...(user ? { user_id: String(user.id) } : { email }),
        })
        return reply.code(202).send(null)
      },
    })

    instance.post('/reset-password', {
      exposeHeadRoute: false,
      config: { fastapiName: 'reset:reset_password' },
      schema: {
        body: {
          ...ResetPasswordBody,
          examples: [{ token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…', password: 'a-new-long-password' }],
        },
        ...documented({
          description:
            'Sets a new password with the token of a reset mail (anyone holding the token may call it). The token ' +
            'dies with the password it was issued for; a password that breaks a rule leaves it usable. Past ' +
            'fastapi-users: every session and refresh token of the user is revoked.',
          success: { 200: { schema: Null, description: 'The password is changed: `null`.' } },
          errors: [
            ...bodyErrors,
            errors.resetBadToken,
            errors.resetInvalidPassword,
            errors.validation,
            ...reset.errors,
            errors.unavailable,
          ],
        }),
      },
      onRequest: reset.onRequest,
      handler: async (request, reply) => {
        const { token, password } = request.body as { token: string; password: string }
        await audited(
          ctx.audit,
          request,
          { type: 'password.reset' },
          () => manager.resetPassword(token, password, hookContext(request, reply)),
          (user) => ({ type: 'password.reset', outcome: 'success', user_id: String(user.id) }),
        )
        return reply.code(200).send(null)
      },
    })
  }
}
