import type { FastifyReply, FastifyRequest } from 'fastify'
import type { BaseUser } from '../core/user.js'
import { HttpError } from './errors.js'
import type { RouterContext } from './routers/context.js'

/**
 * How a signed-in user proves, once more, that it is really them before something that cannot be
 * undone (deleting the account): a token alone is not enough, since it may have been left in an
 * unattended browser or leaked. Resolves when the identity is confirmed; throws an `HttpError`
 * (400 with the route's code, 429 under the lock-out, 503) otherwise.
 *
 * One replaceable function on purpose: the second factor's step-up (a fresh TOTP or WebAuthn
 * proof) is to be accepted here as an alternative to the password, without touching the routes.
 */
export type ConfirmIdentity<U extends BaseUser> = (
  request: FastifyRequest,
  reply: FastifyReply,
  user: U,
  body: Record<string, unknown>,
) => Promise<void>

/**
 * The default confirmation: the account's current password, as the body's `password`. A wrong or
 * missing one is a 400 `{"detail": invalidCode}`. Each attempt counts toward the login lock-out of
 * the account and the client address, exactly as a login does (when rate limits are on): a stolen
 * token cannot be used to guess the password faster than the login form allows. `ctx` may be the
 * FastifyUsers object itself, so that a replacement can fall back to it:
 * `confirmIdentity: (req, reply, user, body) => body.code ? checkCode(user, body.code) : passwordConfirmation(users, DELETE_USER_INVALID_PASSWORD)(req, reply, user, body)`.
 */
export function passwordConfirmation<U extends BaseUser>(
  ctx: Pick<RouterContext<U>, 'manager' | 'rateLimits'>,
  invalidCode: string,
): ConfirmIdentity<U> {
  return async (request, _reply, user, body) => {
    const password = typeof body.password === 'string' ? body.password : ''
    const attempt = await ctx.rateLimits?.beginLogin(request, user.email)
    let confirmed: U | null
    try {
      // the same check as a login's (a dummy verification when it cannot match, the length bound, the
      // hash upgrade), then the id: the address must still name this very user
      confirmed = password === '' ? null : await ctx.manager.authenticate({ username: user.email, password })
    } catch (error) {
      await attempt?.abandoned()
      throw error
    }
    if (!confirmed || confirmed.id !== user.id) throw new HttpError(400, invalidCode)
    await attempt?.succeeded()
  }
}
