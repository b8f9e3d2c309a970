import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import {
  type AuthenticationBackend,
  authenticationBackend,
  BearerTransport,
  CookieTransport,
  DatabaseStrategy,
  defineUserFields,
  FastifyUsers,
  fastapiCompat,
  JWTStrategy,
  LoginRefused,
  RefreshTokens,
  UserManager,
  type UserManagerOptions,
  type UserOf,
} from '../../src/index.js'
import {
  createKyselyAccessTokenStore,
  createKyselyRefreshTokenStore,
  createKyselyUserStore,
  type Database,
  migrateToLatest,
  openDatabase,
} from '../../src/kysely.js'
import { RedisStrategy } from '../../src/redis.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { openRedis, testRedisUrl } from '../support/redis.js'

// fastapi-users' Python API pieces a library app uses: current_user_token, get_enabled_backends and the
// login veto (onBeforeLogin), through real routes on every database, with the bearer JWT, cookie + database
// and Redis backends.

const SECRET = 'python-api-secret-0123456789abcdef-xyz'
const PASSWORD = 'a-long-enough-password'
const fields = defineUserFields({})
type User = UserOf<typeof fields>

interface LibraryApp {
  app: FastifyInstance
  database: Database
  redis: Redis
  redisPrefix: string
  backends: Record<'jwt' | 'cookie' | 'redis', AuthenticationBackend<User>>
  close(): Promise<void>
}

/** A library app on `kind` with three backends and the routes under test; `manager` adds manager options. */
async function buildApp(
  kind: DatabaseKind,
  redisUrl: string,
  manager: Partial<UserManagerOptions<User>> = {},
): Promise<LibraryApp | null> {
  const testDatabase: TestDatabase | null = await createTestDatabase(kind)
  if (!testDatabase) return null
  const database = openDatabase(testDatabase.url)
  await migrateToLatest(database, { fields })
  const redis = openRedis(redisUrl)
  const redisPrefix = `fastify-users-test:pyapi:${newEmail('prefix')}:`
  const users = new UserManager<User>({
    store: createKyselyUserStore<User>(database, fields),
    secret: SECRET,
    ...manager,
  })
  const backends = {
    jwt: authenticationBackend<User>({
      name: 'jwt',
      transport: new BearerTransport({ tokenUrl: 'auth/jwt/login' }),
      strategy: new JWTStrategy<User>({ secret: SECRET, lifetimeSeconds: 3600 }),
      refresh: new RefreshTokens({ store: createKyselyRefreshTokenStore(database), lifetimeSeconds: 3600 }),
    }),
    cookie: authenticationBackend<User>({
      name: 'cookie',
      transport: new CookieTransport({ cookieMaxAge: 3600, cookieSecure: false }),
      strategy: new DatabaseStrategy<User>({ store: createKyselyAccessTokenStore(database), lifetimeSeconds: 3600 }),
    }),
    redis: authenticationBackend<User>({
      name: 'redis',
      transport: new BearerTransport({ tokenUrl: 'auth/redis/login', schemeName: 'OAuth2PasswordBearerRedis' }),
      strategy: new RedisStrategy<User>({ redis, lifetimeSeconds: 3600, keyPrefix: redisPrefix }),
    }),
  }
  const fastifyUsers = new FastifyUsers<User>({
    manager: users,
    backends: [backends.jwt, backends.cookie, backends.redis],
    fields,
  })
  const app = Fastify()
  await app.register(fastapiCompat)
  await app.register(fastifyUsers.plugin)
  for (const backend of Object.values(backends)) {
    await app.register(fastifyUsers.authRouter(backend), { prefix: `/auth/${backend.name}` })
  }
  await app.register(fastifyUsers.registerRouter(), { prefix: '/auth' })
  await app.register(fastifyUsers.resetPasswordRouter(), { prefix: '/auth' })
  await app.register(fastifyUsers.verifyRouter(), { prefix: '/auth' })
  await app.register(fastifyUsers.usersRouter(), { prefix: '/users' })

  app.get('/whoami', { preValidation: fastifyUsers.currentUserToken() }, async (request) => ({
    email: request.currentUser?.email,
    backend: request.currentToken?.backend,
    token: request.currentToken?.token,
  }))
  app.get('/maybe', { preValidation: fastifyUsers.currentUserToken({ optional: true }) }, async (request) => ({
    token: request.currentToken,
  }))
  app.get(
    '/cookie-only',
    { preValidation: fastifyUsers.currentUser({ enabledBackends: () => [backends.cookie] }) },
    async (request) => ({ email: request.currentUser?.email }),
  )
  app.get(
    '/bearer-only',
    {
      preValidation: fastifyUsers.currentUserToken({ enabledBackends: async () => [backends.redis, backends.jwt] }),
    },
    async (request) => ({ backend: request.currentToken?.backend }),
  )
  // a per-request choice: the header names the one backend this request may use
  app.get(
    '/chosen',
    {
      preValidation: fastifyUsers.currentUserToken({
        enabledBackends: (request) => Object.values(backends).filter((b) => b.name === request.headers['x-backend']),
      }),
    },
    async (request) => ({ backend: request.currentToken?.backend }),
  )
  await app.ready()
  return {
    app,
    database,
    redis,
    redisPrefix,
    backends,
    async close() {
      await app.close()
      await database.close()
      const keys = await redis.keys(`${redisPrefix}*`)
      if (keys.length) await redis.del(...keys)
      redis.disconnect()
      await testDatabase.drop()
    },
  }
}

