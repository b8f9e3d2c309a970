import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'
import { Type } from 'typebox'
import { passwordFingerprint } from '../../src/core/tokens.js'
import {
  type AuthenticationBackend,
  authenticationBackend,
  BearerTransport,
  CookieTransport,
  DatabaseStrategy,
  defineUserFields,
  FastifyUsers,
  type FastifyUsersOptions,
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
  createKyselyOAuthAccountStore,
  createKyselyOAuthStateStore,
  createKyselyRefreshTokenStore,
  createKyselyUserStore,
  type Database,
  migrateToLatest,
  openDatabase,
} from '../../src/kysely.js'
import { oidcClient } from '../../src/oauth.js'
import { RedisStrategy } from '../../src/redis.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { Browser, freePort, OIDC_CLIENT, type OidcProvider, oidcFlows, startOidcProvider } from '../support/oauth.js'
import { openRedis, testRedisUrl } from '../support/redis.js'

// fastapi-users' Python API pieces a library app uses: current_user_token, get_enabled_backends and the
// login veto (onBeforeLogin), through real routes on every database, with the bearer JWT, cookie + database
// and Redis backends.

const SECRET = 'python-api-secret-0123456789abcdef-xyz'
const PASSWORD = 'a-long-enough-password'
const fields = defineUserFields({ first_name: { schema: Type.String({ maxLength: 100 }), nullable: true } })
type User = UserOf<typeof fields>

interface LibraryApp {
  app: FastifyInstance
  manager: UserManager<User>
  database: Database
  redis: Redis
  redisPrefix: string
  backends: Record<'jwt' | 'cookie' | 'redis', AuthenticationBackend<User>>
  close(): Promise<void>
}

interface BuildOptions {
  manager?: Partial<UserManagerOptions<User>>
  users?: Pick<FastifyUsersOptions<User>, 'readOAuthAccounts'>
  /** Social login with the loopback OpenID provider at /auth/test and /auth/associate/test (the app listens on `port`). */
  oauth?: { issuer: string; port: number }
}

