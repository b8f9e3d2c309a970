/**
 * Several backends at once in the reference service: /auth/jwt (Bearer + JWT), /auth/cookie
 * (Cookie + database) and /auth/redis (Bearer + Redis, with REDIS_URL), on every database.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { databaseKinds } from '../support/databases.js'
import { idModels } from '../support/id-models.js'
import {
  ACCESS_COOKIE,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  bearerRefresh,
  cookieLogin,
  me,
  NO_CONTENT,
  postLogin,
  registered,
  reply,
  service,
  sleep,
  withCookies,
} from './helpers.js'

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}: three backends with REDIS_URL (${model.name} ids)`, () => {
      const { it } = service(kind, model.env, { redis: true })

      it('a cookie session, a JWT and a Redis token of one user all open GET /users/me', async ({ api }) => {
        const user = await registered(api)
        const cookie = await cookieLogin(api, user.email)
        const jwt = (await bearerLogin(api, '/auth/jwt', user.email)).access_token
        const redis = (await bearerLogin(api, '/auth/redis', user.email)).access_token
        await assertMe(api, withCookies({ [ACCESS_COOKIE]: cookie }), user.email)
        await assertMe(api, bearer(jwt), user.email)
        await assertMe(api, bearer(redis), user.email)
        await assertMe(api, withCookies({ [ACCESS_COOKIE]: cookie }, bearer(jwt)), user.email)
        const hello = await api.send({ method: 'GET', url: '/authenticated-route', headers: bearer(redis) })
        assert.deepEqual(reply(hello), [200, { message: `Hello ${user.email}!` }])
      })

      it('logging out of one backend leaves the others working', async ({ api }) => {
        const user = await registered(api)
        const cookie = await cookieLogin(api, user.email)
        const redis = (await bearerLogin(api, '/auth/redis', user.email)).access_token
        const jwt = (await bearerLogin(api, '/auth/jwt', user.email)).access_token
        const out = await api.send({
          method: 'POST',
          url: '/auth/cookie/logout',
          headers: withCookies({ [ACCESS_COOKIE]: cookie }),
        })
        assert.deepEqual(reply(out), NO_CONTENT)
        await assertRefused(api, withCookies({ [ACCESS_COOKIE]: cookie }))
        await assertMe(api, bearer(redis), user.email)
        await assertMe(api, bearer(jwt), user.email)
        assert.deepEqual(reply(await api.post('/auth/redis/logout', undefined, redis)), NO_CONTENT)
        await assertRefused(api, bearer(redis))
        await assertMe(api, bearer(jwt), user.email)
      })

      it('each backend is tried in turn: a dead Bearer token next to a live cookie authenticates by the cookie', async ({
        api,
      }) => {
        const user = await registered(api)
        const cookie = await cookieLogin(api, user.email)
        await assertMe(api, withCookies({ [ACCESS_COOKIE]: cookie }, bearer('not-a-token')), user.email)
      })

      it('the backends are tried in their order (jwt, cookie, redis): the first that knows the request wins', async ({
        api,
      }) => {
        const alice = await registered(api)
        const bob = await registered(api)
        const aliceRedis = (await bearerLogin(api, '/auth/redis', alice.email)).access_token
        const bobCookie = await cookieLogin(api, bob.email)
        const res = await me(api, withCookies({ [ACCESS_COOKIE]: bobCookie }, bearer(aliceRedis)))
        assert.equal(res.statusCode, 200, res.body)
        assert.equal(res.json().email, bob.email) // the cookie backend comes before the Redis one
        const aliceJwt = (await bearerLogin(api, '/auth/jwt', alice.email)).access_token
        const first = await me(api, withCookies({ [ACCESS_COOKIE]: bobCookie }, bearer(aliceJwt)))
        assert.equal(first.json().email, alice.email) // the JWT backend comes first
      })

      it('OpenAPI lists every backend’s security scheme', async ({ api }) => {
        const doc = (await api.get('/openapi.json')).json()
        assert.deepEqual(doc.components.securitySchemes, {
          OAuth2PasswordBearer: { type: 'oauth2', flows: { password: { scopes: {}, tokenUrl: 'auth/jwt/login' } } },
          APIKeyCookie: { type: 'apiKey', in: 'cookie', name: 'fastapiusersauth' },
          OAuth2PasswordBearerRedis: {
            type: 'oauth2',
            flows: { password: { scopes: {}, tokenUrl: 'auth/redis/login' } },
          },
        })
        assert.deepEqual(doc.paths['/users/me'].get.security, [
          { OAuth2PasswordBearer: [] },
          { APIKeyCookie: [] },
          { OAuth2PasswordBearerRedis: [] },
        ])
        for (const path of ['/auth/jwt/login', '/auth/cookie/login', '/auth/redis/login', '/auth/jwt/refresh']) {
          assert.ok(doc.paths[path]?.post, path)
        }
      })
    })

    describe(`${kind}: three backends with ACCESS_TOKEN_LIFETIME=2 (${model.name} ids)`, () => {
      // Two seconds, not one: a JWT's `exp` is whole seconds, so a one-second token issued late in a
      // second lives only milliseconds. Each token is checked right after its own login.
      const { it } = service(kind, { ...model.env, ACCESS_TOKEN_LIFETIME: '2' }, { redis: true })

      it('every strategy’s token works at once and is refused (401) after its lifetime', async ({ api }) => {
        const user = await registered(api)
        const jwt = await bearerLogin(api, '/auth/jwt', user.email)
        await assertMe(api, bearer(jwt.access_token), user.email)
        const cookie = await cookieLogin(api, user.email)
        await assertMe(api, withCookies({ [ACCESS_COOKIE]: cookie }), user.email)
        const redis = (await bearerLogin(api, '/auth/redis', user.email)).access_token
        await assertMe(api, bearer(redis), user.email)
        await sleep(3100)
        await assertRefused(api, bearer(jwt.access_token), 'the expired JWT')
        await assertRefused(api, withCookies({ [ACCESS_COOKIE]: cookie }), 'the expired database session')
        await assertRefused(api, bearer(redis), 'the expired Redis session')
        // The refresh token outlives the access token: it renews it.
        const renewed = await bearerRefresh(api, jwt.refresh_token as string)
        assert.equal(renewed.statusCode, 200, renewed.body)
        await assertMe(api, bearer(renewed.json().access_token), user.email)
      })
    })
  }

  describe(`${kind}: the JWT backend at LOGIN_URI_PREFIX=/api/auth/jwt`, () => {
    const { it } = service(kind, { LOGIN_URI_PREFIX: '/api/auth/jwt' })

    it('logs in, refreshes and logs out there; /auth/jwt is no route; the OpenAPI token URL follows', async ({
      api,
    }) => {
      const user = await registered(api)
      const jwt = await bearerLogin(api, '/api/auth/jwt', user.email)
      await assertMe(api, bearer(jwt.access_token), user.email)
      assert.equal((await postLogin(api, '/auth/jwt', user.email, user.password)).statusCode, 404)
      const doc = (await api.get('/openapi.json')).json()
      for (const path of ['/api/auth/jwt/login', '/api/auth/jwt/logout', '/api/auth/jwt/refresh'])
        assert.ok(doc.paths[path]?.post, path)
      assert.equal(doc.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl, 'api/auth/jwt/login')
      const out = await api.send({ method: 'POST', url: '/api/auth/jwt/logout', headers: bearer(jwt.access_token) })
      assert.equal(out.statusCode, 204, out.body)
    })
  })

  describe(`${kind}: without REDIS_URL`, () => {
    const { it } = service(kind)

    it('only /auth/jwt and /auth/cookie: /auth/redis/login is 404', async ({ api }) => {
      const user = await registered(api)
      assert.equal((await postLogin(api, '/auth/redis', user.email, user.password)).statusCode, 404)
      const doc = (await api.get('/openapi.json')).json()
      assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['APIKeyCookie', 'OAuth2PasswordBearer'])
    })
  })
}
