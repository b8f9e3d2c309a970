import { parse as parseCookie, serialize as serializeCookie } from 'cookie'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { BadCredentials, OAuthInvalidState, OAuthProviderError, UserNotVerified } from '../../core/errors.js'
import type { OAuthAccountStore, OAuthIdentity } from '../../core/oauth.js'
import type { BaseUser } from '../../core/user.js'
import type { OAuthClient } from '../../oauth/clients.js'
import { checkFlow, OAUTH_CSRF_COOKIE, type OAuthStateStore, startFlow } from '../../oauth/state.js'
import { audit, failureCode } from '../audit.js'
import type { AuthenticationBackend } from '../backend.js'
import { documented, errors, exampleOf } from '../route-docs.js'
import { USER_EXAMPLE } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import { twoFactorErrors, withChallenge } from '../second-factor.js'
import { sessionContextOf } from '../sessions.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

export interface OAuthFlowOptions extends RouterOptions {
  /** Signs the state (fastapi-users' `state_secret`). Required. */
  stateSecret: string
  /** Where OAuth accounts are kept; default: FastifyUsers' `oauthAccounts`. */
  accounts?: OAuthAccountStore
  /**
   * The absolute callback URL registered at the provider (fastapi-users' `redirect_url`).
   * Default: this router's /callback on the request's own scheme and host.
   */
  redirectUrl?: string
  /** How long a started flow may take, in seconds. Default 600. */
  stateLifetimeSeconds?: number
  /**
   * Where consumed states are recorded, so each is used once by the whole service (every
   * instance must share it: redisStateStore, createKyselyOAuthStateStore). Default: FastifyUsers'
   * `oauthStates`; one of the two is required (memoryStateStore() only for a single process).
   */
  stateStore?: OAuthStateStore
  /** The `Secure` attribute of the CSRF cookie. Default true. */
  csrfCookieSecure?: boolean
  /** Refuse unverified users (LOGIN_USER_NOT_VERIFIED at login; 403 for association). Default false. */
  requiresVerification?: boolean
}

export interface OAuthRouterOptions extends OAuthFlowOptions {
  /** Link to an existing user with the same e-mail, only when both sides' addresses are verified. Default false. */
  associateByEmail?: boolean
  /**
   * Create a user for an address the provider does not vouch for (created unverified; its link is
   * removed when the address's owner proves it by mail). Default false: OAUTH_NOT_AVAILABLE_EMAIL.
   */
  allowUnverifiedEmail?: boolean
  /** New users are verified when the provider asserts their e-mail is verified. Default false. */
  isVerifiedByDefault?: boolean
  /** The path the backend's refresh token is sent back to (cookie scope). Default /auth/<backend name>. */
  refreshPath?: string
}

const AuthorizeQuery = Type.Object({
  scopes: Type.Optional(
    Type.Union([
      Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,200}$' }),
      Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,200}$' }), { maxItems: 20 }),
    ]),
  ),
})

const CallbackQuery = Type.Object({
  code: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
})

export const OAuth2AuthorizeResponse = Type.Object(
  { authorization_url: Type.String() },
  { title: 'OAuth2AuthorizeResponse' },
)

const authorizeAnswer = {
  200: {
    schema: OAuth2AuthorizeResponse,
    description: 'Where to send the browser.',
    example: { authorization_url: 'https://github.com/login/oauth/authorize?client_id=…&state=…' },
  },
}

