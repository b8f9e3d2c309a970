/**
 * The complete sessions view (issue #17 item 5) in the reference service, on every database, with
 * uuid and integer ids, and the real Redis: refresh-token families (the `/auth/jwt` login) listed
 * with the database and Redis sessions, each with its User-Agent and address, its last use and
 * `current`; DELETE of a family; the MAX_SESSIONS_PER_USER cap.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { startTestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { idModels } from '../support/id-models.js'
import { testRedisUrl } from '../support/redis.js'
import {
  ACCESS_COOKIE,
  type Api,
  assertMe,
  assertRefused,
  bearer,
  bearerRefresh,
  NO_CONTENT,
  NOT_FOUND,
  PASSWORD,
  PUBLIC_URL,
  postLogin,
  REDIS_PREFIX,
  registered,
  reply,
  rows,
  service,
  setCookie,
  UNAUTHORIZED,
  withCookies,
} from './helpers.js'

interface SessionRead {
  id: string
  backend: string
  created_at: string
  last_used_at: string | null
  expires_at: string | null
  user_agent: string | null
  ip: string | null
  current: boolean
}

const FIELDS = ['backend', 'created_at', 'current', 'expires_at', 'id', 'ip', 'last_used_at', 'user_agent']
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/
const byCookie = (token: string) => withCookies({ [ACCESS_COOKIE]: token })

async function listSessions(api: Api, headers: Record<string, string>): Promise<SessionRead[]> {
  const res = await api.send({ method: 'GET', url: '/users/me/sessions', headers })
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

const deleteSession = (api: Api, headers: Record<string, string>, id: string) =>
  api.send({ method: 'DELETE', url: `/users/me/sessions/${encodeURIComponent(id)}`, headers })

/** A login at `prefix` with these headers: the JWT login's body, or the cookie login's access cookie. */
async function login(api: Api, prefix: string, email: string, headers: Record<string, string> = {}) {
  const res = await postLogin(api, prefix, email, PASSWORD, headers)
  if (prefix === '/auth/cookie') {
    assert.equal(res.statusCode, 204, res.body)
    return { access_token: setCookie(res, ACCESS_COOKIE)?.value as string, refresh_token: undefined }
  }
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as { access_token: string; refresh_token?: string }
}

