/**
 * CSRF protection of the reference service's /auth/cookie backend (Cookie + database), on every
 * database: a state-changing request authenticated by the cookie, and the cookie login itself,
 * are refused (403 CSRF_CHECK_FAILED) when `Sec-Fetch-Site` says cross-site or same-site or
 * `Origin` is neither the request's host nor a trusted origin (PUBLIC_URL's, CSRF_TRUSTED_ORIGINS);
 * Bearer requests, safe methods and clients sending neither header are unaffected.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError } from '../../server/config.js'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import {
  ACCESS_COOKIE,
  type Api,
  assertMe,
  bearer,
  bearerLogin,
  CSRF_FAILED,
  cookieLogin,
  form,
  HOSTILE_ORIGIN,
  NO_CONTENT,
  PUBLIC_URL,
  registered,
  reply,
  rows,
  service,
  setCookie,
  withCookies,
} from './helpers.js'

const TRUSTED_EXTRA = 'https://admin.example.org'

const patchMe = (api: Api, headers: Record<string, string>, payload: unknown = { first_name: 'Changed' }) =>
  api.send({
    method: 'PATCH',
    url: '/users/me',
    headers: { ...headers, 'content-type': 'application/json' },
    payload: payload as never,
  })

const cookieLoginRequest = (api: Api, email: string, password: string, headers: Record<string, string>) =>
  api.send({
    method: 'POST',
    url: '/auth/cookie/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: form({ username: email, password }),
  })

for (const kind of databaseKinds()) {
  describe(`${kind}: CSRF checks on /auth/cookie`, () => {
    const { it } = service(kind, { CSRF_TRUSTED_ORIGINS: TRUSTED_EXTRA })

    /** A user logged in by cookie: the request headers carrying it. */
    async function cookieUser(api: Api) {
      const user = await registered(api)
      const token = await cookieLogin(api, user.email)
      return {
        user,
        token,
        headers: (extra: Record<string, string> = {}) => withCookies({ [ACCESS_COOKIE]: token }, extra),
      }
    }

    it('a cookie PATCH /users/me with a hostile Origin: 403 CSRF_CHECK_FAILED, nothing changed', async ({ api }) => {
      const { user, headers } = await cookieUser(api)
      assert.deepEqual(reply(await patchMe(api, headers({ origin: HOSTILE_ORIGIN }))), CSRF_FAILED)
      const res = await api.send({ method: 'GET', url: '/users/me', headers: headers() })
      assert.equal(res.json().first_name, 'Ann')
      assert.equal(res.json().email, user.email)
    })

    for (const site of ['cross-site', 'same-site']) {
      it(`a cookie PATCH with Sec-Fetch-Site: ${site}: 403 CSRF_CHECK_FAILED`, async ({ api }) => {
        const { headers } = await cookieUser(api)
        assert.deepEqual(reply(await patchMe(api, headers({ 'sec-fetch-site': site }))), CSRF_FAILED)
      })
    }

    it('Origin: null (a sandboxed or privacy-redirected page) is refused: 403', async ({ api }) => {
      const { headers } = await cookieUser(api)
      assert.deepEqual(reply(await patchMe(api, headers({ origin: 'null' }))), CSRF_FAILED)
    })

    it('the CSRF refusal comes before body validation (403, not 422)', async ({ api }) => {
      const { headers } = await cookieUser(api)
      assert.deepEqual(reply(await patchMe(api, headers({ origin: HOSTILE_ORIGIN }), { email: 42 })), CSRF_FAILED)
    })

    it('Origin equal to PUBLIC_URL’s origin: 200', async ({ api }) => {
      const { headers } = await cookieUser(api)
      const res = await patchMe(api, headers({ origin: new URL(PUBLIC_URL).origin, 'sec-fetch-site': 'same-origin' }))
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().first_name, 'Changed')
    })

    it('an origin of CSRF_TRUSTED_ORIGINS: 200', async ({ api }) => {
      const { headers } = await cookieUser(api)
      assert.equal((await patchMe(api, headers({ origin: TRUSTED_EXTRA }))).statusCode, 200)
    })

    it('Origin equal to the request’s own Host: 200', async ({ api }) => {
      const { headers } = await cookieUser(api)
      const res = await patchMe(
        api,
        headers({ host: 'api.internal.example:8443', origin: 'https://api.internal.example:8443' }),
      )
      assert.equal(res.statusCode, 200, res.body)
    })

    it('neither Origin nor Sec-Fetch-Site (a non-browser client): 200', async ({ api }) => {
      const { headers } = await cookieUser(api)
      assert.equal((await patchMe(api, headers())).statusCode, 200)
    })

    for (const site of ['same-origin', 'none']) {
      it(`Sec-Fetch-Site: ${site} without Origin: 200`, async ({ api }) => {
        const { headers } = await cookieUser(api)
        assert.equal((await patchMe(api, headers({ 'sec-fetch-site': site }))).statusCode, 200)
      })
    }

    it('a Bearer request with a hostile Origin is unaffected: 200', async ({ api }) => {
      const user = await registered(api)
      const { access_token } = await bearerLogin(api, '/auth/jwt', user.email)
      const res = await patchMe(api, bearer(access_token, { origin: HOSTILE_ORIGIN, 'sec-fetch-site': 'cross-site' }))
      assert.equal(res.statusCode, 200, res.body)
    })

    it('a cookie GET with a hostile Origin is unaffected: 200', async ({ api }) => {
      const { user, headers } = await cookieUser(api)
      await assertMe(api, headers({ origin: HOSTILE_ORIGIN, 'sec-fetch-site': 'cross-site' }), user.email)
      const sessions = await api.send({
        method: 'GET',
        url: '/users/me/sessions',
        headers: headers({ origin: HOSTILE_ORIGIN }),
      })
      assert.equal(sessions.statusCode, 200, sessions.body)
    })

    it('the cookie login with a hostile Origin or cross-site: 403, no cookie, no session', async ({ api, db }) => {
      const user = await registered(api)
      for (const headers of [{ origin: HOSTILE_ORIGIN }, { 'sec-fetch-site': 'cross-site' }] as Record<
        string,
        string
      >[]) {
        const res = await cookieLoginRequest(api, user.email, user.password, headers)
        assert.deepEqual(reply(res), CSRF_FAILED, JSON.stringify(headers))
        assert.equal(setCookie(res, ACCESS_COOKIE), undefined)
      }
      assert.deepEqual(await rows(db, 'accesstoken', ['user_id', user.id]), [])
    })

    it('the cookie login from PUBLIC_URL’s origin, or with no such header: 204', async ({ api }) => {
      const user = await registered(api)
      for (const headers of [{ origin: PUBLIC_URL }, {}] as Record<string, string>[]) {
        const res = await cookieLoginRequest(api, user.email, user.password, headers)
        assert.deepEqual(reply(res), NO_CONTENT, JSON.stringify(headers))
      }
    })

    it('a Bearer login with a hostile Origin is unaffected: 200', async ({ api }) => {
      const user = await registered(api)
      const res = await api.send({
        method: 'POST',
        url: '/auth/jwt/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: HOSTILE_ORIGIN },
        payload: form({ username: user.email, password: user.password }),
      })
      assert.equal(res.statusCode, 200, res.body)
    })

    it('a cross-site cookie logout is refused (403) and the session lives on', async ({ api }) => {
      const { user, headers } = await cookieUser(api)
      const res = await api.send({
        method: 'POST',
        url: '/auth/cookie/logout',
        headers: headers({ origin: HOSTILE_ORIGIN }),
      })
      assert.deepEqual(reply(res), CSRF_FAILED)
      await assertMe(api, headers(), user.email)
    })

    it('cross-site cookie DELETEs of sessions are refused (403) and end nothing', async ({ api }) => {
      const { user, headers } = await cookieUser(api)
      const hostile = headers({ 'sec-fetch-site': 'cross-site' })
      assert.deepEqual(
        reply(await api.send({ method: 'DELETE', url: '/users/me/sessions', headers: hostile })),
        CSRF_FAILED,
      )
      const [session] = (await api.send({ method: 'GET', url: '/users/me/sessions', headers: headers() })).json()
      assert.deepEqual(
        reply(await api.send({ method: 'DELETE', url: `/users/me/sessions/${session.id}`, headers: hostile })),
        CSRF_FAILED,
      )
      await assertMe(api, headers(), user.email)
    })

    it('a cross-site cookie password change is refused (403) and the password stays', async ({ api }) => {
      const { user, headers } = await cookieUser(api)
      const res = await patchMe(api, headers({ origin: HOSTILE_ORIGIN }), { password: 'attacker-chosen-pw' })
      assert.deepEqual(reply(res), CSRF_FAILED)
      await assertMe(api, headers(), user.email)
      assert.equal((await bearerLogin(api, '/auth/jwt', user.email)).token_type, 'bearer')
    })
  })
}

describe('CSRF_TRUSTED_ORIGINS written as URLs', () => {
  const kind = databaseKinds()[0] ?? 'sqlite'

  test('an origin with a trailing slash or in upper case is trusted, or refused at start, never silently ignored', async (t) => {
    let started: TestApp | null
    try {
      started = await startTestApp(kind, {
        PUBLIC_URL,
        CSRF_TRUSTED_ORIGINS: `${TRUSTED_EXTRA}/, HTTPS://Partner.Example.NET`,
      })
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error)) // refused at start: the operator is told
      assert.match(error.message, /CSRF_TRUSTED_ORIGINS/)
      return
    }
    if (!started) return t.skip(`${kind} is not reachable locally`)
    try {
      const api = client(started.app)
      const user = await registered(api)
      for (const origin of [TRUSTED_EXTRA, 'https://partner.example.net']) {
        const res = await cookieLoginRequest(api, user.email, user.password, { origin })
        assert.deepEqual(reply(res), NO_CONTENT, origin)
      }
    } finally {
      await started.close()
    }
  })
})
