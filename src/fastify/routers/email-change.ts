import type { FastifyPluginAsync } from 'fastify'
import type { BaseUser } from '../../core/user.js'
import { audited } from '../audit.js'
import { rateLimited } from '../rate-limit.js'
import { bodyErrors, documented, type ErrorDoc, errors, exampleOf } from '../route-docs.js'
import { TokenBody, USER_EXAMPLE } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

/** The confirm route's own refusal. */
export const emailChangeBadToken: ErrorDoc = {
  status: 400,
  code: 'EMAIL_CHANGE_BAD_TOKEN',
  summary: 'Bad or expired token, already used, or issued before the address or password changed.',
  body: { detail: 'EMAIL_CHANGE_BAD_TOKEN' },
}

/**
 * Past fastapi-users: POST /confirm-email-change (200 UserRead), the second half of an e-mail change
 * in the manager's `confirm` mode (PATCH /users/me asks, the new address's mailbox confirms).
 * Mount it where the other token routes are (`/auth`).
 */
export function emailChangeRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  options: RouterOptions = {},
): FastifyPluginAsync {
  const { manager } = ctx
  // The verify route's bucket: both spend a mailed token.
  const limit = rateLimited(ctx.rateLimits, 'verify')
  return async (instance) => {
    jsonScope(instance, options, ['auth'])

    instance.post('/confirm-email-change', {
      exposeHeadRoute: false,
      config: { fastapiName: 'email_change:confirm' },
      schema: {
        body: {
          ...TokenBody('Body_email_change_confirm_auth_confirm_email_change_post'),
          examples: [{ token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…' }],
        },
        ...documented({
          description:
            'Past fastapi-users: moves a user to the new e-mail address it asked for with PATCH /users/me (when ' +
            'e-mail changes are confirmed: EMAIL_CHANGE=confirm in the reference service), with the token mailed ' +
            'to that address; anyone holding the token may call it. The user is then verified, every session and ' +
            'refresh token of the user ends (a JWT lasts until it expires), and the old address is told. The ' +
            'token serves once and dies when the address or the password changes; the new address is checked ' +
            'free again. A superuser’s PATCH /users/{id} changes an address at once, with no confirmation.',
          success: {
            200: {
              schema: ctx.schemas.UserRead,
              description: 'The user, with its new address, verified.',
              example: exampleOf(ctx.schemas.UserRead, { ...USER_EXAMPLE, is_verified: true }, true),
            },
          },
          errors: [
            ...bodyErrors,
            emailChangeBadToken,
            errors.updateEmailExists,
            errors.validation,
            ...limit.errors,
            errors.unavailable,
          ],
        }),
      },
      onRequest: limit.onRequest,
      handler: async (request, reply) => {
        const { token } = request.body as { token: string }
        const user = await audited(
          ctx.audit,
          request,
          { type: 'email_change.done' },
          () => manager.confirmEmailChange(token, hookContext(request, reply)),
          (changed) => ({ type: 'email_change.done', outcome: 'success', user_id: String(changed.id) }),
        )
        return reply.send(user)
      },
    })
  }
}
