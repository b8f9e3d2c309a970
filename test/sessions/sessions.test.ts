/**
 * GET /users/me/sessions, DELETE /users/me/sessions/{id} and DELETE /users/me/sessions ("log out
 * everywhere") in the reference service, over its database (cookie) and Redis sessions, on
 * every database and the real Redis.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { databaseKinds } from '../support/databases.js'
import {
  ACCESS_COOKIE,
  type Api,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  bearerRefresh,
  cookieLogin,
  NO_CONTENT,
  NOT_FOUND,
  REDIS_PREFIX,
  registered,
  reply,
  rows,
  service,
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

const byCookie = (token: string) => withCookies({ [ACCESS_COOKIE]: token })

async function listSessions(api: Api, headers: Record<string, string>): Promise<SessionRead[]> {
  const res = await api.send({ method: 'GET', url: '/users/me/sessions', headers })
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

const deleteSession = (api: Api, headers: Record<string, string>, id: string) =>
  api.send({ method: 'DELETE', url: `/users/me/sessions/${encodeURIComponent(id)}`, headers })

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/

for (const kind of databaseKinds()) {
  describe(`${kind}: the sessions routes`, () => {
    const { it } = service(kind, {}, { redis: true })

    it('all three routes need an authenticated user (401)', async ({ api }) => {
      assert.deepEqual(reply(await api.get('/users/me/sessions')), UNAUTHORIZED)
      assert.deepEqual(reply(await api.delete('/users/me/sessions')), UNAUTHORIZED)
      assert.deepEqual(reply(await api.delete('/users/me/sessions/abc')), UNAUTHORIZED)
    })

    it('lists the database and Redis sessions and the refresh families with ids that are not the tokens', async ({
      api,
    }) => {
      const user = await registered(api)
      const start = Date.now()
      const cookies = [await cookieLogin(api, user.email), await cookieLogin(api, user.email)]
      const redis = (await bearerLogin(api, '/auth/redis', user.email)).access_token
      const jwt = await bearerLogin(api, '/auth/jwt', user.email)
      const sessions = await listSessions(api, bearer(jwt.access_token))

      assert.equal(sessions.length, 4, JSON.stringify(sessions))
      assert.deepEqual(sessions.map((s) => s.backend).sort(), ['cookie', 'cookie', 'jwt', 'redis'])
      assert.equal(new Set(sessions.map((s) => s.id)).size, 4, 'ids are unique')
      const tokens = [...cookies, redis, jwt.access_token, jwt.refresh_token as string]
      for (const session of sessions) {
        assert.deepEqual(Object.keys(session).sort(), [
          'backend',
          'created_at',
          'current',
          'expires_at',
          'id',
          'ip',
          'last_used_at',
          'user_agent',
        ])
        for (const token of tokens) {
          assert.ok(!session.id.includes(token) && !token.includes(session.id), 'the id reveals no token')
        }
        assert.match(session.created_at, ISO)
        assert.match(session.expires_at ?? '', ISO)
        const created = Date.parse(session.created_at)
        assert.ok(created >= start - 1000 && created <= Date.now() + 1000, `created_at ${session.created_at} is now`)
        const lifetime = (Date.parse(session.expires_at as string) - created) / 1000
        const expected = session.backend === 'jwt' ? 30 * 24 * 3600 : 3600 // a refresh family: REFRESH_TOKEN_LIFETIME
        assert.ok(
          Math.abs(lifetime - expected) <= 5,
          `${session.backend}: expires_at is ${expected} s after created_at`,
        )
      }
      // The same list whichever session asks.
      const viaCookie = await listSessions(api, byCookie(cookies[0] as string))
      assert.deepEqual(viaCookie.map((s) => s.id).sort(), sessions.map((s) => s.id).sort())
      assert.deepEqual(
        sessions.filter((s) => s.current).map((s) => s.backend),
        ['jwt'],
      )
      assert.deepEqual(
        viaCookie.filter((s) => s.current).map((s) => s.backend),
        ['cookie'],
      )
    })

    it('a user sees only their own sessions', async ({ api }) => {
      const alice = await registered(api)
      const bob = await registered(api)
      await cookieLogin(api, alice.email)
      await bearerLogin(api, '/auth/redis', alice.email)
      const bobCookie = await cookieLogin(api, bob.email)
      const sessions = await listSessions(api, byCookie(bobCookie))
      assert.deepEqual(
        sessions.map((s) => s.backend),
        ['cookie'],
      )
    })

    it('DELETE one database session: 204, it is gone, the others remain', async ({ api, db }) => {
      const user = await registered(api)
      const keep = await cookieLogin(api, user.email)
      const redis = (await bearerLogin(api, '/auth/redis', user.email)).access_token
      const known = new Set((await listSessions(api, byCookie(keep))).map((s) => s.id))
      const victim = await cookieLogin(api, user.email)
      const before = await listSessions(api, byCookie(keep))
      const victimId = before.find((s) => !known.has(s.id))?.id as string
      assert.equal(before.find((s) => s.id === victimId)?.backend, 'cookie')

      assert.deepEqual(reply(await deleteSession(api, bearer(redis), victimId)), NO_CONTENT)
      assert.deepEqual(await rows(db, 'accesstoken', ['token', victim]), [])
      await assertRefused(api, byCookie(victim), 'the deleted session')
      await assertMe(api, byCookie(keep), user.email)
      await assertMe(api, bearer(redis), user.email)
      const after = await listSessions(api, byCookie(keep))
      assert.deepEqual(after.map((s) => s.id).sort(), [...known].sort())
    })

    it('DELETE one Redis session: 204, its key is gone, the others remain', async ({ api, redis }) => {
      const user = await registered(api)
      const cookie = await cookieLogin(api, user.email)
      const first = (await bearerLogin(api, '/auth/redis', user.email)).access_token
      const before = await listSessions(api, byCookie(cookie))
      const redisSession = before.find((s) => s.backend === 'redis') as SessionRead
      const second = (await bearerLogin(api, '/auth/redis', user.email)).access_token
      assert.deepEqual(reply(await deleteSession(api, byCookie(cookie), redisSession.id)), NO_CONTENT)
      assert.equal(await redis?.exists(`${REDIS_PREFIX}${first}`), 0)
      await assertRefused(api, bearer(first), 'the deleted Redis session')
      await assertMe(api, bearer(second), user.email)
      await assertMe(api, byCookie(cookie), user.email)
      const after = await listSessions(api, byCookie(cookie))
      assert.equal(after.length, 2)
      assert.ok(!after.some((s) => s.id === redisSession.id))
      // Deleting it again: 404.
      assert.deepEqual(reply(await deleteSession(api, byCookie(cookie), redisSession.id)), NOT_FOUND)
    })

    it('DELETE an unknown id, a token, or another user’s session id: 404, and nothing ends', async ({ api }) => {
      const alice = await registered(api)
      const bob = await registered(api)
      const aliceCookie = await cookieLogin(api, alice.email)
      const aliceRedis = (await bearerLogin(api, '/auth/redis', alice.email)).access_token
      const bobCookie = await cookieLogin(api, bob.email)
      const aliceIds = (await listSessions(api, byCookie(aliceCookie))).map((s) => s.id)
      for (const id of ['nope', 'x'.repeat(22), aliceCookie, aliceRedis]) {
        assert.deepEqual(reply(await deleteSession(api, byCookie(aliceCookie), id)), NOT_FOUND, id)
      }
      for (const id of aliceIds) {
        assert.deepEqual(reply(await deleteSession(api, byCookie(bobCookie), id)), NOT_FOUND)
      }
      await assertMe(api, byCookie(aliceCookie), alice.email)
      await assertMe(api, bearer(aliceRedis), alice.email)
    })

    it('DELETE /users/me/sessions: 204, every database and Redis session and refresh token ends', async ({
      api,
      db,
    }) => {
      const user = await registered(api)
      const cookies = [await cookieLogin(api, user.email), await cookieLogin(api, user.email)]
      const redis = [
        (await bearerLogin(api, '/auth/redis', user.email)).access_token,
        (await bearerLogin(api, '/auth/redis', user.email)).access_token,
      ]
      const jwt = await bearerLogin(api, '/auth/jwt', user.email)
      assert.deepEqual(reply(await api.delete('/users/me/sessions', redis[0])), NO_CONTENT)
      for (const cookie of cookies) await assertRefused(api, byCookie(cookie), 'a database session')
      for (const token of redis) await assertRefused(api, bearer(token), 'a Redis session')
      assert.deepEqual(reply(await bearerRefresh(api, jwt.refresh_token as string)), UNAUTHORIZED)
      assert.deepEqual(await rows(db, 'accesstoken', ['user_id', user.id]), [])
      // A new login starts from an empty list.
      const fresh = await cookieLogin(api, user.email)
      assert.equal((await listSessions(api, byCookie(fresh))).length, 1)
    })

    it('log out everywhere ends the refresh tokens, so another device’s JWT cannot be renewed', async ({ api }) => {
      // The JWT itself is stateless and lives until its `exp` (ACCESS_TOKEN_LIFETIME); its refresh token dies now.
      const user = await registered(api)
      const phone = await bearerLogin(api, '/auth/jwt', user.email)
      const laptop = await cookieLogin(api, user.email)
      assert.deepEqual(
        reply(await api.send({ method: 'DELETE', url: '/users/me/sessions', headers: byCookie(laptop) })),
        NO_CONTENT,
      )
      assert.deepEqual(reply(await bearerRefresh(api, phone.refresh_token!)), UNAUTHORIZED)
      await assertRefused(api, withCookies({ [ACCESS_COOKIE]: laptop }), 'the database session')
    })
  })
}
