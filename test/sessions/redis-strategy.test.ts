/**
 * The RedisStrategy behind /auth/redis (Bearer + Redis) in the reference service, against the
 * real Redis, on every database (the users live there): login, authenticated request, the key
 * `fastapi_users_token:<token>` holding the user id with a TTL of the lifetime, logout, expiry.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { databaseKinds } from '../support/databases.js'
import {
  adminToken,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  meByBearer,
  NO_CONTENT,
  newEmail,
  postLogin,
  REDIS_PREFIX,
  registered,
  reply,
  service,
  sleep,
  UNAUTHORIZED,
} from './helpers.js'

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

for (const kind of databaseKinds()) {
  describe(`${kind}: RedisStrategy at /auth/redis`, () => {
    describe('default lifetime (3600 s)', () => {
      const { it } = service(kind, {}, { redis: true })

      it('login: 200 {access_token, token_type} with an opaque 43-character token and no refresh token', async ({
        api,
      }) => {
        const user = await registered(api)
        const res = await postLogin(api, '/auth/redis', user.email, user.password)
        assert.equal(res.statusCode, 200, res.body)
        const body = res.json()
        assert.deepEqual(Object.keys(body).sort(), ['access_token', 'token_type'])
        assert.equal(body.token_type, 'bearer')
        assert.match(body.access_token, TOKEN_SHAPE)
      })

      it('the token authenticates GET /users/me', async ({ api }) => {
        const user = await registered(api)
        const { access_token } = await bearerLogin(api, '/auth/redis', user.email)
        await assertMe(api, bearer(access_token), user.email)
      })

      it('the key fastapi_users_token:<token> holds the user id with a TTL of the lifetime', async ({ api, redis }) => {
        const user = await registered(api)
        const { access_token } = await bearerLogin(api, '/auth/redis', user.email)
        const key = `${REDIS_PREFIX}${access_token}`
        assert.equal(await redis?.type(key), 'string')
        assert.equal(await redis?.get(key), user.id)
        const ttl = (await redis?.ttl(key)) as number
        assert.ok(ttl > 3590 && ttl <= 3600, `TTL ${ttl} ≈ 3600`)
      })

      it('logout: 204, deletes the key; the token is then refused (401)', async ({ api, redis }) => {
        const user = await registered(api)
        const { access_token } = await bearerLogin(api, '/auth/redis', user.email)
        const res = await api.post('/auth/redis/logout', undefined, access_token)
        assert.deepEqual(reply(res), NO_CONTENT)
        assert.equal(await redis?.exists(`${REDIS_PREFIX}${access_token}`), 0)
        await assertRefused(api, bearer(access_token))
        assert.deepEqual(reply(await api.post('/auth/redis/logout', undefined, access_token)), UNAUTHORIZED)
      })

      it('each login is a key of its own: logging one out leaves the other', async ({ api }) => {
        const user = await registered(api)
        const first = (await bearerLogin(api, '/auth/redis', user.email)).access_token
        const second = (await bearerLogin(api, '/auth/redis', user.email)).access_token
        assert.notEqual(first, second)
        assert.deepEqual(reply(await api.post('/auth/redis/logout', undefined, first)), NO_CONTENT)
        await assertRefused(api, bearer(first))
        await assertMe(api, bearer(second), user.email)
      })

      it('a key written by fastapi-users (no session index) authenticates and logs out', async ({ api, redis }) => {
        const user = await registered(api)
        const token = 'fastapiUsersWroteThisTokenWithTokenUrlsafe0'
        await redis?.set(`${REDIS_PREFIX}${token}`, user.id, 'EX', 60)
        await assertMe(api, bearer(token), user.email)
        assert.deepEqual(reply(await api.post('/auth/redis/logout', undefined, token)), NO_CONTENT)
        assert.equal(await redis?.exists(`${REDIS_PREFIX}${token}`), 0)
      })

      it('unknown or over-long tokens are refused (401)', async ({ api }) => {
        for (const token of ['y'.repeat(43), 'b'.repeat(5000)]) {
          assert.deepEqual(reply(await meByBearer(api, token)), UNAUTHORIZED)
        }
      })

      it('a key whose user was deleted is refused (401)', async ({ api }) => {
        const user = await registered(api)
        const { access_token } = await bearerLogin(api, '/auth/redis', user.email)
        assert.deepEqual(reply(await api.delete(`/users/${user.id}`, await adminToken(api))), NO_CONTENT)
        await assertRefused(api, bearer(access_token))
      })
    })

    describe('ACCESS_TOKEN_LIFETIME=1', () => {
      const { it } = service(kind, { ACCESS_TOKEN_LIFETIME: '1' }, { redis: true })

      it('the key has a TTL of 1 s; the token works at once and is refused (401) after it', async ({ api, redis }) => {
        const user = await registered(api, newEmail('short'))
        const { access_token } = await bearerLogin(api, '/auth/redis', user.email)
        const pttl = (await redis?.pttl(`${REDIS_PREFIX}${access_token}`)) as number
        assert.ok(pttl > 0 && pttl <= 1000, `PTTL ${pttl} ≤ 1000`)
        await assertMe(api, bearer(access_token), user.email)
        await sleep(1500)
        assert.equal(await redis?.exists(`${REDIS_PREFIX}${access_token}`), 0)
        await assertRefused(api, bearer(access_token))
      })

      it('the per-user session index does not outlive the sessions it lists', async ({ api, redis }) => {
        const user = await registered(api, newEmail('index'))
        await bearerLogin(api, '/auth/redis', user.email)
        const index = `fastapi_users_user_tokens:${user.id}`
        assert.equal(await redis?.zcard(index), 1, 'the index lists the session')
        await sleep(1500)
        // Nobody listed the sessions in between: the index must not be left behind forever.
        assert.equal(await redis?.exists(index), 0, `${index} is left with TTL ${await redis?.ttl(index)}`)
      })
    })
  })
}

describe('Redis unreachable', () => {
  const { it } = service(databaseKinds()[0] ?? 'sqlite', { REDIS_URL: 'redis://127.0.0.1:1/0' })

  it('a Redis login answers 503 SERVICE_UNAVAILABLE, never 500', async ({ api }) => {
    const user = await registered(api)
    const res = await postLogin(api, '/auth/redis', user.email, user.password)
    assert.deepEqual(reply(res), [503, { detail: 'SERVICE_UNAVAILABLE' }])
  })

  it('JWT and cookie logins still work', async ({ api }) => {
    const user = await registered(api)
    const { access_token } = await bearerLogin(api, '/auth/jwt', user.email)
    await assertMe(api, bearer(access_token), user.email)
  })
})