/** A library app on `kind` with three backends and the routes under test. */
async function buildApp(kind: DatabaseKind, redisUrl: string, options: BuildOptions = {}): Promise<LibraryApp | null> {
  const manager = options.manager ?? {}
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
    oauthAccounts: createKyselyOAuthAccountStore(database),
    oauthStates: createKyselyOAuthStateStore(database),
    ...options.users,
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
  const { oauth } = options
  if (oauth) {
    const base = `http://127.0.0.1:${oauth.port}`
    const client = oidcClient({
      name: 'test',
      clientId: OIDC_CLIENT.id,
      clientSecret: OIDC_CLIENT.secret,
      issuer: oauth.issuer,
      allowInsecureRequests: true,
    })
    const common = { stateSecret: SECRET, csrfCookieSecure: false }
    await app.register(
      fastifyUsers.oauthRouter(client, backends.jwt, { ...common, redirectUrl: `${base}/auth/test/callback` }),
      { prefix: '/auth/test' },
    )
    await app.register(
      fastifyUsers.oauthAssociateRouter(client, { ...common, redirectUrl: `${base}/auth/associate/test/callback` }),
      { prefix: '/auth/associate/test' },
    )
  }

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
  if (oauth) await app.listen({ port: oauth.port, host: '127.0.0.1' })
  return {
    app,
    manager: users,
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
        manager: {
          hooks: {
            onBeforeLogin: (user, ctx) => {
              if (!user.email.startsWith('suspended')) return
              vetoed.push(`${ctx.method}:${ctx.backend}`)
              throw new LoginRefused('LOGIN_ACCOUNT_SUSPENDED')
            },
            onAfterLogin: (user) => void afterLogins.push(user.email),
          },
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

for (const kind of databaseKinds()) {
  describe(`Python API: oauth_callback, oauth_associate_callback, oauth_accounts in UserRead (${kind})`, () => {
    let provider: OidcProvider
    let lib: LibraryApp | null = null
    let exact: LibraryApp | null = null
    let bases: [string, string] = ['', '']
    const vetoed: string[] = []
    before(async () => {
      const redisUrl = await testRedisUrl()
      if (!redisUrl) return
      const ports = [await freePort(), await freePort()]
      bases = ports.map((port) => `http://127.0.0.1:${port}`) as [string, string]
      provider = await startOidcProvider(
        bases.flatMap((base) => [`${base}/auth/test/callback`, `${base}/auth/associate/test/callback`]),
      )
      const manager: Partial<UserManagerOptions<User>> = {
        hooks: {
          onBeforeLogin: (user, ctx) => {
            if (!user.email.startsWith('suspended')) return
            vetoed.push(`${ctx.method}:${ctx.backend}:${ctx.oauthName}`)
            throw new LoginRefused('LOGIN_ACCOUNT_SUSPENDED')
          },
        },
        // refuse one domain; give new users a first name
        oauthCallback: (input, next) => {
          if (input.identity.accountEmail?.endsWith('@blocked.example')) throw new LoginRefused('OAUTH_DOMAIN_REFUSED')
          return next({ ...input, options: { ...input.options, fields: { first_name: `via ${input.oauthName}` } } })
        },
        oauthAssociateCallback: (input, next) => {
          if (input.identity.accountEmail?.endsWith('@elsewhere.example')) throw new LoginRefused('OAUTH_LINK_REFUSED')
          return next(input)
        },
      }
      lib = await buildApp(kind, redisUrl, {
        manager,
        users: { readOAuthAccounts: true },
        oauth: { issuer: provider.issuer, port: ports[0] as number },
      })
      exact = await buildApp(kind, redisUrl, {
        manager,
        users: { readOAuthAccounts: { providerTokens: true } },
        oauth: { issuer: provider.issuer, port: ports[1] as number },
      })
    })
    after(async () => {
      await lib?.close()
      await exact?.close()
      await provider?.close()
    })
    const it = (name: string, body: (lib: LibraryApp, exact: LibraryApp) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!lib || !exact) return t.skip(`${kind} or Redis is not reachable locally`)
        await body(lib, exact)
      })
    const flows = (which: 0 | 1) => oidcFlows(bases[which], provider)
    const countUsers = async (database: Database, email: string) =>
      (await database.db.selectFrom('user').select('id').where('email', '=', email).execute()).length

    it('oauth_callback wrapped: a refused domain is a 400 with the code, and no user is created', async ({
      database,
    }) => {
      const { sub, email } = flows(0).account('blocked', { email: `${newEmail('b').split('@')[0]}@blocked.example` })
      assert.deepEqual(await flows(0).signIn(sub), [400, { detail: 'OAUTH_DOMAIN_REFUSED' }])
      assert.equal(await countUsers(database, email), 0)
    })

    it('oauth_callback wrapped: a new user gets the custom field the wrapper sets', async ({ app }) => {
      const { sub, email } = flows(0).account('fields')
      const [status, body] = (await flows(0).signIn(sub)) as [number, { access_token: string }]
      assert.equal(status, 200)
      const me = await app.inject({
        method: 'GET',
        url: '/users/me',
        headers: { authorization: `Bearer ${body.access_token}` },
      })
      assert.equal(me.statusCode, 200)
      assert.deepEqual([me.json().email, me.json().first_name], [email, 'via test'])
    })

    it('the login veto also refuses a social login, before any token is issued', async ({ database }) => {
      const { sub, email } = flows(0).account('suspended', { email: `suspended-${newEmail('o')}` })
      vetoed.length = 0
      assert.deepEqual(await flows(0).signIn(sub), [400, { detail: 'LOGIN_ACCOUNT_SUSPENDED' }])
      assert.deepEqual(vetoed, ['oauth:jwt:test'])
      const [user] = await database.db.selectFrom('user').select('id').where('email', '=', email).execute()
      const refreshTokens = await database.db
        .selectFrom('refresh_token')
        .selectAll()
        .where('user_id', '=', user?.id)
        .execute()
      assert.deepEqual(refreshTokens, [])
    })

    /** A local user signed in with a password, and a browser for the association flow. */
    async function signedIn(app: FastifyInstance) {
      const email = newEmail('local')
      await register(app, email)
      const token = (await login(app, 'jwt', email)).json().access_token as string
      return { email, token }
    }

    it('oauth_associate_callback wrapped: a refused link is a 400 with the code, and nothing is linked', async ({
      app,
    }) => {
      const { token } = await signedIn(app)
      const account = flows(0).account('elsewhere', { email: `${newEmail('e').split('@')[0]}@elsewhere.example` })
      const browser = new Browser()
      const { callback } = await flows(0).authorize(browser, account.sub, { prefix: '/auth/associate/test', token })
      assert.deepEqual(await flows(0).get(browser, callback, token), [400, { detail: 'OAUTH_LINK_REFUSED' }])
      const me = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })
      assert.deepEqual(me.json().oauth_accounts, [])
    })

    it('oauth_accounts in UserRead, without the provider tokens: association, /users/me and /users/{id}', async ({
      app,
      manager,
    }) => {
      const { email, token } = await signedIn(app)
      const account = flows(0).account('linked')
      const browser = new Browser()
      const { callback } = await flows(0).authorize(browser, account.sub, { prefix: '/auth/associate/test', token })
      const [status, linked] = (await flows(0).get(browser, callback, token)) as [number, Record<string, unknown>]
      assert.equal(status, 200)
      const accounts = linked.oauth_accounts as Record<string, unknown>[]
      assert.equal(accounts.length, 1)
      assert.deepEqual(Object.keys(accounts[0] ?? {}), [
        'id',
        'oauth_name',
        'expires_at',
        'account_id',
        'account_email',
      ])
      assert.deepEqual(
        [accounts[0]?.oauth_name, accounts[0]?.account_id, accounts[0]?.account_email],
        ['test', account.sub, account.email],
      )
      assert.equal(typeof accounts[0]?.expires_at, 'number')
      const auth = { authorization: `Bearer ${token}` }
      const me = await app.inject({ method: 'GET', url: '/users/me', headers: auth })
      assert.deepEqual(me.json(), { ...linked, email })
      const patched = await app.inject({
        method: 'PATCH',
        url: '/users/me',
        headers: auth,
        payload: { first_name: 'Ada' },
      })
      assert.deepEqual(patched.json().oauth_accounts, accounts)
      const admin = newEmail('admin')
      await manager.create({ email: admin, password: PASSWORD, is_superuser: true }, { safe: false })
      const adminAuth = credential(await login(app, 'jwt', admin), 'jwt')
      const byId = await app.inject({ method: 'GET', url: `/users/${linked.id}`, headers: adminAuth })
      assert.deepEqual(byId.json().oauth_accounts, accounts)
      // the superusers' list and creation answer UserRead too
      const listed = await app.inject({
        method: 'GET',
        url: `/users?email=${encodeURIComponent(email)}`,
        headers: adminAuth,
      })
      assert.deepEqual(
        [listed.statusCode, listed.json()],
        [200, { items: [me.json()], total: 1, limit: 50, offset: 0 }],
      )
      const byAdmin = await app.inject({
        method: 'POST',
        url: '/users',
        headers: adminAuth,
        payload: { email: newEmail('y'), password: PASSWORD },
      })
      assert.deepEqual([byAdmin.statusCode, byAdmin.json().oauth_accounts], [201, []])
      // a user without links has an empty list, from registration on
      const fresh = await app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { email: newEmail('x'), password: PASSWORD },
      })
      assert.deepEqual([fresh.statusCode, fresh.json().oauth_accounts], [201, []])
    })

    it("oauth_accounts with providerTokens: fastapi-users' exact BaseOAuthAccount shape", async (_lib, { app }) => {
      const { sub } = flows(1).account('exact')
      const [status, body] = (await flows(1).signIn(sub)) as [number, { access_token: string }]
      assert.equal(status, 200)
      const me = await app.inject({
        method: 'GET',
        url: '/users/me',
        headers: { authorization: `Bearer ${body.access_token}` },
      })
      const [account] = me.json().oauth_accounts as Record<string, unknown>[]
      assert.deepEqual(Object.keys(account ?? {}), [
        'id',
        'oauth_name',
        'access_token',
        'expires_at',
        'refresh_token',
        'account_id',
        'account_email',
      ])
      assert.equal(typeof account?.access_token, 'string')
      assert.ok(String(account?.access_token).length > 0)
    })
  })
}

