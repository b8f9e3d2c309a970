import cluster from 'node:cluster'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import {
  type AuditSink,
  FastifyUsers,
  fastapiCompat,
  functionAuditSink,
  type HookContext,
  healthRoutes,
  logAuditSink,
  multiAuditSink,
  registerOpenApi,
  startAuditRetention,
  TotpFactor,
  UserAlreadyExists,
  UserManager,
} from 'fastify-users'
import {
  createKyselyAuditSink,
  createKyselyPasskeyStore,
  createKyselySecondFactorStores,
  createKyselyTotpStore,
  createKyselyUserStore,
  migrateToLatest,
  openDatabase,
  pingDatabase,
} from 'fastify-users/kysely'
import { backgroundMailer, logDelivery, mailTemplates, smtpDelivery } from 'fastify-users/mail'
import { hostedPages, redactTokenQuery } from 'fastify-users/pages'
import { Passkeys } from 'fastify-users/passkeys'
import { decodeJwt } from 'jose'
import { createBackends, openRedis, sessionLimit } from './backends.js'
import { type Config, DEVELOPMENT_SECRET } from './config.js'
import { developmentLogStream } from './logging.js'
import { oauthAccountStore, oauthStateStore, registerOAuthRouters } from './oauth.js'
import { servicePasswordHasher } from './passwords.js'
import { createRateLimiter, trustProxyOption } from './rate-limit.js'
import { redocRoutes } from './redoc.js'
import { frameworkErrors, securityHeaders } from './security-headers.js'
import { loginIdentifiers, serviceUserFields, type User, validatePassword } from './user.js'

/** Never in a log line: credentials, tokens, hashes. */
export const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.hashed_password',
  '*.token',
  '*.access_token',
]