/** The shared machinery of the OAuth and association routers: authorize and the callback's checks. */
function flow(client: OAuthClient, options: OAuthFlowOptions, prefix: string, shared?: OAuthStateStore) {
  if (!options.stateSecret) throw new TypeError('OAuth routers: `stateSecret` is required')
  const lifetime = options.stateLifetimeSeconds ?? 600
  const store = options.stateStore ?? shared
  if (!store) {
    throw new TypeError(
      'OAuth routers need a state store shared by every instance: FastifyUsers `oauthStates` or the `stateStore` option ' +
        '(redisStateStore, createKyselyOAuthStateStore; memoryStateStore() for a single process only)',
    )
  }
  const cookiePath = prefix || '/'
  const secure = options.csrfCookieSecure ?? true
  const cookie = (value: string, maxAge: number) =>
    serializeCookie(OAUTH_CSRF_COOKIE, value, {
      httpOnly: true,
      sameSite: 'lax',
      secure,
      path: cookiePath,
      maxAge,
    })

  const redirectUri = (request: FastifyRequest) =>
    options.redirectUrl ?? `${request.protocol}://${request.host}${prefix}/callback`

  return {
    async authorize(request: FastifyRequest, reply: FastifyReply, userId?: string) {
      const raw = (request.query as { scopes?: string | string[] }).scopes
      const scopes = raw === undefined ? undefined : Array.isArray(raw) ? raw : [raw]
      const started = await startFlow(options.stateSecret, { provider: client.name, userId }, lifetime)
      const authorizationUrl = await client.authorizationUrl({
        redirectUri: redirectUri(request),
        state: started.state,
        codeChallenge: started.codeChallenge,
        nonce: started.nonce,
        scopes,
      })
      reply.header('set-cookie', cookie(started.csrfToken, lifetime))
      reply.header('cache-control', 'no-store')
      return { authorization_url: authorizationUrl }
    },

    /** State, cookie and single use checked before the provider is contacted; then the code exchange. */
    async callback(request: FastifyRequest, reply: FastifyReply, userId?: string): Promise<OAuthIdentity> {
      const query = request.query as { code?: string; state?: string; error?: string }
      const csrfToken = parseCookie(request.headers.cookie ?? '')[OAUTH_CSRF_COOKIE]
      const checked = await checkFlow(options.stateSecret, query.state, csrfToken, { provider: client.name, userId })
      if (!(await store.consume(checked.jti, checked.expiresAt))) throw new OAuthInvalidState()
      reply.header('set-cookie', cookie('', 0)) // single use: the browser forgets it too
      if (query.error !== undefined || query.code === undefined) throw new OAuthProviderError(query.error ?? 'no code')
      const redirect = redirectUri(request)
      const callbackUrl = new URL(redirect)
      callbackUrl.search = new URL(request.url, 'http://localhost').search
      try {
        return await client.callback({
          callbackUrl,
          redirectUri: redirect,
          state: query.state as string,
          codeVerifier: checked.codeVerifier,
          nonce: checked.nonce,
        })
      } catch (error) {
        request.log.warn({ err: error, provider: client.name }, 'OAuth callback failed')
        throw error
      }
    },
  }
}

function accountsOf<U extends BaseUser>(ctx: RouterContext<U>, options: OAuthFlowOptions): OAuthAccountStore {
  const accounts = options.accounts ?? ctx.oauthAccounts
  if (!accounts) throw new TypeError('OAuth routers need an OAuthAccountStore (FastifyUsers `oauthAccounts`)')
  return accounts
}

/**
 * GET /authorize and GET /callback for one provider and one backend: fastapi-users'
 * get_oauth_router, with the state bound to the browser (CSRF cookie), single use, PKCE S256
 * and the OIDC nonce, and e-mail linking only between verified addresses.
 */
export function oauthRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  client: OAuthClient,
  backend: AuthenticationBackend<U>,
  options: OAuthRouterOptions,
): FastifyPluginAsync {
  const { manager } = ctx
  const accounts = accountsOf(ctx, options)
  const { transport, strategy, refresh } = backend
  return async (instance) => {
    jsonScope(instance, options, ['auth'])
    const oauth = flow(client, options, instance.prefix, ctx.oauthStates)

    instance.get('/authorize', {
      exposeHeadRoute: false,
      config: { fastapiName: `oauth:${client.name}.${backend.name}.authorize` },
      schema: {
        querystring: AuthorizeQuery,
        ...documented({
          description:
            `Starts signing in with ${client.name} (anyone may call it): the provider's authorization URL to send ` +
            'the browser to, with a signed single-use state, PKCE and a nonce; the state is bound to this browser ' +
            'by a CSRF cookie set here (past fastapi-users).',
          success: authorizeAnswer,
          errors: [errors.validation, errors.unavailable],
        }),
      },
      handler: async (request, reply) => oauth.authorize(request, reply),
    })

    instance.get('/callback', {
      exposeHeadRoute: false,
      config: { fastapiName: `oauth:${client.name}.${backend.name}.callback` },
      schema: {
        querystring: CallbackQuery,
        ...withChallenge(
          documented({
            description:
              `The provider redirects the browser here. The state and its cookie are checked, the code exchanged, and ` +
              `the ${client.name} account's user signed in through the \`${backend.name}\` backend (the answer varies ` +
              'with the backend, as login). A new user is created for a new address; an existing user with the same ' +
              'address is linked only when both sides’ addresses are verified and linking by e-mail is on.',
            success: Object.fromEntries(
              Object.entries(transport.openapi.loginResponses).map(([status, schema]) => [
                status,
                { schema, description: 'Signed in: the access token, as the transport carries it.' },
              ]),
            ),
            errors: [
              errors.oauthInvalidState,
              errors.oauthProviderError,
              errors.oauthNoEmail,
              errors.oauthUserExists,
              errors.badCredentials,
              options.requiresVerification && errors.userNotVerified,
              ctx.secondFactors?.enabled && twoFactorErrors.required,
              errors.validation,
              errors.unavailable,
            ],
          }),
          ctx.secondFactors?.enabled ?? false,
        ),
      },
      handler: async (request, reply) => {
        // a refused social login: `login.failed` with the code, about the user or the provider's address once known
        const seen: { userId?: string; email?: string | null } = {}
        try {
          return await signIn(request, reply, seen)
        } catch (error) {
          const reason = failureCode(error)
          if (reason && reason !== 'LOGIN_2FA_REQUIRED')
            audit(ctx.audit, request, {
              type: 'login.failed',
              outcome: 'failure',
              reason,
              backend: backend.name,
              ...(seen.userId ? { user_id: seen.userId } : { email: seen.email ?? null }),
              detail: { method: 'oauth', provider: client.name },
            })
          throw error
        }
      },
    })
    const signIn = async (
      request: FastifyRequest,
      reply: FastifyReply,
      seen: { userId?: string; email?: string | null },
    ) => {
      const identity = await oauth.callback(request, reply)
      seen.email = identity.accountEmail
      const ctxHook = hookContext(request, reply)
      const user = await manager.oauthCallback({
        oauthName: client.name,
        identity,
        accounts,
        options: {
          associateByEmail: options.associateByEmail,
          allowUnverifiedEmail: options.allowUnverifiedEmail,
          isVerifiedByDefault: options.isVerifiedByDefault,
          ctx: ctxHook,
        },
      })
      seen.userId = String(user.id)
      if (!user.is_active) throw new BadCredentials()
      if (options.requiresVerification && !user.is_verified) throw new UserNotVerified()
      const loginCtx = { ...ctxHook, backend: backend.name, method: 'oauth' as const, oauthName: client.name }
      await manager.beforeLogin(user, loginCtx)
      await ctx.secondFactors?.check(user, loginCtx) // the login pipeline, as after a password
      const opened = await refresh?.open(user, backend.name, sessionContextOf(request))
      const token = await strategy.writeToken(user, {
        ...sessionContextOf(request),
        refreshSessionId: opened?.sessionId,
      })
      audit(ctx.audit, request, {
        type: 'login.succeeded',
        outcome: 'success',
        user_id: String(user.id),
        backend: backend.name,
        detail: { method: 'oauth', provider: client.name },
      })
      await manager.onAfterLogin(user, { ...ctxHook, token })
      return transport.sendLogin(reply, token, {
        refreshToken: opened?.refreshToken,
        refreshLifetimeSeconds: refresh?.lifetimeSeconds,
        refreshPath: options.refreshPath ?? `/auth/${backend.name}`,
      })
    }
  }
}