for (const kind of databaseKinds()) {
  describe(`Python API: reset and verification tokens' audience and algorithm (${kind})`, () => {
    let lib: LibraryApp | null = null
    const mailed = new Map<string, string>()
    before(async () => {
      const redisUrl = await testRedisUrl()
      if (!redisUrl) return
      lib = await buildApp(kind, redisUrl, {
        manager: {
          resetPasswordToken: { audience: 'acme:reset', algorithm: 'HS512' },
          verificationToken: { audience: 'acme:verify', algorithm: 'HS384' },
          hooks: {
            onAfterForgotPassword: (user, token) => void mailed.set(`reset:${user.email}`, token),
            onAfterRequestVerify: (user, token) => void mailed.set(`verify:${user.email}`, token),
          },
        },
      })
    })
    after(async () => lib?.close())
    const it = (name: string, body: (lib: LibraryApp) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!lib) return t.skip(`${kind} or Redis is not reachable locally`)
        await body(lib)
      })
    const secret = new TextEncoder().encode(SECRET)
    const sign = (claims: Record<string, unknown>, alg: string) =>
      new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).setExpirationTime('1h').sign(secret)
    const answer = async (app: FastifyInstance, url: string, payload: object) => {
      const res = await app.inject({ method: 'POST', url, payload })
      return [res.statusCode, res.json()]
    }

    it('reset tokens carry the configured audience and algorithm; the default audience no longer works', async ({
      app,
      database,
    }) => {
      const email = newEmail('reset')
      await register(app, email)
      assert.equal(
        (await app.inject({ method: 'POST', url: '/auth/forgot-password', payload: { email } })).statusCode,
        202,
      )
      const token = mailed.get(`reset:${email}`) as string
      assert.deepEqual([decodeProtectedHeader(token).alg, decodeJwt(token).aud], ['HS512', 'acme:reset'])
      const [row] = await database.db
        .selectFrom('user')
        .select(['id', 'hashed_password'])
        .where('email', '=', email)
        .execute()
      const claims = { sub: row?.id, password_fgpt: passwordFingerprint(String(row?.hashed_password), SECRET) }
      const BAD = [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }]
      const reset = (t: string) => answer(app, '/auth/reset-password', { token: t, password: 'a-brand-new-password' })
      assert.deepEqual(await reset(await sign({ ...claims, aud: 'fastapi-users:reset' }, 'HS512')), BAD)
      assert.deepEqual(await reset(await sign({ ...claims, aud: 'acme:reset' }, 'HS256')), BAD)
      assert.deepEqual(await reset(token), [200, null])
    })

    it('a token minted like PyJWT with the configured audience and algorithm is accepted', async ({
      app,
      database,
    }) => {
      const email = newEmail('minted')
      await register(app, email)
      const [row] = await database.db
        .selectFrom('user')
        .select(['id', 'hashed_password'])
        .where('email', '=', email)
        .execute()
      const claims = { sub: row?.id, password_fgpt: passwordFingerprint(String(row?.hashed_password), SECRET) }
      const token = await sign({ ...claims, aud: 'acme:reset' }, 'HS512')
      assert.deepEqual(await answer(app, '/auth/reset-password', { token, password: 'a-brand-new-password' }), [
        200,
        null,
      ])
    })

    it('verification tokens carry the configured audience and algorithm; the default audience no longer works', async ({
      app,
      database,
    }) => {
      const email = newEmail('verify')
      await register(app, email)
      await app.inject({ method: 'POST', url: '/auth/request-verify-token', payload: { email } })
      const token = mailed.get(`verify:${email}`) as string
      assert.deepEqual([decodeProtectedHeader(token).alg, decodeJwt(token).aud], ['HS384', 'acme:verify'])
      const [row] = await database.db.selectFrom('user').select('id').where('email', '=', email).execute()
      const BAD = [400, { detail: 'VERIFY_USER_BAD_TOKEN' }]
      assert.deepEqual(
        await answer(app, '/auth/verify', {
          token: await sign({ sub: row?.id, email, aud: 'fastapi-users:verify' }, 'HS384'),
        }),
        BAD,
      )
      assert.deepEqual(
        await answer(app, '/auth/verify', { token: await sign({ sub: row?.id, email, aud: 'acme:verify' }, 'HS256') }),
        BAD,
      )
      const [status, user] = await answer(app, '/auth/verify', { token })
      assert.deepEqual([status, (user as { is_verified: boolean }).is_verified], [200, true])
    })
  })
}
