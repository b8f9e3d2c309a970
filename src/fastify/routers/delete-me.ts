import type { FastifyInstance, FastifyReply, FastifyRequest, preValidationAsyncHookHandler } from 'fastify'
import { type TObject, Type } from 'typebox'
import type { BaseUser } from '../../core/user.js'
import { audit } from '../audit.js'
import { type ConfirmIdentity, passwordConfirmation } from '../confirm-identity.js'
import { authenticationOf, csrfPossible } from '../current-user.js'
import { unauthorized } from '../errors.js'
import { bodyErrors, documented, type ErrorDoc, errors } from '../route-docs.js'
import { Null } from '../schemas.js'
import { twoFactorErrors } from '../second-factor.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

/** The wire code of a wrong or missing password on `DELETE /users/me`. */
export const DELETE_USER_INVALID_PASSWORD = 'DELETE_USER_INVALID_PASSWORD'

export interface SelfDeleteOptions<U extends BaseUser> {
  /**
   * How the user confirms it is really them (default: the current password, `{"password"}`,
   * counted toward the login lock-out). Replace it to accept another proof, such as a second
   * factor's step-up, alongside or instead of the password.
   */
  confirmIdentity?: ConfirmIdentity<U>
  /**
   * The body's schema, when `confirmIdentity` reads more than `password` (unknown keys are dropped
   * by validation, as pydantic ignores them). Default `{ password?: string }`.
   */
  body?: TObject
}

const DeleteMeBody = Type.Object(
  { password: Type.Optional(Type.String({ description: 'The account’s current password.' })) },
  { title: 'DeleteMe' },
)

/**
 * Past fastapi-users: `DELETE /me`, a user deleting its own account. Registered by `usersRouter`
 * with `selfDelete` (off by default: fastapi-users has no such route). The manager's delete path
 * is the superusers' `DELETE /{id}`: `onBeforeDelete` may veto, every stored session and refresh
 * token is ended, the row goes (its sessions, refresh tokens and OAuth links with it by their
 * cascades), then `onAfterDelete` runs (the reference service mails the owner from there).
 */
export function deleteMeRoute<U extends BaseUser>(
  instance: FastifyInstance,
  ctx: RouterContext<U>,
  activeUser: preValidationAsyncHookHandler,
  options: { verified: boolean } & SelfDeleteOptions<U>,
): void {
  const confirm = options.confirmIdentity ?? passwordConfirmation(ctx, DELETE_USER_INVALID_PASSWORD)
  instance.delete('/me', {
    exposeHeadRoute: false,
    config: { fastapiName: 'users:delete_current_user' },
    schema: {
      security: ctx.security,
      body: options.body ?? { ...DeleteMeBody, examples: [{ password: 'guinevere' }] },
      ...documented({
        description:
          'Past fastapi-users: deletes the signed-in user’s own account, once it confirms its identity with its ' +
          'current password (`{"password"}`; a wrong or missing one counts toward the login lock-out like a failed ' +
          'login). The app’s before-delete hook may refuse; every session and refresh token of the user ends, its ' +
          'linked OAuth accounts go, the owner is told by mail in the reference service, and a cookie that ' +
          'authenticated the request is cleared.' +
          (ctx.secondFactors?.enabled
            ? ' A user with a second factor (TOTP, a passkey) needs a recent authentication too (a login through the ' +
              'factor, or POST /auth/2fa/step-up): the password AND the step-up, checked first.'
            : ''),
        success: { 204: { schema: Null, description: 'Deleted: no body.' } },
        errors: [
          ...bodyErrors,
          deleteInvalidPassword,
          deleteRefused,
          ctx.secondFactors?.enabled && twoFactorErrors.stepUpRequired,
          errors.unauthorized,
          options.verified && errors.notVerified,
          csrfPossible(ctx) && errors.csrf,
          errors.validation,
          ctx.rateLimits && errors.tooManyRequests,
          errors.unavailable,
        ],
      }),
    },
    // A DELETE sent without any body (as many clients send it) is a missing password (400), not a 422.
    preValidation: [activeUser, noBodyAsEmpty],
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const auth = authenticationOf<U>(request)
      if (!auth) throw unauthorized()
      // a user with a second factor: a recent authentication first (any confirmIdentity comes after it)
      if (ctx.secondFactors?.enabled) await ctx.secondFactors.assertRecent(request)
      const body = request.body && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {}
      await confirm(request, reply, auth.user, body)
      await ctx.manager.delete(auth.user, hookContext(request, reply))
      audit(ctx.audit, request, { type: 'user.deleted', outcome: 'success', user_id: String(auth.user.id) })
      // A cookie that authenticated the request is cleared as a logout clears it; any other transport answers 204.
      const transport = auth.backend.transport
      if (transport.isCrossSite && transport.openapi.logoutResponses[204]) return transport.sendLogout(reply)
      return reply.code(204).send()
    },
  })
}

const noBodyAsEmpty = async (request: FastifyRequest) => {
  if (request.body === undefined || request.body === null) request.body = {}
}

export const deleteInvalidPassword: ErrorDoc = {
  status: 400,
  code: DELETE_USER_INVALID_PASSWORD,
  summary: 'The password is wrong or missing.',
  body: { detail: DELETE_USER_INVALID_PASSWORD },
}

export const deleteRefused: ErrorDoc = {
  status: 400,
  code: 'DELETE_USER_REFUSED',
  summary:
    'The app’s before-delete hook refused (`DeleteRefused`; the code is the app’s own, DELETE_USER_REFUSED by default).',
  body: { detail: 'DELETE_USER_REFUSED' },
}
