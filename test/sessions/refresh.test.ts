/**
 * Refresh tokens with rotation and reuse detection, on every database: the reference service's
 * /auth/jwt (Bearer + JWT with refresh), and a small library app whose /auth/cookie (Cookie +
 * database) has refresh enabled too, as the reference service does not.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, type TestContext, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import {
  authenticationBackend,
  BearerTransport,
  CookieTransport,
  DatabaseStrategy,
  FastifyUsers,
  fastapiCompat,
  JWTStrategy,
  RefreshTokens,
  UserManager,
} from 'fastify-users'
import {
  createKyselyAccessTokenStore,
  createKyselyRefreshTokenStore,
  createKyselyUserStore,
  type Database,
  migrateToLatest,
  openDatabase,
} from 'fastify-users/kysely'
import { decodeJwt } from 'jose'
import { type User, userFields, validatePassword } from '../../server/user.js'
import { client, TEST_SECRET } from '../support/app.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import {
  ACCESS_COOKIE,
  type Api,
  adminToken,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  bearerRefresh,
  CSRF_FAILED,
  HOSTILE_ORIGIN,
  NO_CONTENT,
  postLogin,
  REFRESH_COOKIE,
  registered,
  reply,
  rows,
  service,
  setCookie,
  sleep,
  UNAUTHORIZED,
  withCookies,
} from './helpers.js'

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')
const THIRTY_DAYS = 30 * 24 * 3600

// ---------------------------------------------------------------------------------------------
// The reference service: /auth/jwt with refresh

for (const kind of databaseKinds()) {
  // Strict rotation: with REFRESH_REUSE_INTERVAL=0 every reuse revokes (the interval: refresh-grace.test.ts).
  describe(`${kind}: refresh tokens at /auth/jwt (REFRESH_REUSE_INTERVAL=0)`, () => {
    const { it } = service(kind, { REFRESH_REUSE_INTERVAL: '0' })

    it('login answers {access_token, token_type, refresh_token} with an opaque 43-character refresh token', async ({
      api,
    }) => {
      const user = await registered(api)
      const body = await bearerLogin(api, '/auth/jwt', user.email)
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'refresh_token', 'token_type'])
      assert.equal(body.token_type, 'bearer')
      assert.match(body.refresh_token as string, TOKEN_SHAPE)
    })

    it('refresh: 200 with a new pair; the new access token works', async ({ api }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      const res = await bearerRefresh(api, login.refresh_token as string)
      assert.equal(res.statusCode, 200, res.body)
      const body = res.json()
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'refresh_token', 'token_type'])
      assert.equal(body.token_type, 'bearer')
      assert.match(body.refresh_token, TOKEN_SHAPE)
      assert.notEqual(body.refresh_token, login.refresh_token)
      const claims = decodeJwt(body.access_token)
      assert.equal(claims.sub, user.id)
      assert.deepEqual(claims.aud, ['fastapi-users:auth'])
      assert.equal(claims.first_name, 'Ann')
      assert.equal(claims.role, 'user')
      await assertMe(api, bearer(body.access_token), user.email)
    })

    it('a chain of rotations works, each token once', async ({ api }) => {
      const user = await registered(api)
      let refresh = (await bearerLogin(api, '/auth/jwt', user.email)).refresh_token as string
      for (let i = 0; i < 4; i++) {
        const res = await bearerRefresh(api, refresh)
        assert.equal(res.statusCode, 200, `rotation ${i}: ${res.body}`)
        refresh = res.json().refresh_token
      }
    })

    it('reuse: the spent token is refused (401) and the whole family dies, the new token too', async ({ api }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      const rotated = (await bearerRefresh(api, login.refresh_token as string)).json()
      assert.deepEqual(reply(await bearerRefresh(api, login.refresh_token as string)), UNAUTHORIZED)
      assert.deepEqual(reply(await bearerRefresh(api, rotated.refresh_token)), UNAUTHORIZED)
    })

    it('reuse kills only its own family: another login’s refresh token still works', async ({ api }) => {
      const user = await registered(api)
      const first = await bearerLogin(api, '/auth/jwt', user.email)
      const second = await bearerLogin(api, '/auth/jwt', user.email)
      await bearerRefresh(api, first.refresh_token as string)
      assert.deepEqual(reply(await bearerRefresh(api, first.refresh_token as string)), UNAUTHORIZED)
      assert.equal((await bearerRefresh(api, second.refresh_token as string)).statusCode, 200)
    })

    it('stored hashed: rows hold the SHA-256 of the token, never the token', async ({ api, db }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      const rotated = (await bearerRefresh(api, login.refresh_token as string)).json()
      const found = await rows(db, 'refresh_token', ['user_id', user.id])
      assert.equal(found.length, 2)
      const dump = JSON.stringify(found)
      for (const token of [login.refresh_token as string, rotated.refresh_token as string]) {
        assert.ok(!dump.includes(token), 'no clear refresh token in refresh_token')
        assert.ok(!dump.includes(Buffer.from(token, 'base64url').toString('hex')), 'not its hex either')
      }
      assert.deepEqual(
        found.map((r) => r.token_hash).sort(),
        [sha256(login.refresh_token as string), sha256(rotated.refresh_token as string)].sort(),
      )
      // One family (one login), the backend's name, the user; the first is spent, the second not.
      assert.equal(new Set(found.map((r) => r.family_id)).size, 1)
      assert.ok(found.every((r) => r.backend === 'jwt' && String(r.user_id).toLowerCase() === user.id))
      const spent = found.find((r) => r.token_hash === sha256(login.refresh_token as string))
      const live = found.find((r) => r.token_hash === sha256(rotated.refresh_token as string))
      assert.notEqual(spent?.used_at, null)
      assert.equal(live?.used_at, null)
    })

    it('no table holds a refresh or access token in clear', async ({ api, db }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      const dump = JSON.stringify([
        await rows(db, 'refresh_token'),
        await rows(db, 'accesstoken'),
        await rows(db, 'user', ['id', user.id]),
      ])
      assert.ok(!dump.includes(login.refresh_token as string))
      assert.ok(!dump.includes(login.access_token))
    })

    it('concurrent refresh of one token: exactly one 200, the others 401', async ({ api }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      const results = await Promise.all(
        Array.from({ length: 8 }, () => bearerRefresh(api, login.refresh_token as string)),
      )
      const statuses = results.map((r) => r.statusCode).sort()
      assert.deepEqual(statuses, [200, 401, 401, 401, 401, 401, 401, 401])
    })

    it('concurrent reuse still ends the family: the winner’s new refresh token is refused (401)', async ({ api }) => {
      // Presenting a spent token revokes the whole family: the token issued to the request that
      // won the race belongs to it, whatever the order the requests finish in.
      for (let round = 0; round < 5; round++) {
        const user = await registered(api)
        const login = await bearerLogin(api, '/auth/jwt', user.email)
        const results = await Promise.all(
          Array.from({ length: 4 }, () => bearerRefresh(api, login.refresh_token as string)),
        )
        // The winner is answered 200 when its successor is stored before a loser revokes the family, and
        // 401 when the revocation comes first (the successor is then never stored): either way, every
        // other request is 401 and nothing of the family works afterwards.
        const winners = results.filter((r) => r.statusCode === 200)
        assert.ok(winners.length <= 1, `round ${round}: at most one refresh succeeded`)
        for (const r of results.filter((r) => r.statusCode !== 200)) assert.deepEqual(reply(r), UNAUTHORIZED)
        for (const token of [login.refresh_token as string, ...winners.map((w) => w.json().refresh_token)])
          assert.deepEqual(
            reply(await bearerRefresh(api, token)),
            UNAUTHORIZED,
            `round ${round}: the family is dead after reuse`,
          )
      }
    })

    it('logout with {"refresh_token"} ends its family (401 afterwards)', async ({ api }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      const res = await api.send({
        method: 'POST',
        url: '/auth/jwt/logout',
        headers: bearer(login.access_token, { 'content-type': 'application/json' }),
        payload: { refresh_token: login.refresh_token },
      })
      assert.deepEqual(reply(res), NO_CONTENT)
      assert.deepEqual(reply(await bearerRefresh(api, login.refresh_token as string)), UNAUTHORIZED)
    })

    it('missing, empty, unknown or non-string refresh tokens: 401', async ({ api }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      const send = (payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
        api.send({ method: 'POST', url: '/auth/jwt/refresh', headers, payload: payload as never })
      for (const payload of [{}, { refresh_token: '' }, { refresh_token: 'z'.repeat(43) }, { refresh_token: 42 }]) {
        assert.deepEqual(reply(await send(payload)), UNAUTHORIZED, JSON.stringify(payload))
      }
      // The access token is no refresh token, and no body at all is a 401 too.
      assert.deepEqual(reply(await send({ refresh_token: login.access_token })), UNAUTHORIZED)
      assert.deepEqual(reply(await api.send({ method: 'POST', url: '/auth/jwt/refresh' })), UNAUTHORIZED)
      // The refresh token is never an access token.
      await assertRefused(api, bearer(login.refresh_token as string), 'a refresh token as access token')
    })

    it('refresh is a /auth/jwt route only: /auth/cookie/refresh is 404 in the reference service', async ({ api }) => {
      const res = await api.send({ method: 'POST', url: '/auth/cookie/refresh' })
      assert.equal(res.statusCode, 404, res.body)
    })

    it('the refresh rows cascade when the user is deleted', async ({ api, db }) => {
      const user = await registered(api)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      assert.equal((await rows(db, 'refresh_token', ['user_id', user.id])).length, 1)
      assert.deepEqual(reply(await api.delete(`/users/${user.id}`, await adminToken(api))), NO_CONTENT)
      assert.deepEqual(await rows(db, 'refresh_token', ['user_id', user.id]), [])
      assert.deepEqual(reply(await bearerRefresh(api, login.refresh_token as string)), UNAUTHORIZED)
    })

    it('expires_at is REFRESH_TOKEN_LIFETIME (30 days by default) after the login', async ({ api, db }) => {
      const user = await registered(api)
      await bearerLogin(api, '/auth/jwt', user.email)
      const [row] = await rows(db, 'refresh_token', ['user_id', user.id])
      const time = (v: unknown) =>
        v instanceof Date ? v.getTime() : new Date(`${String(v).replace(' ', 'T').slice(0, 23)}Z`).getTime()
      const lifetime = (time(row?.expires_at) - time(row?.created_at)) / 1000
      assert.ok(Math.abs(lifetime - THIRTY_DAYS) < 2, `lifetime ${lifetime}`)
      assert.ok(Math.abs(time(row?.created_at) - Date.now()) < 10_000, `created_at ${String(row?.created_at)} is now`)
    })
  })
}

// ---------------------------------------------------------------------------------------------
// A library app: Cookie + database with refresh at /auth/cookie, Bearer + JWT with refresh at /auth/jwt

async function buildRefreshApp(database: Database, refreshLifetimeSeconds: number): Promise<FastifyInstance> {
  await migrateToLatest(database, { fields: userFields })
  const manager = new UserManager<User>({
    store: createKyselyUserStore<User>(database, userFields),
    secret: TEST_SECRET,
    validatePassword,
  })
  const refresh = new RefreshTokens({
    store: createKyselyRefreshTokenStore(database),
    lifetimeSeconds: refreshLifetimeSeconds,
  })
  const cookie = authenticationBackend<User>({
    name: 'cookie',
    transport: new CookieTransport({ cookieMaxAge: 3600, csrf: { trustedOrigins: ['https://app.example.com'] } }),
    strategy: new DatabaseStrategy<User>({ store: createKyselyAccessTokenStore(database), lifetimeSeconds: 3600 }),
    refresh,
  })
  const jwt = authenticationBackend<User>({
    name: 'jwt',
    transport: new BearerTransport({ tokenUrl: 'auth/jwt/login' }),
    strategy: new JWTStrategy<User>({ secret: TEST_SECRET, lifetimeSeconds: 3600 }),
    refresh,
  })
  const users = new FastifyUsers<User>({ manager, backends: [cookie, jwt], fields: userFields })
  const app = Fastify()
  await app.register(fastapiCompat)
  await app.register(users.plugin)
  await app.register(users.authRouter(cookie), { prefix: '/auth/cookie' })
  await app.register(users.authRouter(jwt), { prefix: '/auth/jwt' })
  await app.register(users.registerRouter(), { prefix: '/auth' })
  await app.register(users.usersRouter(), { prefix: '/users' })
  await app.ready()
  return app
}

interface LibraryApp {
  app: FastifyInstance
  api: Api
  db: Database
}

function libraryApp(kind: DatabaseKind, refreshLifetimeSeconds: number) {
  let testDb: TestDatabase | null = null
  let current: LibraryApp | null = null
  before(async () => {
    testDb = await createTestDatabase(kind)
    if (!testDb) return
    const database = openDatabase(testDb.url)
    const app = await buildRefreshApp(database, refreshLifetimeSeconds)
    current = { app, api: client(app), db: database }
  })
  after(async () => {
    await current?.app.close()
    await current?.db.close()
    await testDb?.drop()
  })
  return (name: string, body: (s: LibraryApp) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!current) return t.skip(`${kind} is not reachable locally`)
      await body(current)
    })
}

/** POST /auth/cookie/refresh with the refresh cookie. */
const cookieRefresh = (api: Api, refreshToken: string, headers: Record<string, string> = {}) =>
  api.send({
    method: 'POST',
    url: '/auth/cookie/refresh',
    headers: withCookies({ [REFRESH_COOKIE]: refreshToken }, headers),
  })

