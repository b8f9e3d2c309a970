// The README's library example, kept compiling and tested (test/library/example.test.ts).
import Fastify from 'fastify'
import {
  authenticationBackend,
  BearerTransport,
  CookieTransport,
  defineUserFields,
  FastifyUsers,
  fastapiCompat,
  InvalidPasswordError,
  JWTStrategy,
  registerOpenApi,
  UserManager,
  type UserOf,
} from 'fastify-users'
import { createKyselyUserStore, migrateToLatest, openDatabase } from 'fastify-users/kysely'
import { Type } from 'typebox'

// 1. The user model: fastapi-users' base user plus your own fields, each saying who may write and read it
//    (README, "Custom fields: who writes and reads them"). Without `write`, only superusers may write a field.
const fields = defineUserFields({
  // sent at registration, changed by the user (PATCH /users/me) and by superusers, in every answer
  first_name: {
    schema: Type.String({ maxLength: 100 }),
    nullable: true,
    write: { register: 'required', self: true, admin: true },
  },
})
type User = UserOf<typeof fields>

// `request.currentUser` is typed as User in every route.
declare module 'fastify-users' {
  interface Register {
    user: User
  }
}

export async function buildExampleApp(databaseUrl: string, secret: string, events: string[] = []) {
  // 2. The database: SQLite, PostgreSQL or MariaDB, by URL.
  const database = openDatabase(databaseUrl)
  await migrateToLatest(database, { fields })

  // 3. The manager: every rule about users, with your hooks and password policy.
  const manager = new UserManager<User>({
    store: createKyselyUserStore<User>(database, fields),
    secret,
    validatePassword: (password) => {
      if (password.length < 8) throw new InvalidPasswordError('Password should be at least 8 characters')
    },
    hooks: {
      onAfterRegister: (user) => void events.push(`registered ${user.email}`),
      onAfterForgotPassword: (user, token) => void events.push(`reset token for ${user.email}: ${token.length > 0}`),
    },
  })

  // 4. Authentication backends: a transport (how the token travels) and a strategy (what it is).
  const jwt = authenticationBackend<User>({
    name: 'jwt',
    transport: new BearerTransport({ tokenUrl: 'auth/jwt/login' }),
    strategy: new JWTStrategy<User>({
      secret,
      lifetimeSeconds: 3600,
      claims: (user) => ({ first_name: user.first_name }), // custom claims in the access token
    }),
  })
  const cookie = authenticationBackend<User>({
    name: 'cookie',
    transport: new CookieTransport({ cookieMaxAge: 3600 }),
    strategy: new JWTStrategy<User>({ secret, lifetimeSeconds: 3600 }),
  })
  // rate limits and login lock-out (429 TOO_MANY_REQUESTS); { redis, keyPrefix } shares them between instances
  const users = new FastifyUsers<User>({ manager, backends: [jwt, cookie], fields, rateLimit: { store: 'memory' } })

  // 5. The app: FastAPI-shaped errors, OpenAPI + Swagger UI, the routers.
  const app = Fastify()
  app.addHook('onClose', () => database.close())
  await app.register(fastapiCompat)
  await registerOpenApi(app, { title: 'My API', securitySchemes: users.securitySchemes() })
  await app.register(users.plugin)
  await app.register(users.authRouter(jwt), { prefix: '/auth/jwt' })
  await app.register(users.authRouter(cookie), { prefix: '/auth/cookie' })
  await app.register(users.registerRouter(), { prefix: '/auth' })
  await app.register(users.resetPasswordRouter(), { prefix: '/auth' })
  await app.register(users.verifyRouter(), { prefix: '/auth' })
  await app.register(users.usersRouter(), { prefix: '/users' })

  // 6. Your own routes, protected like fastapi-users' current_user(...) dependencies.
  app.get('/protected', { preValidation: users.currentUser({ active: true }) }, async (request) => ({
    message: `Hello ${request.currentUser?.first_name ?? request.currentUser?.email}`,
  }))
  app.get('/admin', { preValidation: users.currentUser({ superuser: true }) }, async () => ({ ok: true }))
  app.get('/maybe', { preValidation: users.currentUser({ optional: true }) }, async (request) => ({
    user: request.currentUser?.email ?? null,
  }))
  return app
}
