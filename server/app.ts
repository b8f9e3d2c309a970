import Fastify, { type FastifyInstance } from 'fastify'
import {
  authenticationBackend,
  BearerTransport,
  backgroundMailer,
  createKyselyUserStore,
  FastifyUsers,
  fastapiCompat,
  JWTStrategy,
  logDelivery,
  migrateToLatest,
  openDatabase,
  registerOpenApi,
  resetPasswordMail,
  smtpDelivery,
  UserManager,
  verifyMail,
  welcomeMail,
} from 'fastify-users'
import { decodeJwt } from 'jose'
import type { Config } from './config'
import { accessTokenClaims, type User, userFields, validatePassword } from './user'

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

/**
 * Builds the reference service (the app fastify-users started from): a User with
 * `first_name`, one JWT backend at /auth/jwt whose tokens carry custom claims, the five
 * routers, mail hooks, Swagger UI at /docs. Listening is main.ts's job.
 */
export async function buildApp(config: Config, options: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger === false ? false : { level: config.logLevel, redact: LOG_REDACT },
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
  })

  const database = openDatabase(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    timeoutMs: config.databaseTimeoutMs,
  })
  app.addHook('onClose', () => database.close())
  const report = await migrateToLatest(database, { fields: userFields })
  if (report.applied.length || report.addedColumns.length) app.log.info(report, 'database migrated')

  const delivery = config.smtpUrl
    ? smtpDelivery({ url: config.smtpUrl, from: config.mailFrom })
    : logDelivery({ logger: app.log, includeBody: !config.production })
  const mailer = backgroundMailer(delivery, app.log)
  app.addHook('onClose', () => mailer.close())
  app.decorate('mailer', mailer)

  const manager = new UserManager<User>({
    store: createKyselyUserStore<User>(database, userFields),
    secret: config.secret,
    resetPasswordToken: { lifetimeSeconds: config.resetPasswordTokenLifetime },
    verificationToken: { lifetimeSeconds: config.verificationTokenLifetime },
    validatePassword,
    logger: app.log,
    hooks: {
      onAfterRegister: (user) => {
        app.log.info({ userId: user.id }, 'user has registered')
        mailer.enqueue({ to: user.email, ...welcomeMail(user, config.publicUrl) })
      },
      onAfterLogin: (user, ctx) => {
        const { first_name, role } = ctx.token ? decodeJwt(ctx.token) : {}
        app.log.info({ userId: user.id, claims: { first_name, role } }, 'user logged in')
      },
      onAfterForgotPassword: (user, token) => {
        app.log.info({ userId: user.id }, 'user has forgot their password')
        mailer.enqueue({ to: user.email, ...resetPasswordMail(user, token, config.publicUrl) })
      },
      onAfterRequestVerify: (user, token) => {
        app.log.info({ userId: user.id }, 'verification requested')
        mailer.enqueue({ to: user.email, ...verifyMail(user, token, config.publicUrl) })
      },
    },
  })

  const jwt = authenticationBackend<User>({
    name: 'jwt',
    transport: new BearerTransport({ tokenUrl: 'auth/jwt/login' }),
    strategy: new JWTStrategy<User>({
      secret: config.secret,
      lifetimeSeconds: config.accessTokenLifetime,
      claims: accessTokenClaims,
    }),
  })
  const users = new FastifyUsers<User>({ manager, backends: [jwt], fields: userFields })
  app.decorate('users', users)

  await app.register(fastapiCompat)
  await registerOpenApi(app, {
    title: 'fastify-users',
    description: 'The fastify-users reference service: fastapi-users 12.1 compatible user management.',
    securitySchemes: users.securitySchemes(),
  })
  await app.register(users.plugin)

  const requiresVerification = config.requireVerification
  await app.register(users.authRouter(jwt, { requiresVerification }), { prefix: '/auth/jwt' })
  await app.register(users.registerRouter(), { prefix: '/auth' })
  await app.register(users.resetPasswordRouter(), { prefix: '/auth' })
  await app.register(users.verifyRouter(), { prefix: '/auth' })
  await app.register(users.usersRouter({ requiresVerification }), { prefix: '/users' })

  app.get(
    '/authenticated-route',
    { schema: { hide: true }, exposeHeadRoute: false, preValidation: users.currentUser({ active: true }) },
    async (request) => ({ message: `Hello ${request.user?.email}!` }),
  )

  if (config.firstSuperuser) await ensureSuperuser(manager, config.firstSuperuser, app)
  return app
}

async function ensureSuperuser(
  manager: UserManager<User>,
  admin: { email: string; password: string },
  app: FastifyInstance,
) {
  if (await manager.getByEmail(admin.email)) return
  await manager.create(
    { email: admin.email, password: admin.password, is_superuser: true, is_verified: true, first_name: null },
    { safe: false },
  )
  app.log.info({ email: admin.email }, 'first superuser created')
}

declare module 'fastify' {
  interface FastifyInstance {
    mailer: ReturnType<typeof backgroundMailer>
    users: FastifyUsers<User>
  }
}