/** Fastify's request log fields, with the tokens of mail links (`/verify?token=…`) taken out of the URL. */
function requestLogFields(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactTokenQuery(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

/**
 * Builds the reference service (the app fastify-users started from): a User with
 * `first_name`, one JWT backend at /auth/jwt whose tokens carry custom claims, the five
 * routers, mail hooks, Swagger UI at /docs and ReDoc at /redoc. Listening is main.ts's job.
 */
export async function buildApp(
  config: Config,
  options: {
    logger?: boolean /** Where log lines go instead of stdout (tests). */
    logStream?: { write(line: string): void }
    /** Now, for the second factors (TOTP steps, tickets, step-ups): tests move it instead of sleeping. */
    clock?: () => Date
    /** Another place audit events go, beside what AUDIT_LOG chooses (tests collect them here). */
    auditSink?: AuditSink
  } = {},
): Promise<FastifyInstance> {
  const stream = options.logStream ?? (config.prettyLogs ? await developmentLogStream() : undefined)
  const app = Fastify({
    logger:
      options.logger === false
        ? false
        : {
            level: config.logLevel,
            redact: LOG_REDACT,
            serializers: { req: requestLogFields },
            ...(stream && { stream }),
          },
    bodyLimit: config.bodyLimit,
    // A request trickled in (a byte every few seconds) is answered 408 and closed, never held open:
    // the whole request within REQUEST_TIMEOUT_MS, its headers within HEADERS_TIMEOUT_MS. Node checks
    // its connections' clocks every connectionsCheckingInterval (30 s by default: too coarse here).
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
    },
    return503OnClosing: true,
    trustProxy: trustProxyOption(config),
    frameworkErrors: frameworkErrors(config),
  })
  if (config.secret === DEVELOPMENT_SECRET) {
    app.log.warn(
      'SECRET is not set: tokens are signed with the public development default; set SECRET before anyone else can reach this service',
    )
  }
  await securityHeaders(app, config)
  if (config.trustProxy === false) warnOfUntrustedProxy(app)

  const database = openDatabase(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    timeoutMs: config.databaseTimeoutMs,
    userIdType: config.userIdType,
    tables: config.tables,
  })
  app.addHook('onClose', () => database.close())
  const userFields = serviceUserFields(config.loginWithUsername)
  const identifiers = loginIdentifiers(config.loginWithUsername)
  const report = await migrateToLatest(database, { fields: userFields, loginIdentifiers: identifiers })
  if (report.applied.length || report.addedColumns.length || report.identitiesAssigned)
    app.log.info(report, 'database migrated')

  const delivery = config.smtpUrl
    ? smtpDelivery({ url: config.smtpUrl, from: config.mailFrom })
    : logDelivery({ logger: app.log, includeBody: !config.production })
  const mailer = backgroundMailer(delivery, app.log)
  app.addHook('onClose', () => mailer.close())
  app.decorate('mailer', mailer)
  // Mails speak the language of the request that caused them (a hook's ctx.locale), else DEFAULT_LOCALE.
  const mails = mailTemplates({ defaultLocale: config.defaultLocale })

  // A hook's log line carries its request's id (reqId) when a request caused it.
  const logOf = (ctx: HookContext) => ctx.request?.log ?? app.log
  const manager = new UserManager<User>({
    store: createKyselyUserStore<User>(database, userFields, { loginIdentifiers: identifiers }),
    secret: config.secret,
    resetPasswordToken: { lifetimeSeconds: config.resetPasswordTokenLifetime },
    verificationToken: { lifetimeSeconds: config.verificationTokenLifetime },
    emailChange: config.emailChange,
    emailChangeToken: { lifetimeSeconds: config.emailChangeTokenLifetime },
    validatePassword,
    // hashing is bounded so that a login flood cannot take every core from the event loops
    passwords: servicePasswordHasher(config),
    maxPasswordLength: config.maxPasswordLength,
    logger: app.log,
    hooks: {
      onAfterRegister: (user, ctx) => {
        logOf(ctx).info({ userId: user.id }, 'user has registered')
        mailer.enqueue({ to: user.email, ...mails.welcome(user, config.publicUrl, ctx.locale) })
      },
      onAfterLogin: (user, ctx) => {
        const { first_name, role } = jwtClaims(ctx.token)
        logOf(ctx).info({ userId: user.id, claims: { first_name, role } }, 'user logged in')
      },
      onAfterForgotPassword: (user, token, ctx) => {
        logOf(ctx).info({ userId: user.id }, 'user has forgot their password')
        mailer.enqueue({ to: user.email, ...mails.resetPassword(user, token, config.publicUrl, ctx.locale) })
      },
      // The owner hears of a credential change: a new password, or the address moved (told at the old one).
      onAfterUpdate: (user, changes, ctx) => {
        if (changes.password)
          mailer.enqueue({ to: user.email, ...mails.passwordChanged(user, config.publicUrl, ctx.locale) })
        if (ctx.previousEmail) {
          logOf(ctx).info({ userId: user.id }, 'e-mail address changed: the old address is told')
          mailer.enqueue({
            to: ctx.previousEmail,
            ...mails.emailChanged(user, user.email, config.publicUrl, ctx.locale),
          })
        }
      },
      onAfterResetPassword: (user, ctx) => {
        logOf(ctx).info({ userId: user.id }, 'user has reset their password')
        mailer.enqueue({ to: user.email, ...mails.passwordChanged(user, config.publicUrl, ctx.locale) })
      },
      // EMAIL_CHANGE=confirm: the link goes to the new address; the old one is told once it is confirmed (above).
      onAfterRequestEmailChange: (user, newEmail, token, ctx) => {
        logOf(ctx).info({ userId: user.id }, 'e-mail change requested: a link goes to the new address')
        mailer.enqueue({ to: newEmail, ...mails.emailChange(user, newEmail, token, config.publicUrl, ctx.locale) })
      },
      // The owner hears that the account is gone (its own DELETE /users/me, or a superuser's).
      onAfterDelete: (user, ctx) => {
        logOf(ctx).info({ userId: user.id }, 'user deleted')
        mailer.enqueue({ to: user.email, ...mails.accountDeleted(user, config.publicUrl, ctx.locale) })
      },
      onAfterRequestVerify: (user, token, ctx) => {
        logOf(ctx).info({ userId: user.id }, 'verification requested')
        mailer.enqueue({ to: user.email, ...mails.verify(user, token, config.publicUrl, ctx.locale) })
      },
    },
  })

  const redis = config.redis ? await openRedis(config.redis, config.redisTimeoutMs, app) : undefined
  const limit = sessionLimit(config)
  const backends = createBackends(config, database, redis, limit)
  // WebAuthn passkeys (PASSKEYS=true): the owner hears of each one added or removed.
  const passkeys =
    config.passkeys &&
    new Passkeys({
      store: createKyselyPasskeyStore(database),
      ...config.passkeys,
      hooks: {
        onPasskeyAdded: (user, passkey, ctx) =>
          mailer.enqueue({ to: user.email, ...mails.passkeyAdded(user, passkey.name, config.publicUrl, ctx.locale) }),
        onPasskeysRemoved: (user, removed, ctx) =>
          mailer.enqueue({
            to: user.email,
            ...mails.passkeysRemoved(
              user,
              removed.map((p) => p.name),
              config.publicUrl,
              ctx.locale,
            ),
          }),
      },
    })
  // The audit log (AUDIT_LOG): the auth_event table, pruned past AUDIT_RETENTION_DAYS, and/or log lines.
  // Each worker (WEB_CONCURRENCY) writes its own events and prunes too: concurrent prunes are harmless.
  const auditStore =
    config.auditLog === 'database' || config.auditLog === 'both' ? createKyselyAuditSink(database) : undefined
  const auditSinks = [
    auditStore,
    (config.auditLog === 'log' || config.auditLog === 'both') && logAuditSink(app.log),
    options.auditSink,
  ].filter((sink): sink is AuditSink => !!sink)
  if (auditStore) {
    const stopRetention = startAuditRetention(auditStore, { days: config.auditRetentionDays, logger: app.log })
    app.addHook('onClose', stopRetention)
  }
  const users = new FastifyUsers<User>({
    manager,
    passkeys,
    backends,
    fields: userFields,
    oauthAccounts: oauthAccountStore(database),
    oauthStates: oauthStateStore(database, redis),
    rateLimit: createRateLimiter(config, { redis, database }, app),
    // The audit log always exists (METRICS counts logins from its events); without a sink it keeps nothing.
    audit:
      auditSinks.length === 0
        ? functionAuditSink(() => {})
        : auditSinks.length === 1
          ? (auditSinks[0] as AuditSink)
          : multiAuditSink(...auditSinks),
    // TWO_FACTOR: TOTP and recovery codes, /login/2fa on every backend, step-up (a user without a factor: unchanged)
    ...(config.twoFactor && {
      secondFactor: {
        stores: createKyselySecondFactorStores(database),
        secret: config.secret,
        totp: new TotpFactor<User>({
          store: createKyselyTotpStore(database),
          encryptionKey: config.twoFactor.encryptionKey ?? config.secret,
          issuer: config.twoFactor.issuer,
          clock: options.clock,
        }),
        stepUpWindowSeconds: config.twoFactor.stepUpWindowSeconds,
        afterOAuth: config.twoFactor.afterOAuth,
        clock: options.clock,
        onFactorChange: (user, change, ctx) => {
          logOf(ctx).info({ userId: user.id, ...change }, 'second factor changed')
          mailer.enqueue({ to: user.email, ...mails.secondFactorChanged(user, change, config.publicUrl, ctx.locale) })
        },
      },
    }),
  })
  app.decorate('users', users)
  // MAX_SESSIONS_PER_USER: the sessions the cap ends are recorded once per login that ended any.
  limit?.onEnded((user, ended) =>
    users.audit?.record({
      type: 'session.ended',
      outcome: 'success',
      user_id: String(user.id),
      reason: 'cap',
      detail: { sessions: ended },
    }),
  )
  // Events still queued are written before the database closes (onClose hooks run in reverse order).
  app.addHook('onClose', async () => users.audit?.close())

  await app.register(fastapiCompat)
  // Before the routes, whose requests it counts; a worker's /metrics answers for every worker (main.ts).
  if (config.metrics) {
    // prom-client is loaded only when metrics are on: a start without them does not pay for it
    const [{ Registry }, { clusterWorkerScrape, metricsPlugin }] = await Promise.all([
      import('prom-client'),
      import('fastify-users/metrics'),
    ])
    const registry = new Registry()
    const scrape = cluster.isWorker ? clusterWorkerScrape(registry) : undefined
    const metricsOptions = { registry, users, database, redis, token: config.metrics.token, scrape }
    await app.register(metricsPlugin, metricsOptions)
  }
  await registerOpenApi(app, {
    title: 'fastify-users',
    description: 'The fastify-users reference service: fastapi-users 12.1 compatible user management.',
    securitySchemes: users.securitySchemes(),
  })
  await app.register(redocRoutes, { title: 'fastify-users' })
  await app.register(users.plugin)
  // /health (liveness) and /ready (the database and Redis answer), outside the OpenAPI document.
  // From app.drain() (main.ts, on SIGTERM) or the start of app.close(), /ready answers 503.
  let draining = false
  app.decorate('drain', () => {
    draining = true
  })
  app.addHook('preClose', async () => {
    draining = true
  })
  await app.register(healthRoutes, {
    draining: () => draining,
    checks: { database: () => pingDatabase(database), ...(redis && { redis: () => redis.ping() }) },
    timeoutMs: Math.max(config.databaseTimeoutMs, config.redisTimeoutMs),
  })

  const requiresVerification = config.requireVerification
  for (const backend of backends) {
    const prefix = backend.name === 'jwt' ? config.loginUriPrefix : `/auth/${backend.name}`
    await app.register(users.authRouter(backend, { requiresVerification }), { prefix })
  }
  await app.register(users.jwksRouter())
  await app.register(users.registerRouter(), { prefix: '/auth' })
  await app.register(users.resetPasswordRouter(), { prefix: '/auth' })
  await app.register(users.verifyRouter(), { prefix: '/auth' })
  if (config.emailChange === 'confirm') await app.register(users.emailChangeRouter(), { prefix: '/auth' })
  await app.register(users.usersRouter({ requiresVerification, selfDelete: config.selfDelete }), { prefix: '/users' })
  // GET /users/me/events and GET /audit-events, where events are stored
  if (auditStore) await app.register(users.auditRouter({ reader: auditStore, requiresVerification }))
  if (config.twoFactor) {
    await app.register(users.secondFactorRouter(), { prefix: '/auth' })
    await app.register(users.secondFactorAdminRouter(), { prefix: '/users' })
  }
  await registerOAuthRouters(app, users, backends[0] as (typeof backends)[number], config)
  if (passkeys) {
    for (const backend of backends) {
      const prefix = backend.name === 'jwt' ? config.loginUriPrefix : `/auth/${backend.name}`
      await app.register(users.passkeyLoginRouter(backend, { requiresVerification }), { prefix })
    }
    await app.register(users.passkeysRouter({ requiresVerification }), { prefix: '/auth' })
    await app.register(users.passkeysAdminRouter({ requiresVerification }), { prefix: '/users' })
  }

  // The hosted pages the mail links open (PAGES=false turns them off); the rules are validatePassword's.
  if (config.pages) {
    await app.register(hostedPages, {
      appName: 'fastify-users',
      api: { login: `${config.loginUriPrefix}/login`, logout: `${config.loginUriPrefix}/logout` },
      twoFactor: config.twoFactor !== undefined,
      signUpFields: [
        { name: 'first_name', autocomplete: 'given-name', required: true },
        ...(config.loginWithUsername ? [{ name: 'username', autocomplete: 'username', maxLength: 32 }] : []),
      ],
      signInWithUsername: config.loginWithUsername,
      passwordRules: [{ kind: 'minLength', value: 8 }, { kind: 'notContainingEmail' }],
      redirectRoot: true,
      confirmEmailChange: config.emailChange === 'confirm',
      accountDeletion: config.selfDelete,
      passkeys: !!passkeys,
      defaultLocale: config.defaultLocale,
    })
  }

  app.get(
    '/authenticated-route',
    { schema: { hide: true }, exposeHeadRoute: false, preValidation: users.currentUser({ active: true }) },
    async (request) => ({ message: `Hello ${request.currentUser?.email}!` }),
  )

  // Benchmark only (BENCH_CEILING_ROUTE=true): a bare JSON route through the same hooks, the bench's ceiling.
  if (config.benchCeilingRoute) {
    app.get('/bench/ceiling', { schema: { hide: true }, exposeHeadRoute: false }, async () => ({ hello: 'world' }))
  }

  if (config.firstSuperuser) await ensureSuperuser(manager, config.firstSuperuser, app)
  return app
}