/** A cookie login: both cookies' values. */
async function cookiePair(api: Api, email: string, password: string) {
  const res = await postLogin(api, '/auth/cookie', email, password)
  assert.equal(res.statusCode, 204, res.body)
  return {
    access: setCookie(res, ACCESS_COOKIE)?.value as string,
    refresh: setCookie(res, REFRESH_COOKIE)?.value as string,
  }
}

const byCookie = (access: string) => withCookies({ [ACCESS_COOKIE]: access })

for (const kind of databaseKinds()) {
  describe(`${kind}: refresh tokens at /auth/cookie (library app)`, () => {
    const it = libraryApp(kind, 3600)

    it('login: 204 with the access cookie and an HttpOnly refresh cookie scoped to /auth/cookie', async ({ api }) => {
      const user = await registered(api)
      const res = await postLogin(api, '/auth/cookie', user.email, user.password)
      assert.deepEqual(reply(res), NO_CONTENT)
      const access = setCookie(res, ACCESS_COOKIE)
      const refresh = setCookie(res, REFRESH_COOKIE)
      assert.equal(access?.path, '/')
      assert.match(refresh?.value ?? '', TOKEN_SHAPE)
      assert.equal(refresh?.path, '/auth/cookie')
      assert.equal(refresh?.httpOnly, true)
      assert.equal(refresh?.secure, true)
      assert.equal(refresh?.sameSite, 'Lax')
      assert.equal(refresh?.maxAge, 3600)
    })

    it('refresh: 204 with both cookies renewed; the new access cookie works', async ({ api }) => {
      const user = await registered(api)
      const pair = await cookiePair(api, user.email, user.password)
      const res = await cookieRefresh(api, pair.refresh)
      assert.deepEqual(reply(res), NO_CONTENT)
      const access = setCookie(res, ACCESS_COOKIE)?.value as string
      const refresh = setCookie(res, REFRESH_COOKIE)
      assert.match(access, TOKEN_SHAPE)
      assert.notEqual(access, pair.access)
      assert.notEqual(refresh?.value, pair.refresh)
      assert.equal(refresh?.path, '/auth/cookie')
      await assertMe(api, byCookie(access), user.email)
    })

    it('reuse: the old refresh cookie is refused (401), and the new one too', async ({ api }) => {
      const user = await registered(api)
      const pair = await cookiePair(api, user.email, user.password)
      const rotated = setCookie(await cookieRefresh(api, pair.refresh), REFRESH_COOKIE)?.value as string
      assert.deepEqual(reply(await cookieRefresh(api, pair.refresh)), UNAUTHORIZED)
      assert.deepEqual(reply(await cookieRefresh(api, rotated)), UNAUTHORIZED)
    })

    it('a cross-site refresh is refused (403 CSRF_CHECK_FAILED) and does not spend the token', async ({ api }) => {
      const user = await registered(api)
      const pair = await cookiePair(api, user.email, user.password)
      assert.deepEqual(reply(await cookieRefresh(api, pair.refresh, { origin: HOSTILE_ORIGIN })), CSRF_FAILED)
      assert.deepEqual(reply(await cookieRefresh(api, pair.refresh, { 'sec-fetch-site': 'cross-site' })), CSRF_FAILED)
      assert.equal((await cookieRefresh(api, pair.refresh, { origin: 'https://app.example.com' })).statusCode, 204)
    })

    it('logout clears both cookies and ends the refresh family', async ({ api }) => {
      const user = await registered(api)
      const pair = await cookiePair(api, user.email, user.password)
      const res = await api.send({
        method: 'POST',
        url: '/auth/cookie/logout',
        headers: withCookies({ [ACCESS_COOKIE]: pair.access, [REFRESH_COOKIE]: pair.refresh }),
      })
      assert.deepEqual(reply(res), NO_CONTENT)
      assert.equal(setCookie(res, ACCESS_COOKIE)?.maxAge, 0)
      const cleared = setCookie(res, REFRESH_COOKIE)
      assert.equal(cleared?.maxAge, 0)
      assert.equal(cleared?.path, '/auth/cookie')
      await assertRefused(api, byCookie(pair.access))
      assert.deepEqual(reply(await cookieRefresh(api, pair.refresh)), UNAUTHORIZED)
    })

    it('a refresh token is bound to its backend: the cookie one is refused at /auth/jwt/refresh', async ({ api }) => {
      const user = await registered(api)
      const pair = await cookiePair(api, user.email, user.password)
      assert.deepEqual(reply(await bearerRefresh(api, pair.refresh)), UNAUTHORIZED)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      assert.deepEqual(reply(await cookieRefresh(api, login.refresh_token as string)), UNAUTHORIZED)
      // Neither attempt spent them.
      assert.equal((await cookieRefresh(api, pair.refresh)).statusCode, 204)
      assert.equal((await bearerRefresh(api, login.refresh_token as string)).statusCode, 200)
    })

    it('concurrent refresh of one cookie: exactly one 204', async ({ api }) => {
      const user = await registered(api)
      const pair = await cookiePair(api, user.email, user.password)
      const results = await Promise.all(Array.from({ length: 6 }, () => cookieRefresh(api, pair.refresh)))
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [204, 401, 401, 401, 401, 401])
    })
  })

  describe(`${kind}: refresh token lifetime (library app, 1 s)`, () => {
    const it = libraryApp(kind, 1)

    it('a refresh token is refused (401) after its lifetime', async ({ api }) => {
      const user = await registered(api)
      const pair = await cookiePair(api, user.email, user.password)
      const login = await bearerLogin(api, '/auth/jwt', user.email)
      await sleep(1500)
      assert.deepEqual(reply(await cookieRefresh(api, pair.refresh)), UNAUTHORIZED)
      assert.deepEqual(reply(await bearerRefresh(api, login.refresh_token as string)), UNAUTHORIZED)
    })
  })
}