const form = (username: string, password: string) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams({ username, password }).toString(),
})

async function register(app: FastifyInstance, email: string) {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
  assert.equal(res.statusCode, 201, res.body)
}

async function login(app: FastifyInstance, backend: string, email: string) {
  return app.inject({ method: 'POST', url: `/auth/${backend}/login`, ...form(email, PASSWORD) })
}

/** The credential a login answered with, as the next request sends it. */
function credential(
  res: { json(): { access_token?: string }; headers: Record<string, unknown> },
  backend: string,
): Record<string, string> {
  if (backend === 'cookie') return { cookie: String(res.headers['set-cookie']).split(';')[0] as string }
  return { authorization: `Bearer ${res.json().access_token}` }
}

for (const kind of databaseKinds()) {
  describe(`Python API: current_user_token, get_enabled_backends, login veto (${kind})`, () => {
    let lib: LibraryApp | null = null
    const vetoed: string[] = []
    const afterLogins: string[] = []
    before(async () => {
      const redisUrl = await testRedisUrl()
      if (!redisUrl) return
      lib = await buildApp(kind, redisUrl, {
        hooks: {
          onBeforeLogin: (user, ctx) => {
            if (!user.email.startsWith('suspended')) return
            vetoed.push(`${ctx.method}:${ctx.backend}`)
            throw new LoginRefused('LOGIN_ACCOUNT_SUSPENDED')
          },
          onAfterLogin: (user) => void afterLogins.push(user.email),
        },
      })
    })
    after(async () => lib?.close())
    const it = (name: string, body: (lib: LibraryApp) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!lib) return t.skip(`${kind} or Redis is not reachable locally`)
        await body(lib)
      })

    it('current_user_token: the route gets the user, the token and the backend that accepted it', async ({ app }) => {
      const email = newEmail('token')
      await register(app, email)
      for (const backend of ['jwt', 'cookie', 'redis']) {
        const res = await login(app, backend, email)
        assert.ok(res.statusCode < 300, res.body)
        const headers = credential(res, backend)
        const whoami = await app.inject({ method: 'GET', url: '/whoami', headers })
        assert.equal(whoami.statusCode, 200)
        const expectedToken = backend === 'cookie' ? headers.cookie?.split('=')[1] : res.json().access_token
        assert.deepEqual(whoami.json(), { email, backend, token: expectedToken })
      }
      assert.deepEqual(
        [(await app.inject('/whoami')).statusCode, (await app.inject('/whoami')).json()],
        [401, { detail: 'Unauthorized' }],
      )
      assert.deepEqual((await app.inject('/maybe')).json(), { token: null })
    })

    it('get_enabled_backends: a cookie-only route refuses a valid bearer token, a bearer-only route the cookie', async ({
      app,
    }) => {
      const email = newEmail('enabled')
      await register(app, email)
      const bearer = credential(await login(app, 'jwt', email), 'jwt')
      const redis = credential(await login(app, 'redis', email), 'redis')
      const cookie = credential(await login(app, 'cookie', email), 'cookie')
      const get = (url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers })
      const answer = async (url: string, headers: Record<string, string>) => {
        const res = await get(url, headers)
        return [res.statusCode, res.json()]
      }
      const unauthorized = [401, { detail: 'Unauthorized' }]
      assert.deepEqual(await answer('/cookie-only', bearer), unauthorized)
      assert.deepEqual(await answer('/cookie-only', redis), unauthorized)
      assert.deepEqual(await answer('/cookie-only', cookie), [200, { email }])
      assert.deepEqual(await answer('/bearer-only', cookie), unauthorized)
      assert.deepEqual(await answer('/bearer-only', bearer), [200, { backend: 'jwt' }])
      assert.deepEqual(await answer('/bearer-only', redis), [200, { backend: 'redis' }])
      // with both credentials, only the enabled backend's counts
      assert.deepEqual(await answer('/cookie-only', { ...bearer, ...cookie }), [200, { email }])
      // chosen per request
      assert.deepEqual(await answer('/chosen', { ...redis, 'x-backend': 'redis' }), [200, { backend: 'redis' }])
      assert.deepEqual(await answer('/chosen', { ...redis, 'x-backend': 'jwt' }), unauthorized)
      assert.deepEqual(await answer('/chosen', { ...cookie, 'x-backend': 'nothing' }), unauthorized)
      // the users router keeps every backend
      for (const headers of [bearer, redis, cookie]) assert.equal((await get('/users/me', headers)).statusCode, 200)
    })

    it('login veto: LoginRefused answers 400 with its code on every backend, and writes no token, cookie or session', async ({
      app,
      database,
      redis,
      redisPrefix,
    }) => {
      const email = newEmail('suspended')
      await register(app, email)
      const [user] = await database.db.selectFrom('user').select('id').where('email', '=', email).execute()
      const countRows = async (table: string) =>
        (await database.db.selectFrom(table).selectAll().where('user_id', '=', user?.id).execute()).length
      vetoed.length = 0
      afterLogins.length = 0
      const redisKeys = (await redis.keys(`${redisPrefix}*`)).sort()
      for (const backend of ['jwt', 'cookie', 'redis']) {
        const res = await login(app, backend, email)
        assert.deepEqual([res.statusCode, res.json()], [400, { detail: 'LOGIN_ACCOUNT_SUSPENDED' }], backend)
        assert.equal(res.headers['set-cookie'], undefined, backend)
      }
      assert.deepEqual(vetoed, ['password:jwt', 'password:cookie', 'password:redis'])
      assert.deepEqual(afterLogins, [], 'onAfterLogin never ran')
      assert.equal(await countRows('accesstoken'), 0)
      assert.equal(await countRows('refresh_token'), 0)
      assert.deepEqual((await redis.keys(`${redisPrefix}*`)).sort(), redisKeys)
      // a wrong password is still a wrong password: the veto runs only after the check
      const wrong = await app.inject({ method: 'POST', url: '/auth/jwt/login', ...form(email, 'not-the-password') })
      assert.deepEqual([wrong.statusCode, wrong.json()], [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
      assert.equal(vetoed.length, 3)
    })

    it('login veto: a refresh token cannot renew a session the veto now refuses', async ({ app, database }) => {
      // not suspended at login, suspended afterwards (its address changed by an admin)
      const email = newEmail('later')
      await register(app, email)
      const res = await login(app, 'jwt', email)
      assert.equal(res.statusCode, 200)
      const suspended = `suspended-${email}`
      await database.db.updateTable('user').set({ email: suspended }).where('email', '=', email).execute()
      const refresh = await app.inject({
        method: 'POST',
        url: '/auth/jwt/refresh',
        payload: { refresh_token: res.json().refresh_token },
      })
      assert.deepEqual([refresh.statusCode, refresh.json()], [400, { detail: 'LOGIN_ACCOUNT_SUSPENDED' }])
    })

    it('LoginRefused takes only codes', () => {
      assert.throws(() => new LoginRefused('not a code'), TypeError)
      assert.equal(new LoginRefused().code, 'LOGIN_REFUSED')
      return Promise.resolve()
    })
  })
}