/** Logged once per app (process) when TRUST_PROXY is off and a request says it came through a proxy. */
export const UNTRUSTED_PROXY_WARNING =
  'requests carry X-Forwarded-For or Forwarded but TRUST_PROXY is off: every client behind that proxy shares its address, and so its rate limits; set TRUST_PROXY to the proxy (README, "Proxies")'

function warnOfUntrustedProxy(app: FastifyInstance) {
  let warned = false
  app.addHook('onRequest', (request, _reply, done) => {
    if (!warned && (request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined)) {
      warned = true
      app.log.warn({ remoteAddress: request.ip }, UNTRUSTED_PROXY_WARNING)
    }
    done()
  })
}

/**
 * Creates FIRST_SUPERUSER_EMAIL unless it exists. Idempotent under races: of instances starting
 * together, one creates the user and the others find it there (their insert loses to the unique
 * index) and carry on.
 */
async function ensureSuperuser(
  manager: UserManager<User>,
  admin: { email: string; password: string },
  app: FastifyInstance,
) {
  if (await manager.getByEmail(admin.email)) return
  try {
    await manager.create(
      { email: admin.email, password: admin.password, is_superuser: true, is_verified: true, first_name: null },
      { safe: false },
    )
  } catch (error) {
    if (error instanceof UserAlreadyExists) return
    throw error
  }
  app.log.info({ email: admin.email }, 'first superuser created')
}

/** The claims of an access token; nothing for an opaque one (a database or Redis session id). */
function jwtClaims(token: string | undefined): Record<string, unknown> {
  try {
    return token ? decodeJwt(token) : {}
  } catch {
    return {}
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    mailer: ReturnType<typeof backgroundMailer>
    /** Shutting down: /ready answers 503 from now on; every other route still serves. */
    drain(): void
    users: FastifyUsers<User>
  }
}