const one = (sessions: SessionRead[], backend: string) => {
  const found = sessions.filter((s) => s.backend === backend)
  assert.equal(found.length, 1, `one ${backend} session in ${JSON.stringify(sessions)}`)
  return found[0] as SessionRead
}

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids: the complete sessions view`, () => {
      // Integer ids repeat from one test database to the next, and Redis indexes sessions by user id: the
      // Redis backend is tried with uuid ids only (the suites share one Redis).
      const withRedis = model.name === 'uuid'
      const { it } = service(kind, model.env, { redis: withRedis })

      it('lists each kind of session with exactly its fields, the agent sent and the address, and which is current', async ({
        api,
      }) => {
        const user = await registered(api)
        // Without TRUST_PROXY, X-Forwarded-For is anyone's to write: the address is the peer's.
        const forged = { 'x-forwarded-for': '198.51.100.7' }
        const jwt = await login(api, '/auth/jwt', user.email, { 'user-agent': 'Phone/1.0', ...forged })
        const cookie = await login(api, '/auth/cookie', user.email, { 'user-agent': 'Laptop/2.0' })
        const redis = withRedis ? await login(api, '/auth/redis', user.email, { 'user-agent': 'Tablet/3.0' }) : null
        const backends = withRedis ? ['redis', 'cookie', 'jwt'] : ['cookie', 'jwt']

        const viaJwt = await listSessions(api, bearer(jwt.access_token))
        assert.equal(viaJwt.length, backends.length, JSON.stringify(viaJwt))
        const agents: Record<string, string> = { jwt: 'Phone/1.0', cookie: 'Laptop/2.0', redis: 'Tablet/3.0' }
        for (const backend of backends) {
          const session = one(viaJwt, backend)
          assert.deepEqual(Object.keys(session).sort(), FIELDS)
          assert.equal(session.user_agent, agents[backend])
          assert.equal(session.ip, '127.0.0.1')
          assert.equal(session.current, backend === 'jwt')
          assert.match(session.created_at, ISO)
          assert.match(session.last_used_at ?? '', ISO)
          assert.match(session.expires_at ?? '', ISO)
          assert.ok(Date.parse(session.last_used_at as string) >= Date.parse(session.created_at))
          const tokens = [jwt.access_token, jwt.refresh_token as string, cookie.access_token]
          if (redis) tokens.push(redis.access_token)
          for (const token of tokens) {
            assert.ok(!session.id.includes(token) && !token.includes(session.id), 'the id reveals no token')
          }
        }
        // Newest first.
        assert.deepEqual(
          viaJwt.map((s) => s.backend),
          backends,
        )
        // Whichever session asks, the same list; `current` follows the asker.
        const askers: [string, Record<string, string>][] = [['cookie', byCookie(cookie.access_token)]]
        if (redis) askers.push(['redis', bearer(redis.access_token)])
        for (const [backend, headers] of askers) {
          const list = await listSessions(api, headers)
          assert.deepEqual(
            list.map(({ current: _, last_used_at: __, expires_at: ___, ...rest }) => rest),
            viaJwt.map(({ current: _, last_used_at: __, expires_at: ___, ...rest }) => rest),
          )
          assert.deepEqual(
            list.filter((s) => s.current).map((s) => s.backend),
            [backend],
          )
        }
      })

      it('a session opened without a User-Agent lists null for it', async ({ api }) => {
        const user = await registered(api)
        const jwt = await login(api, '/auth/jwt', user.email, { 'user-agent': '' })
        const [session] = await listSessions(api, bearer(jwt.access_token))
        assert.equal(session?.user_agent, null)
        assert.equal(session?.ip, '127.0.0.1')
      })

      it('a refresh keeps the family: the same id and creation, a later last use, and the new access token is current', async ({
        api,
      }) => {
        const user = await registered(api)
        const first = await login(api, '/auth/jwt', user.email, { 'user-agent': 'Phone/1.0' })
        const [before] = await listSessions(api, bearer(first.access_token))
        const res = await bearerRefresh(api, first.refresh_token as string)
        assert.equal(res.statusCode, 200, res.body)
        const renewed = res.json() as { access_token: string; refresh_token: string }
        const after = await listSessions(api, bearer(renewed.access_token))
        assert.equal(after.length, 1)
        const [session] = after as [SessionRead]
        assert.equal(session.id, before?.id)
        assert.equal(session.created_at, before?.created_at)
        assert.equal(session.user_agent, 'Phone/1.0')
        assert.equal(session.current, true)
        assert.ok(Date.parse(session.last_used_at as string) >= Date.parse(before?.last_used_at as string))
        assert.ok(Date.parse(session.expires_at as string) >= Date.parse(before?.expires_at as string))
        // The first access token names the same family.
        assert.equal((await listSessions(api, bearer(first.access_token)))[0]?.current, true)
      })

      it('DELETE a refresh family: 204, its refresh token is refused, it leaves the list; its JWT lives until it expires', async ({
        api,
        db,
      }) => {
        const user = await registered(api)
        const phone = await login(api, '/auth/jwt', user.email, { 'user-agent': 'Phone/1.0' })
        const laptop = await login(api, '/auth/jwt', user.email, { 'user-agent': 'Laptop/2.0' })
        const sessions = await listSessions(api, bearer(laptop.access_token))
        const phoneId = sessions.find((s) => s.user_agent === 'Phone/1.0')?.id as string
        const laptopId = sessions.find((s) => s.user_agent === 'Laptop/2.0')?.id as string

        assert.deepEqual(reply(await deleteSession(api, bearer(laptop.access_token), phoneId)), NO_CONTENT)
        assert.deepEqual(reply(await bearerRefresh(api, phone.refresh_token as string)), UNAUTHORIZED)
        assert.deepEqual(
          (await listSessions(api, bearer(laptop.access_token))).map((s) => s.id),
          [laptopId],
        )
        const left = await rows(db, 'refresh_token', ['user_id', user.id])
        assert.equal(new Set(left.map((r) => r.family_id)).size, 1, 'only the laptop’s family has rows')
        assert.deepEqual(
          (await rows(db, 'session_info', ['user_id', user.id])).map((r) => r.session_id),
          [laptopId],
        )
        // A JWT is stateless: the phone's access token stays valid until its `exp` (ACCESS_TOKEN_LIFETIME).
        await assertMe(api, bearer(phone.access_token), user.email)
        // Once ended, it is no session of the user's any more.
        assert.deepEqual(reply(await deleteSession(api, bearer(laptop.access_token), phoneId)), NOT_FOUND)
        // The laptop's family still refreshes.
        assert.equal((await bearerRefresh(api, laptop.refresh_token as string)).statusCode, 200)
      })

      it('the current family can end itself', async ({ api }) => {
        const user = await registered(api)
        const jwt = await login(api, '/auth/jwt', user.email)
        const [session] = await listSessions(api, bearer(jwt.access_token))
        assert.deepEqual(reply(await deleteSession(api, bearer(jwt.access_token), session?.id as string)), NO_CONTENT)
        assert.deepEqual(reply(await bearerRefresh(api, jwt.refresh_token as string)), UNAUTHORIZED)
        assert.deepEqual(await listSessions(api, bearer(jwt.access_token)), [])
      })

      it('another user’s family id, a refresh token or an access token as the id: 404, and nothing ends', async ({
        api,
      }) => {
        const alice = await registered(api)
        const bob = await registered(api)
        const aliceJwt = await login(api, '/auth/jwt', alice.email)
        const bobCookie = await login(api, '/auth/cookie', bob.email)
        const [aliceFamily] = await listSessions(api, bearer(aliceJwt.access_token))
        assert.deepEqual(
          reply(await deleteSession(api, byCookie(bobCookie.access_token), aliceFamily?.id as string)),
          NOT_FOUND,
        )
        for (const id of [aliceJwt.refresh_token as string, 'x'.repeat(22)]) {
          assert.deepEqual(reply(await deleteSession(api, bearer(aliceJwt.access_token), id)), NOT_FOUND)
        }
        assert.deepEqual(
          (await listSessions(api, byCookie(bobCookie.access_token))).map((s) => s.backend),
          ['cookie'],
        )
        assert.equal((await bearerRefresh(api, aliceJwt.refresh_token as string)).statusCode, 200)
      })

      it('logout and log out everywhere take the families off the list', async ({ api }) => {
        const user = await registered(api)
        const jwt = await login(api, '/auth/jwt', user.email)
        const cookie = await login(api, '/auth/cookie', user.email)
        const res = await api.send({
          method: 'POST',
          url: '/auth/jwt/logout',
          headers: { ...bearer(jwt.access_token), 'content-type': 'application/json' },
          payload: { refresh_token: jwt.refresh_token },
        })
        assert.equal(res.statusCode, 204, res.body)
        assert.deepEqual(
          (await listSessions(api, byCookie(cookie.access_token))).map((s) => s.backend),
          ['cookie'],
        )
        const again = await login(api, '/auth/jwt', user.email)
        assert.deepEqual(reply(await api.delete('/users/me/sessions', again.access_token)), NO_CONTENT)
        assert.deepEqual(await listSessions(api, bearer(again.access_token)), [])
      })

      it('the metadata lives beside fastapi-users’ tables: accesstoken keeps its columns', async ({ api, db }) => {
        const user = await registered(api)
        await login(api, '/auth/cookie', user.email, { 'user-agent': 'Laptop/2.0' })
        const [row] = await rows(db, 'accesstoken', ['user_id', user.id])
        assert.deepEqual(Object.keys(row ?? {}).sort(), ['created_at', 'token', 'user_id'])
        const [info] = await rows(db, 'session_info', ['user_id', user.id])
        assert.deepEqual(Object.keys(info ?? {}).sort(), [
          'created_at',
          'ip',
          'last_used_at',
          'session_id',
          'user_agent',
          'user_id',
        ])
        assert.equal(info?.user_agent, 'Laptop/2.0')
      })

      it('last use costs no write per request: once written, not again within the minute; another process writes its own', async ({
        api,
        db,
        redis,
        started,
        kind,
      }) => {
        if (!redis) return // the uuid run tries it (Redis)
        const user = await registered(api)
        const cookie = await login(api, '/auth/cookie', user.email)
        const redisToken = (await login(api, '/auth/redis', user.email)).access_token
        await listSessions(api, byCookie(cookie.access_token)) // each session's first use here: written (no change yet)
        await listSessions(api, bearer(redisToken))
        const ids = await listSessions(api, bearer(redisToken))
        const cookieId = one(ids, 'cookie').id
        const redisId = one(ids, 'redis').id
        // Backdate both last uses by an hour, behind the service's back.
        const past = new Date(Date.now() - 3600_000)
        await db.db
          .updateTable('session_info')
          .set({
            last_used_at: kind === 'sqlite' ? `${past.toISOString().replace('T', ' ').replace('Z', '')}000` : past,
          })
          .where('session_id', '=', cookieId)
          .execute()
        await redis.hset(`fastapi_users_session_info:${redisId}`, 'last_used_at', String(past.getTime()))
        // Used again within the minute: nothing is written.
        for (let i = 0; i < 3; i++) {
          await assertMe(api, byCookie(cookie.access_token), user.email)
          await assertMe(api, bearer(redisToken), user.email)
        }
        const unchanged = await listSessions(api, bearer(redisToken))
        for (const session of unchanged) assert.equal(Date.parse(session.last_used_at as string), past.getTime())
        // Another instance of the service has not written these sessions' use yet: it does, once.
        const other = await startTestApp(
          kind,
          { PUBLIC_URL, ...model.env, REDIS_URL: (await testRedisUrl()) as string },
          { database: started.database },
        )
        assert.ok(other)
        try {
          const start = Date.now()
          for (const headers of [byCookie(cookie.access_token), bearer(redisToken)]) {
            const res: { statusCode: number; body: string } = await other.app.inject({
              method: 'GET',
              url: '/users/me',
              headers,
            })
            assert.equal(res.statusCode, 200, res.body)
          }
          const touched = await listSessions(api, bearer(redisToken))
          for (const session of touched) {
            assert.ok(Date.parse(session.last_used_at as string) >= start - 1000, JSON.stringify(session))
          }
        } finally {
          await other.close()
        }
        assert.equal(await redis.exists(`${REDIS_PREFIX}${redisToken}`), 1)
      })
    })

    describe(`${kind}, ${model.name} ids: behind a trusted proxy`, () => {
      const { it } = service(kind, { ...model.env, TRUST_PROXY: 'true' })

      it('the address is the one X-Forwarded-For names', async ({ api }) => {
        const user = await registered(api)
        const jwt = await login(api, '/auth/jwt', user.email, { 'x-forwarded-for': '203.0.113.9' })
        const cookie = await login(api, '/auth/cookie', user.email, { 'x-forwarded-for': '2001:db8::7' })
        const sessions = await listSessions(api, bearer(jwt.access_token))
        assert.equal(one(sessions, 'jwt').ip, '203.0.113.9')
        assert.equal(one(sessions, 'cookie').ip, '2001:db8::7')
        assert.ok(cookie.access_token)
      })
    })

    describe(`${kind}, ${model.name} ids: MAX_SESSIONS_PER_USER`, () => {
      const withRedis = model.name === 'uuid'
      const { it } = service(kind, { ...model.env, MAX_SESSIONS_PER_USER: '2' }, { redis: withRedis })

      it('a login beyond the cap ends the oldest sessions first, of whatever kind; other users keep theirs', async ({
        api,
      }) => {
        const user = await registered(api)
        const other = await registered(api)
        const otherJwt = await login(api, '/auth/jwt', other.email)
        const jwt = await login(api, '/auth/jwt', user.email, { 'user-agent': 'first' })
        const cookie = await login(api, '/auth/cookie', user.email, { 'user-agent': 'second' })
        assert.equal((await listSessions(api, byCookie(cookie.access_token))).length, 2)

        // The third: a Redis session (uuid ids), or another database session.
        const redis = await login(api, withRedis ? '/auth/redis' : '/auth/cookie', user.email, {
          'user-agent': 'third',
        })
        const third = withRedis ? bearer(redis.access_token) : byCookie(redis.access_token)
        // The refresh family was the oldest: it ended.
        assert.deepEqual(reply(await bearerRefresh(api, jwt.refresh_token as string)), UNAUTHORIZED)
        assert.deepEqual(
          (await listSessions(api, third)).map((s) => s.user_agent),
          ['third', 'second'],
        )

        const fourth = await login(api, '/auth/jwt', user.email, { 'user-agent': 'fourth' })
        await assertRefused(api, byCookie(cookie.access_token), 'the oldest (database) session')
        await assertMe(api, third, user.email)
        assert.deepEqual(
          (await listSessions(api, bearer(fourth.access_token))).map((s) => [s.user_agent, s.current]),
          [
            ['fourth', true],
            ['third', false],
          ],
        )
        // The other user's session is untouched.
        assert.equal((await bearerRefresh(api, otherJwt.refresh_token as string)).statusCode, 200)
      })
    })
  }
}