/**
 * GET /authorize and GET /callback for a signed-in user to link a provider account:
 * fastapi-users' get_oauth_associate_router; an account linked to another user is refused.
 */
export function oauthAssociateRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  client: OAuthClient,
  options: OAuthFlowOptions,
): FastifyPluginAsync {
  const accounts = accountsOf(ctx, options)
  const current = ctx.currentUser({ active: true, verified: options.requiresVerification ?? false })
  return async (instance) => {
    jsonScope(instance, options, ['auth'])
    const oauth = flow(client, options, instance.prefix, ctx.oauthStates)
    const userOf = (request: FastifyRequest) => request.currentUser as unknown as U

    instance.get('/authorize', {
      exposeHeadRoute: false,
      config: { fastapiName: `oauth-associate:${client.name}.authorize` },
      schema: {
        security: ctx.security,
        querystring: AuthorizeQuery,
        ...documented({
          description:
            `Starts linking a ${client.name} account to the signed-in user (any active user): the provider's ` +
            'authorization URL, with a state bound to this user and browser.',
          success: authorizeAnswer,
          errors: [
            errors.unauthorized,
            options.requiresVerification && errors.notVerified,
            errors.validation,
            errors.unavailable,
          ],
        }),
      },
      preValidation: current,
      handler: async (request, reply) => oauth.authorize(request, reply, String(userOf(request).id)),
    })

    instance.get('/callback', {
      exposeHeadRoute: false,
      config: { fastapiName: `oauth-associate:${client.name}.callback` },
      schema: {
        security: ctx.security,
        querystring: CallbackQuery,
        ...documented({
          description:
            `The provider redirects the browser here: the ${client.name} account is linked to the signed-in user ` +
            '(the one who started the flow). An account already linked to another user is refused.',
          success: {
            200: {
              schema: ctx.schemas.UserRead,
              description: 'The user, now linked.',
              example: exampleOf(ctx.schemas.UserRead, USER_EXAMPLE, true),
            },
          },
          errors: [
            errors.oauthInvalidState,
            errors.oauthProviderError,
            errors.oauthNoEmail,
            errors.oauthAccountLinked,
            errors.unauthorized,
            options.requiresVerification && errors.notVerified,
            errors.validation,
            errors.unavailable,
          ],
        }),
      },
      preValidation: current,
      handler: async (request, reply) => {
        const user = userOf(request)
        const identity = await oauth.callback(request, reply, String(user.id))
        await ctx.manager.oauthAssociateCallback({
          user,
          oauthName: client.name,
          identity,
          accounts,
          ctx: hookContext(request, reply),
        })
        audit(ctx.audit, request, {
          type: 'oauth.linked',
          outcome: 'success',
          user_id: String(user.id),
          detail: { provider: client.name },
        })
        return user
      },
    })
  }
}
