import type {
  FastifyPluginAsync,
  FastifyRequest,
  preHandlerAsyncHookHandler,
  preValidationAsyncHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import { AuditLog, type AuditReader, type AuditSink } from '../core/audit.js'
import type { UserManager } from '../core/manager.js'
import { type OAuthAccountStore, removeUnvouchedLinks } from '../core/oauth.js'
import type { LoginCheck } from '../core/second-factor.js'
import type { BaseUser, UserFields } from '../core/user.js'
import type { Passkeys } from '../factors/passkeys/passkeys.js'
import {
  type PasskeyRouterOptions,
  passkeyLoginRouter,
  passkeysAdminRouter,
  passkeysRouter,
} from '../factors/passkeys/routes.js'
import { passkeySecondFactor } from '../factors/passkeys/second-factor.js'
import { BUILT_IN_LOCALES } from '../i18n/catalogue.js'
import type { OAuthClient } from '../oauth/clients.js'
import type { OAuthStateStore } from '../oauth/state.js'
import { auditManagerEvent, audit as recordAudit } from './audit.js'
import type { AuthenticationBackend } from './backend.js'
import { type CurrentUserOptions, currentUserHook } from './current-user.js'
import { type ReadOAuthAccountsOptions, readOAuthAccountsHook, withOAuthAccounts } from './oauth-accounts-read.js'
import { AuthRateLimiter, type RateLimitOptions } from './rate-limit.js'
import { type AuditRouterOptions, auditRouter } from './routers/audit.js'
import { type AuthRouterOptions, authRouter } from './routers/auth.js'
import type { RouterContext } from './routers/context.js'
import { emailChangeRouter } from './routers/email-change.js'
import { type OAuthFlowOptions, type OAuthRouterOptions, oauthAssociateRouter, oauthRouter } from './routers/oauth.js'
import { registerRouter } from './routers/register.js'
import { resetPasswordRouter } from './routers/reset.js'
import { secondFactorAdminRouter, secondFactorRouter } from './routers/second-factor.js'
import { type UsersRouterOptions, usersRouter } from './routers/users.js'
import { verifyRouter } from './routers/verify.js'
import { type UserSchemas, userSchemas } from './schemas.js'
import type { RouterOptions } from './scope.js'
import { type SecondFactorOptions, SecondFactors } from './second-factor.js'

export interface FastifyUsersOptions<U extends BaseUser> {
  manager: UserManager<U>
  /** Tried in this order to authenticate a request. */
  backends: AuthenticationBackend<U>[]
  /** The app's custom user fields: the request/response schemas and where clients may write each. */
  fields?: UserFields
  /** Where the OAuth routers keep linked provider accounts (e.g. createKyselyOAuthAccountStore). */
  oauthAccounts?: OAuthAccountStore
  /**
   * Where the OAuth routers record consumed states, shared by every instance of the service
   * (redisStateStore, createKyselyOAuthStateStore). Required by the OAuth routers unless they get a
   * `stateStore` of their own.
   */
  oauthStates?: OAuthStateStore
  /**
   * Rate limits and brute-force lock-out on login, refresh, register, forgot-password,
   * reset-password, request-verify-token and verify (see AuthRateLimiter). Off when absent.
   */
  rateLimit?: RateLimitOptions | AuthRateLimiter
  /**
   * fastapi-users' `BaseOAuthAccountMixin`: UserRead also lists the user's linked provider accounts
   * (`oauth_accounts`), wherever a route answers a user. Needs `oauthAccounts`, and `users.plugin`
   * registered before the routers. `true` leaves the provider's tokens out; `{ providerTokens: true }`
   * is fastapi-users' exact shape (see ReadOAuthAccountsOptions for the trade-off). Off by default.
   */
  readOAuthAccounts?: boolean | ReadOAuthAccountsOptions
  /**
   * The login pipeline's checks of the app's own, run in order once the credentials checked out and
   * before any token is written, on every backend's `/login` and after social login: each may refuse
   * (`LoginRefused(code)`) or ask for a second factor (`{ challenge: methods }`). See LoginCheck.
   */
  loginChecks?: LoginCheck<U>[]
  /**
   * Past fastapi-users: second factors (TOTP, recovery codes, an app's own), the `/login/2fa` step of
   * every backend and step-up for sensitive changes. Off when absent: users behave as in fastapi-users.
   */
  secondFactor?: SecondFactorOptions<U>
  /**
   * Past fastapi-users: WebAuthn passkeys (`new Passkeys({ store: createKyselyPasskeyStore(db), rpID, origin, … })`),
   * for `passkeysRouter`, `passkeyLoginRouter` and `passkeysAdminRouter`. Off when absent.
   */
  passkeys?: Passkeys
  /**
   * Past fastapi-users: the audit log of security events (logins that failed, lock-outs, sessions
   * ended…). A sink (createKyselyAuditSink(db), logAuditSink(log), functionAuditSink(fn)) or an
   * AuditLog of your own; call `users.audit.close()` on shutdown to flush it. Off when absent.
   */
  audit?: AuditLog | AuditSink
  /**
   * The languages your mails speak: each hook's context gets the request's choice among them as
   * `locale` (an explicit `?lang=` or `lang` cookie, then Accept-Language). Default: the built-in
   * `en`, `de`, `fr`, `es`; add the codes of languages you gave `mailTemplates({ locales })`.
   */
  locales?: readonly string[]
}

/**
 * fastapi-users' FastAPIUsers: one object that makes the routers and the `currentUser`
 * hooks for a manager and its backends. Mount each router with the prefix you want.
 */
export class FastifyUsers<U extends BaseUser> {
  readonly manager: UserManager<U>
  readonly backends: AuthenticationBackend<U>[]
  readonly schemas: UserSchemas
  readonly rateLimits: AuthRateLimiter | undefined
  /** The login pipeline, second factors and step-up (`requireRecentAuth`). */
  readonly secondFactors: SecondFactors<U>
  readonly passkeys: Passkeys | undefined
  /** The audit log, when `audit` was given. */
  readonly audit: AuditLog | undefined
  /** The languages hooks are told about (`locales`). */
  readonly locales: readonly string[]
  private readonly context: RouterContext<U>
  private readonly readOAuthAccounts: ReadOAuthAccountsOptions | undefined

  constructor(options: FastifyUsersOptions<U>) {
    if (!options.manager) throw new TypeError('FastifyUsers: `manager` is required')
    if (!options.backends?.length) throw new TypeError('FastifyUsers: at least one backend is required')
    const names = options.backends.map((b) => b.name)
    if (new Set(names).size !== names.length) throw new TypeError('FastifyUsers: backend names must be unique')
    this.manager = options.manager
    this.backends = options.backends
    const { readOAuthAccounts } = options
    this.readOAuthAccounts = readOAuthAccounts === true ? {} : readOAuthAccounts || undefined
    if (this.readOAuthAccounts && !options.oauthAccounts)
      throw new TypeError('FastifyUsers: `readOAuthAccounts` needs `oauthAccounts`')
    const schemas = userSchemas(options.fields, options.manager.idType)
    this.schemas = this.readOAuthAccounts ? withOAuthAccounts(schemas, this.readOAuthAccounts) : schemas
    const { rateLimit } = options
    this.passkeys = options.passkeys
    this.locales = options.locales ?? BUILT_IN_LOCALES
    const { audit } = options
    this.audit =
      audit instanceof AuditLog || !audit ? audit : new AuditLog({ sink: audit, logger: this.manager.logger })
    this.rateLimits = rateLimit instanceof AuthRateLimiter || !rateLimit ? rateLimit : new AuthRateLimiter(rateLimit)
    // A passkey is a second factor: with both on, a user with one is asked for it after the password.
    const wired = options.passkeys && options.secondFactor ? [passkeySecondFactor<U>(options.passkeys)] : []
    this.secondFactors = new SecondFactors(this.manager, options.secondFactor, options.loginChecks ?? [], wired)
    this.secondFactors.audit = this.audit
    this.context = {
      secondFactors: this.secondFactors,
      manager: this.manager,
      backends: this.backends,
      schemas: this.schemas,
      fields: options.fields ?? {},
      currentUser: (o) => this.currentUser(o),
      security: [...new Set(this.backends.map((b) => b.transport.openapi.schemeName))].map((name) => ({ [name]: [] })),
      oauthAccounts: options.oauthAccounts,
      oauthStates: options.oauthStates,
      rateLimits: this.rateLimits,
      audit: this.audit,
    }
    // A password change or reset, a deactivation, "log out everywhere": end every stored session.
    const refreshes = new Set(this.backends.flatMap((b) => (b.refresh ? [b.refresh] : [])))
    this.manager.onRevokeSessions(async (user) => {
      // Every store is tried even when one is down; the first failure is then reported (503).
      const results = await Promise.allSettled([
        ...this.backends.map((b) => b.strategy.destroyAllTokens?.(user)),
        ...[...refreshes].map((r) => r.revokeAll(user)),
      ])
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason
    })
    // The owner of an address proves it by mail: links made by whoever created the account before go,
    // and so does every session (one may have been opened through such a link).
    const { oauthAccounts } = options
    if (oauthAccounts) {
      this.manager.onMailboxProven(async (user, ctx) => {
        const dropped = await removeUnvouchedLinks(oauthAccounts, user)
        for (const account of dropped)
          this.manager.emit(
            {
              type: 'oauth.unlinked',
              outcome: 'success',
              user_id: String(user.id),
              reason: 'mailbox_proven',
              detail: { provider: account.oauth_name },
            },
            ctx,
          )
        if (dropped.length > 0) await this.manager.revokeSessions(user, { reason: 'mailbox_proven', ctx })
      })
    }
    // The audit log: the manager's own events (why sessions ended…) and the lock-out's refusals.
    const log = this.audit
    if (log) {
      this.manager.onEvent((event, ctx) => auditManagerEvent(log, event, ctx))
      this.rateLimits?.onLockout(async (request, username, scope) => {
        const user = await this.manager.getByEmail(username).catch(() => null)
        recordAudit(log, request, {
          type: 'login.locked',
          outcome: 'failure',
          reason: 'TOO_MANY_REQUESTS',
          ...(user ? { user_id: String(user.id) } : { email: username }),
          detail: { scope },
        })
      })
    }
  }

  /**
   * A preValidation hook that puts the authenticated user in `request.currentUser` (and `request.user`):
   * `app.get('/private', { preValidation: users.currentUser({ verified: true }) }, …)`.
   */
  currentUser(options: CurrentUserOptions<U> = {}): preValidationAsyncHookHandler {
    return currentUserHook(this.manager, this.backends, options)
  }

  /**
   * fastapi-users' `current_user_token(...)`: `currentUser(options)` that also puts the token the request
   * authenticated with, and its backend's name, in `request.currentToken`:
   * `app.get('/whoami', { preValidation: users.currentUserToken() }, (request) => request.currentToken?.backend)`.
   */
  currentUserToken(options: Omit<CurrentUserOptions<U>, 'token'> = {}): preValidationAsyncHookHandler {
    return currentUserHook(this.manager, this.backends, { ...options, token: true })
  }

  /**
   * Decorates `request.currentUser` once for the whole app (register it at the root, before the routers).
   * `request.user` is left undecorated, free for @fastify/jwt whether it is registered before or after.
   */
  get plugin(): FastifyPluginAsync {
    return fp(
      async (app) => {
        if (!app.hasRequestDecorator('currentUser')) app.decorateRequest('currentUser', null)
        if (!app.hasRequestDecorator('currentToken')) app.decorateRequest('currentToken', undefined)
        if (!app.hasDecorator('fastifyUsersLocales')) app.decorate('fastifyUsersLocales', this.locales)
        const { readOAuthAccounts, context } = this
        if (readOAuthAccounts && context.oauthAccounts)
          app.addHook('onRoute', readOAuthAccountsHook(this.schemas, context.oauthAccounts, readOAuthAccounts))
      },
      { name: 'fastify-users', fastify: '5.x' },
    )
  }

  authRouter(backend: AuthenticationBackend<U>, options?: AuthRouterOptions): FastifyPluginAsync {
    if (!this.backends.includes(backend))
      throw new TypeError(`authRouter: backend "${backend.name}" is not one of this FastifyUsers' backends`)
    return authRouter(this.context, backend, options)
  }

  /**
   * GET /authorize and /callback of social login with one provider, logging in through one
   * backend (fastapi-users' get_oauth_router); mount it at /auth/<provider name>.
   */
  oauthRouter(client: OAuthClient, backend: AuthenticationBackend<U>, options: OAuthRouterOptions): FastifyPluginAsync {
    if (!this.backends.includes(backend))
      throw new TypeError(`oauthRouter: backend "${backend.name}" is not one of this FastifyUsers' backends`)
    return oauthRouter(this.context, client, backend, options)
  }

  /**
   * GET /authorize and /callback for a signed-in user to link a provider account
   * (fastapi-users' get_oauth_associate_router); mount it at /auth/associate/<provider name>.
   */
  oauthAssociateRouter(client: OAuthClient, options: OAuthFlowOptions): FastifyPluginAsync {
    return oauthAssociateRouter(this.context, client, options)
  }

  /**
   * Past fastapi-users (needs the `secondFactor` option): GET /2fa, POST /2fa/totp/setup,
   * /2fa/totp/enable, /2fa/disable, /2fa/recovery-codes and /2fa/step-up; mount it at /auth.
   */
  secondFactorRouter(options?: RouterOptions): FastifyPluginAsync {
    if (!this.secondFactors.enabled) throw new TypeError('secondFactorRouter: the `secondFactor` option is not set')
    return secondFactorRouter(this.context, options)
  }

  /** DELETE /{id}/2fa: a superuser removes a user's second factors; mount it at /users. */
  secondFactorAdminRouter(options?: RouterOptions): FastifyPluginAsync {
    if (!this.secondFactors.enabled)
      throw new TypeError('secondFactorAdminRouter: the `secondFactor` option is not set')
    return secondFactorAdminRouter(this.context, options)
  }

  /**
   * A preHandler (after `currentUser`) answering 403 STEP_UP_REQUIRED when the user has a second
   * factor and this session did not authenticate within the step-up window; `when` narrows it to
   * the requests that need it. Users without a factor (or without `secondFactor`) pass.
   */
  requireRecentAuth(when?: (request: FastifyRequest) => boolean): preHandlerAsyncHookHandler {
    return this.secondFactors.requireRecentAuth(when)
  }

  registerRouter(options?: RouterOptions): FastifyPluginAsync {
    return registerRouter(this.context, options)
  }

  resetPasswordRouter(options?: RouterOptions): FastifyPluginAsync {
    return resetPasswordRouter(this.context, options)
  }

  verifyRouter(options?: RouterOptions): FastifyPluginAsync {
    return verifyRouter(this.context, options)
  }

  usersRouter(options?: UsersRouterOptions): FastifyPluginAsync {
    return usersRouter(this.context, options)
  }

  /**
   * Past fastapi-users: GET /users/me/events (the signed-in user's own events) and GET /audit-events
   * (superusers), read from `options.reader` or the audit log's sink when it can list
   * (createKyselyAuditSink); mount it at the root.
   */
  auditRouter(options: AuditRouterOptions = {}): FastifyPluginAsync {
    const sink = this.audit?.sink as (AuditSink & Partial<AuditReader>) | undefined
    const reader = options.reader ?? (typeof sink?.list === 'function' ? (sink as AuditReader) : undefined)
    if (!reader)
      throw new TypeError('auditRouter: no `reader`, and the `audit` sink cannot list (use createKyselyAuditSink)')
    return auditRouter(this.context, reader, options)
  }

  /** Past fastapi-users: the signed-in user's passkeys (register, list, rename, delete); mount it at /auth. */
  passkeysRouter(options?: PasskeyRouterOptions): FastifyPluginAsync {
    return passkeysRouter(this.context, this.requirePasskeys('passkeysRouter'), options)
  }

  /** Past fastapi-users: sign-in with a passkey alone through one backend; mount it at that backend's prefix. */
  passkeyLoginRouter(backend: AuthenticationBackend<U>, options?: PasskeyRouterOptions): FastifyPluginAsync {
    if (!this.backends.includes(backend))
      throw new TypeError(`passkeyLoginRouter: backend "${backend.name}" is not one of this FastifyUsers' backends`)
    return passkeyLoginRouter(this.context, this.requirePasskeys('passkeyLoginRouter'), backend, options)
  }

  /** Past fastapi-users: DELETE /{id}/passkeys for superusers; mount it at /users. */
  passkeysAdminRouter(options?: PasskeyRouterOptions): FastifyPluginAsync {
    return passkeysAdminRouter(this.context, this.requirePasskeys('passkeysAdminRouter'), options)
  }

  private requirePasskeys(router: string): Passkeys {
    if (!this.passkeys) throw new TypeError(`${router}: FastifyUsers has no \`passkeys\``)
    return this.passkeys
  }

  /**
   * Past fastapi-users: POST /confirm-email-change, which moves a user to the address it asked for
   * (the manager's `emailChange: 'confirm'`); mount it at /auth.
   */
  emailChangeRouter(options?: RouterOptions): FastifyPluginAsync {
    return emailChangeRouter(this.context, options)
  }

  /**
   * GET /.well-known/jwks.json: the public keys of every asymmetric JWT backend, so other
   * services verify our access tokens without a secret. Register it at the root.
   */
  jwksRouter(): FastifyPluginAsync {
    return async (instance) => {
      instance.get(
        '/.well-known/jwks.json',
        { exposeHeadRoute: false, schema: { hide: true } },
        async (_request, reply) => {
          const sets = await Promise.all(
            this.backends.map((b) => (b.strategy as { publicJwks?: () => Promise<unknown[]> }).publicJwks?.() ?? []),
          )
          return reply.header('cache-control', 'public, max-age=300').send({ keys: sets.flat() })
        },
      )
    }
  }

  /** `components.securitySchemes` for @fastify/swagger: one per backend. */
  securitySchemes(): Record<string, Record<string, unknown>> {
    return Object.fromEntries(this.backends.map((b) => [b.transport.openapi.schemeName, b.transport.openapi.scheme]))
  }
}
