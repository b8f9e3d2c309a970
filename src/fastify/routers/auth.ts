import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TSchema } from 'typebox'
import { BadCredentials, UserNotVerified } from '../../core/errors.js'
import { UserGone } from '../../core/store.js'
import type { BaseUser } from '../../core/user.js'
import { audit, failureCode } from '../audit.js'
import type { AuthenticationBackend } from '../backend.js'
import { authenticationOf, csrfFailed, csrfPossible } from '../current-user.js'
import { HttpError, unauthorized } from '../errors.js'
import { rateLimited } from '../rate-limit.js'
import { bodyErrors, documented, errors, type SuccessDoc } from '../route-docs.js'
import { LoginForm } from '../schemas.js'
import { formScope, jsonScope, type RouterOptions } from '../scope.js'
import { twoFactorErrors, withChallenge } from '../second-factor.js'
import { SecondFactorLogin, TicketBody } from '../second-factor-schemas.js'
import { sessionContextOf } from '../sessions.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

const signedIn = 'Signed in: the access token (the body or a cookie, as the transport carries it).'
const BEARER_EXAMPLE = { access_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…', token_type: 'bearer' }

/** A transport's success answers, documented; a body that carries a token gets an example. */
function answers(schemas: Record<number, TSchema>, description: string): Record<number, SuccessDoc> {
  return Object.fromEntries(
    Object.entries(schemas).map(([status, schema]) => {
      const carriesToken = (schema as { title?: string }).title === 'BearerResponse'
      return [status, { schema, description, ...(carriesToken && { example: BEARER_EXAMPLE }) }]
    }),
  )
}

export interface AuthRouterOptions extends RouterOptions {
  /** Refuse unverified users at login and refresh (400 LOGIN_USER_NOT_VERIFIED). Default false. */
  requiresVerification?: boolean
}

/**
 * POST /login (form data) and POST /logout for one backend: fastapi-users' get_auth_router;
 * with refresh tokens enabled on the backend, POST /refresh too.
 */
export function authRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  backend: AuthenticationBackend<U>,
  options: AuthRouterOptions = {},
): FastifyPluginAsync {
  const { manager } = ctx
  const requiresVerification = options.requiresVerification ?? false
  const { transport, strategy, refresh } = backend
  const docs = transport.openapi
  const refuseCrossSite = async (request: FastifyRequest) => {
    if (transport.isCrossSite?.(request)) throw csrfFailed()
  }
  const loginLimit = rateLimited(ctx.rateLimits, 'login')
  const refreshLimit = rateLimited(ctx.rateLimits, 'refresh')

  // A trusted-device cookie, sent after the transport's own cookies (onSend): bearer clients with a cookie jar keep it too.
  const deviceCookies = new WeakMap<FastifyReply, string>()
  const sendDeviceCookie = async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const cookie = deviceCookies.get(reply)
    if (cookie && reply.statusCode < 300) reply.header('set-cookie', cookie) // signed in: tokens issued
    return payload
  }

  /** The active user these credentials belong to; counted against the lock-out when limits are on. */
  const checkPassword = async (request: FastifyRequest, reply: FastifyReply, username: string, password: string) => {
    const attempt = await ctx.rateLimits?.beginLogin(request, await manager.loginAccountName(username))
    let user: U | null
    try {
      user = await manager.authenticate({ username, password })
    } catch (error) {
      await attempt?.abandoned()
      throw error
    }
    if (!user?.is_active) throw new BadCredentials()
    // A user with a second factor has not signed in yet: the password alone neither clears the lock-out's
    // failures (wrong codes count there) nor counts as one; /login/2fa's success clears them.
    let hasFactor: boolean | undefined
    try {
      hasFactor = attempt && (await ctx.secondFactors?.hasFactor(user))
    } catch (error) {
      await attempt?.abandoned()
      throw error
    }
    if (attempt && hasFactor) {
      await attempt.abandoned()
      return user
    }
    const deviceCookie = await attempt?.succeeded()
    if (deviceCookie) deviceCookies.set(reply, deviceCookie)
    return user
  }

  /**
   * A login refused with a client's code: `login.failed` with that code, about the account when
   * one is known (the password checked out, or the name is an account's), else the name as typed.
   * A challenge for the second factor is no failure; a lock-out's refusal is `login.locked`.
   */
  const loginFailed = async (request: FastifyRequest, error: unknown, username: string, known: U | null) => {
    const reason = failureCode(error)
    if (!ctx.audit || !reason || reason === 'LOGIN_2FA_REQUIRED' || reason === 'TOO_MANY_REQUESTS') return
    const user = known ?? (await manager.getByLoginName(username).catch(() => null))
    audit(ctx.audit, request, {
      type: 'login.failed',
      outcome: 'failure',
      reason,
      backend: backend.name,
      ...(user ? { user_id: String(user.id) } : { email: username }),
      detail: { method: 'password' },
    })
  }
  const loginSucceeded = (request: FastifyRequest, user: U, method: 'password' | '2fa') =>
    audit(ctx.audit, request, {
      type: 'login.succeeded',
      outcome: 'success',
      user_id: String(user.id),
      backend: backend.name,
      detail: { method },
    })

  return async (instance) => {
    const prefix = instance.prefix || '/'
    const extras = (refreshToken?: string) => ({
      refreshToken,
      refreshLifetimeSeconds: refresh?.lifetimeSeconds,
      refreshPath: prefix,
    })
    const sendTokens = async (reply: FastifyReply, user: U, refreshToken?: string, refreshSessionId?: string) => {
      const token = await strategy.writeToken(user, { ...sessionContextOf(reply.request), refreshSessionId })
      // no-store whatever the transport (a custom one too): the answer carries a token.
      reply.header('cache-control', 'no-store')
      return { token, send: () => transport.sendLogin(reply, token, extras(refreshToken)) }
    }

    // Deleted between the password check (or the refresh token's look-up) and the tokens' insert:
    // answered as if the request had come after the deletion.
    const unlessGone = async <T>(issue: () => Promise<T>, refused: () => Error): Promise<T> => {
      try {
        return await issue()
      } catch (error) {
        if (error instanceof UserGone) throw refused()
        throw error
      }
    }

    await instance.register(async (forms: FastifyInstance) => {
      await formScope(forms, options, ['auth'])
      forms.post('/login', {
        exposeHeadRoute: false,
        config: { fastapiName: `auth:${backend.name}.login` },
        schema: {
          consumes: ['application/x-www-form-urlencoded', 'multipart/form-data'],
          body: { ...LoginForm, examples: [{ username: 'king.arthur@camelot.bt', password: 'guinevere' }] },
          ...withChallenge(
            documented({
              description: [
                'Signs a user in with the OAuth2 password form (`username` is the e-mail address) and answers with',
                `the \`${backend.name}\` backend's token${refresh ? ' and a refresh token' : ''}. Anyone may call it;`,
                'a wrong password, an unknown address and an inactive account are the same 400.',
                requiresVerification && 'Unverified users are refused.',
                ctx.rateLimits && 'Past fastapi-users: limited per address and account, with a lock-out.',
              ]
                .filter(Boolean)
                .join(' '),
              success: answers(docs.loginResponses, signedIn),
              errors: [
                ...bodyErrors,
                errors.badCredentials,
                requiresVerification && errors.userNotVerified,
                ctx.secondFactors?.enabled && twoFactorErrors.required,
                transport.isCrossSite && errors.csrf,
                errors.validation,
                ...loginLimit.errors,
                errors.unavailable,
              ],
            }),
            ctx.secondFactors?.enabled ?? false,
          ),
        },
        onRequest: [refuseCrossSite, ...loginLimit.onRequest], // login CSRF, then the address's budget
        onSend: sendDeviceCookie,
        handler: async (request, reply) => {
          const { username, password } = request.body as { username: string; password: string }
          let known: U | null = null
          try {
            const user = await checkPassword(request, reply, username, password)
            known = user
            if (requiresVerification && !user.is_verified) throw new UserNotVerified()
            const loginCtx = { ...hookContext(request, reply), backend: backend.name, method: 'password' as const }
            await manager.beforeLogin(user, loginCtx)
            await ctx.secondFactors?.check(user, loginCtx) // the login pipeline: may refuse or ask for a second factor
            const { token, send } = await unlessGone(
              async () => {
                const opened = await refresh?.open(user, backend.name, sessionContextOf(request))
                return sendTokens(reply, user, opened?.refreshToken, opened?.sessionId)
              },
              () => new BadCredentials(),
            )
            loginSucceeded(request, user, 'password')
            await manager.onAfterLogin(user, { ...hookContext(request, reply), token })
            return send()
          } catch (error) {
            await loginFailed(request, error, username, known)
            throw error
          }
        },
      })
    })

    await instance.register(async (json: FastifyInstance) => {
      jsonScope(json, options, ['auth'])
      json.post('/logout', {
        exposeHeadRoute: false,
        config: { fastapiName: `auth:${backend.name}.logout` },
        schema: {
          security: ctx.security,
          ...documented({
            description:
              `Signs the current user out of the \`${backend.name}\` backend: a stored token (a database row, a ` +
              'Redis key) is deleted; a JWT cannot be, and stays valid until it expires or the password changes' +
              (refresh ? ', and the refresh token sent with the request is revoked.' : '.') +
              ' Any active user may call it with its token.',
            success: answers(docs.logoutResponses, 'Signed out.'),
            errors: [
              ...bodyErrors,
              errors.unauthorized,
              requiresVerification && errors.notVerified,
              csrfPossible(ctx) && errors.csrf,
              errors.unavailable,
            ],
          }),
        },
        preValidation: ctx.currentUser({ active: true, verified: requiresVerification }),
        handler: async (request, reply) => {
          const auth = authenticationOf<U>(request)
          if (!auth) throw unauthorized()
          await strategy.destroyToken(auth.token, auth.user)
          const refreshToken = refresh && transport.readRefreshToken(request)
          if (refreshToken) await refresh.revoke(refreshToken)
          audit(ctx.audit, request, {
            type: 'logout',
            outcome: 'success',
            user_id: String(auth.user.id),
            backend: backend.name,
          })
          return transport.sendLogout(reply, refresh ? extras() : {})
        },
      })

      const secondFactors = ctx.secondFactors
      if (secondFactors?.enabled) {
        json.post('/login/2fa', {
          exposeHeadRoute: false,
          config: { fastapiName: `auth:${backend.name}.login_2fa` },
          schema: {
            body: {
              ...SecondFactorLogin,
              examples: [{ ticket: 'Q0f3…', code: '123456' }],
            },
            ...documented({
              description:
                'Past fastapi-users: the second step of a login answered 400 `LOGIN_2FA_REQUIRED`: the ticket it gave ' +
                'and a code of one of its `methods` (a TOTP code, or a recovery code, used up) or, for `passkey`, the ' +
                'assertion answering `/login/2fa/passkey/options` (`{"ticket", "passkey"}`: exactly one of `code` and ' +
                '`passkey`) answer exactly as ' +
                `\`${backend.name}\`'s /login would. A ticket lives five minutes, is this backend's only, allows a few ` +
                'wrong codes (each counted toward the login lock-out) and is spent by success.',
              success: answers(docs.loginResponses, signedIn),
              errors: [
                ...bodyErrors,
                twoFactorErrors.badCode,
                requiresVerification && errors.userNotVerified,
                transport.isCrossSite && errors.csrf,
                errors.validation,
                ...loginLimit.errors,
                errors.unavailable,
              ],
            }),
          },
          onRequest: [refuseCrossSite, ...loginLimit.onRequest],
          onSend: sendDeviceCookie,
          handler: async (request, reply) => {
            const { ticket, code, passkey } = request.body as { ticket: string; code?: string; passkey?: unknown }
            const { user, deviceCookie } = await secondFactors.redeem(
              request,
              ticket,
              { code, passkey },
              backend.name,
              ctx.rateLimits,
            )
            if (deviceCookie) deviceCookies.set(reply, deviceCookie) // signed in: this client is now a trusted device
            if (requiresVerification && !user.is_verified) throw new UserNotVerified()
            const { token, send } = await unlessGone(
              async () => {
                const opened = await refresh?.open(user, backend.name, sessionContextOf(request))
                return sendTokens(reply, user, opened?.refreshToken, opened?.sessionId)
              },
              () => new HttpError(400, 'LOGIN_2FA_BAD_CODE'),
            )
            await secondFactors.recordStepUp(user, token) // a login through the second factor is a recent authentication
            loginSucceeded(request, user, '2fa')
            await manager.onAfterLogin(user, { ...hookContext(request, reply), token })
            return send()
          },
        })

        if (secondFactors.factors.some((f) => f.method === 'passkey' && f.options)) {
          json.post('/login/2fa/passkey/options', {
            exposeHeadRoute: false,
            config: { fastapiName: `auth:${backend.name}.login_2fa_passkey_options` },
            schema: {
              body: { ...TicketBody, examples: [{ ticket: 'Q0f3…' }] },
              ...documented({
                description:
                  'Past fastapi-users: request options for `navigator.credentials.get()` answering a ticket of ' +
                  '`/login` whose `methods` contain `passkey`: only the ticket’s user’s passkeys are allowed, and the ' +
                  'challenge is bound to that user. Send the assertion to `/login/2fa` as `passkey`. Spends no try.',
                success: {
                  200: {
                    schema: {
                      type: 'object',
                      additionalProperties: true,
                      title: 'PublicKeyCredentialRequestOptionsJSON',
                    } as unknown as TSchema,
                    description: 'The options.',
                  },
                },
                errors: [
                  ...bodyErrors,
                  {
                    ...twoFactorErrors.badCode,
                    summary: 'The ticket is unknown, expired, spent or another backend’s, or its user has no passkey.',
                  },
                  transport.isCrossSite && errors.csrf,
                  errors.validation,
                  ...loginLimit.errors,
                  errors.unavailable,
                ],
              }),
            },
            onRequest: [refuseCrossSite, ...loginLimit.onRequest],
            handler: async (request, reply) => {
              const { ticket } = request.body as { ticket: string }
              const options = await secondFactors.ticketOptions(ticket, backend.name, 'passkey')
              reply.header('cache-control', 'no-store')
              return options
            },
          })
        }
      }

      if (!refresh) return
      json.post('/refresh', {
        exposeHeadRoute: false,
        config: { fastapiName: `auth:${backend.name}.refresh` },
        schema: {
          ...documented({
            description:
              'Past fastapi-users: trades a refresh token (the `refresh_token` of the JSON body, or its cookie) for a new ' +
              'access token and a new refresh token; the one sent is used up. Reusing a spent refresh token revokes ' +
              'the whole family' +
              (refresh.reuseIntervalSeconds > 0
                ? `, unless it was spent less than ${refresh.reuseIntervalSeconds} s ago: the same new refresh token is then sent again. `
                : '. ') +
              'A deactivated, deleted or (where verification is required) unverified user gets none.',
            success: answers(docs.loginResponses, signedIn),
            errors: [
              ...bodyErrors,
              requiresVerification && errors.userNotVerified,
              errors.unauthorized,
              transport.isCrossSite && errors.csrf,
              ...refreshLimit.errors,
              errors.unavailable,
            ],
          }),
        },
        onRequest: [refuseCrossSite, ...refreshLimit.onRequest],
        handler: async (request, reply) => {
          const { send } = await unlessGone(async () => {
            // Verification holds on renewal as on login: checked before a new token is issued.
            const rotated = await refresh.rotate(
              transport.readRefreshToken(request),
              backend.name,
              manager,
              async (user) => {
                if (requiresVerification && !user.is_verified) throw new UserNotVerified()
                const hookCtx = { ...hookContext(request, reply), backend: backend.name, method: 'refresh' as const }
                await manager.beforeLogin(user, hookCtx)
                await ctx.secondFactors?.check(user, hookCtx) // refusals only: a refresh is not a new login
              },
              (userId) =>
                audit(ctx.audit, request, {
                  type: 'refresh.reuse_detected',
                  outcome: 'failure',
                  reason: 'REFRESH_TOKEN_REUSED',
                  user_id: userId,
                  backend: backend.name,
                }),
            )
            if (!rotated) throw unauthorized()
            audit(ctx.audit, request, {
              type: 'refresh',
              outcome: 'success',
              user_id: String(rotated.user.id),
              backend: backend.name,
            })
            return sendTokens(reply, rotated.user, rotated.refreshToken, rotated.sessionId)
          }, unauthorized)
          return send()
        },
      })
    })
  }
}
