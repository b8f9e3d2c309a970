/**
 * A passkey as the second factor (PASSKEYS=true with TWO_FACTOR, on by default), through the
 * reference service on every database and id model, with the software authenticator: a password
 * login of a user with a passkey asks for it (`methods` with "passkey"), `/login/2fa/passkey/options`
 * and `/login/2fa` `{"ticket","passkey"}` on the bearer, cookie and Redis backends; another user's
 * credential and a replayed assertion refused; TOTP and passkey side by side; step-up (by passkey)
 * for deleting a passkey and the account; disabling the factors removes the passkeys.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { base32Decode, totp } from '../../src/index.js'
import {
  ACCESS_COOKIE,
  type Api,
  adminToken,
  bearer,
  NO_CONTENT,
  PASSWORD,
  postLogin,
  registered,
  reply,
  SUPERUSER_ENV,
  setCookie,
  withCookies,
} from '../sessions/helpers.js'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { idModels } from '../support/id-models.js'
import { testRedisUrl } from '../support/redis.js'
import { SoftwareAuthenticator } from '../support/webauthn.js'

const ORIGIN = 'http://localhost:8000'
const BAD_CODE = [400, { detail: 'LOGIN_2FA_BAD_CODE' }]
const STEP_UP = [403, { detail: 'STEP_UP_REQUIRED' }]
const STEP = 30_000

interface Setup {
  service: TestApp
  api: Api
  clock: { now: number }
  redis: boolean
}

/** A fresh user with one passkey, and a token of a password login made before the passkey (not recent). */
async function withPasskey(s: Setup) {
  const user = await registered(s.api)
  const token = await s.api.token(user.email, PASSWORD)
  const authenticator = new SoftwareAuthenticator(ORIGIN)
  const options = (await s.api.post('/auth/passkeys/register/options', undefined, token)).json()
  const res = await s.api.post('/auth/passkeys/register', { response: authenticator.create(options) }, token)
  assert.equal(res.statusCode, 201, res.body)
  return { ...user, token, authenticator, passkey: res.json() as { id: string } }
}

/** POST <prefix>/login answered 400 LOGIN_2FA_REQUIRED: its detail. */
async function challenge(s: Setup, prefix: string, email: string) {
  const res = await postLogin(s.api, prefix, email, PASSWORD)
  assert.equal(res.statusCode, 400, res.body)
  const detail = res.json().detail as { code: string; ticket: string; methods: string[] }
  assert.equal(detail.code, 'LOGIN_2FA_REQUIRED')
  assert.equal(res.headers['set-cookie'], undefined, 'no token, no cookie')
  return detail
}

const ticketOptions = async (s: Setup, prefix: string, ticket: string) => {
  const res = await s.api.post(`${prefix}/login/2fa/passkey/options`, { ticket })
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

/** Steps up the session of `token` with the user's passkey. */
async function stepUp(s: Setup, who: Awaited<ReturnType<typeof withPasskey>>, token = who.token) {
  const options = await s.api.post('/auth/2fa/step-up/passkey/options', undefined, token)
  assert.equal(options.statusCode, 200, options.body)
  const done = await s.api.post('/auth/2fa/step-up', { passkey: who.authenticator.get(options.json()) }, token)
  assert.deepEqual(reply(done), NO_CONTENT)
}

const deleteMe = (s: Setup, token: string, password: string) =>
  s.api.send({ method: 'DELETE', url: '/users/me', headers: bearer(token), payload: { password } })

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}: a passkey as the second factor (${model.name} ids)`, () => {
      let s: Setup | null = null
      before(async () => {
        const redisUrl = await testRedisUrl()
        const clock = { now: Math.floor(Date.now() / STEP) * STEP + 1000 }
        const service = await startTestApp(
          kind,
          {
            ...model.env,
            ...SUPERUSER_ENV,
            PASSKEYS: 'true',
            PUBLIC_URL: ORIGIN,
            SELF_DELETE: 'true',
            ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
          },
          { clock: () => new Date(clock.now) },
        )
        if (service) s = { service, api: client(service.app), clock, redis: redisUrl !== null }
      })
      after(async () => {
        await s?.service.close()
      })
      const it = (name: string, body: (s: Setup) => Promise<void>, needs: { redis?: boolean } = {}) =>
        test(name, async (t: TestContext) => {
          if (!s) return t.skip(`${kind} is not reachable locally`)
          if (needs.redis && !s.redis) return t.skip('Redis is not reachable locally')
          await body(s)
        })

      it('bearer: a password login asks for the passkey; its assertion answers /login/2fa with a refresh token', async (s) => {
        const who = await withPasskey(s)
        assert.deepEqual(reply(await s.api.get('/auth/2fa', who.token)), [
          200,
          { enabled: true, methods: ['passkey'], recovery_codes_remaining: 0 },
        ])
        const detail = await challenge(s, '/auth/jwt', who.email)
        assert.deepEqual(detail.methods, ['passkey'])
        const options = await ticketOptions(s, '/auth/jwt', detail.ticket)
        assert.deepEqual(
          options.allowCredentials.map((c: { id: string }) => c.id),
          [...who.authenticator.credentials.keys()],
        )
        const assertion = who.authenticator.get(options)
        const ok = await s.api.post('/auth/jwt/login/2fa', { ticket: detail.ticket, passkey: assertion })
        assert.equal(ok.statusCode, 200, ok.body)
        const body = ok.json()
        assert.deepEqual(Object.keys(body).sort(), ['access_token', 'refresh_token', 'token_type'])
        assert.equal((await s.api.get('/users/me', body.access_token)).json().email, who.email)
        // the ticket is spent; the same assertion on a new ticket is a replay (its challenge was used)
        assert.deepEqual(
          reply(await s.api.post('/auth/jwt/login/2fa', { ticket: detail.ticket, passkey: assertion })),
          BAD_CODE,
        )
        const again = await challenge(s, '/auth/jwt', who.email)
        await ticketOptions(s, '/auth/jwt', again.ticket)
        assert.deepEqual(
          reply(await s.api.post('/auth/jwt/login/2fa', { ticket: again.ticket, passkey: assertion })),
          BAD_CODE,
        )
        // a login through the passkey is a recent authentication: the passkey may be deleted at once
        assert.deepEqual(reply(await s.api.delete(`/auth/passkeys/${who.passkey.id}`, body.access_token)), NO_CONTENT)
      })

      it('cookie: /login/2fa with the passkey answers 204 with the session cookie', async (s) => {
        const who = await withPasskey(s)
        const detail = await challenge(s, '/auth/cookie', who.email)
        const options = await ticketOptions(s, '/auth/cookie', detail.ticket)
        const ok = await s.api.post('/auth/cookie/login/2fa', {
          ticket: detail.ticket,
          passkey: who.authenticator.get(options),
        })
        assert.deepEqual(reply(ok), NO_CONTENT)
        const cookie = setCookie(ok, ACCESS_COOKIE)
        assert.ok(cookie?.value)
        const me = await s.api.send({
          method: 'GET',
          url: '/users/me',
          headers: withCookies({ [ACCESS_COOKIE]: cookie.value }),
        })
        assert.equal(me.json().email, who.email)
      })

      it(
        'Redis: /auth/redis/login/2fa with the passkey answers its bearer token',
        async (s) => {
          const who = await withPasskey(s)
          const detail = await challenge(s, '/auth/redis', who.email)
          const options = await ticketOptions(s, '/auth/redis', detail.ticket)
          const ok = await s.api.post('/auth/redis/login/2fa', {
            ticket: detail.ticket,
            passkey: who.authenticator.get(options),
          })
          assert.equal(ok.statusCode, 200, ok.body)
          assert.equal((await s.api.get('/users/me', ok.json().access_token)).json().email, who.email)
        },
        { redis: true },
      )

      it('another user’s credential, a ticket of another backend, a bad ticket and a malformed body are refused', async (s) => {
        const who = await withPasskey(s)
        const other = await withPasskey(s)
        const mine = await challenge(s, '/auth/jwt', who.email)
        const theirs = await challenge(s, '/auth/jwt', other.email)
        // the other user answers its own options, sent on this user's ticket
        const foreign = other.authenticator.get(await ticketOptions(s, '/auth/jwt', theirs.ticket))
        assert.deepEqual(
          reply(await s.api.post('/auth/jwt/login/2fa', { ticket: mine.ticket, passkey: foreign })),
          BAD_CODE,
        )
        // the options of this user's ticket, answered by a credential of the other user
        const options = await ticketOptions(s, '/auth/jwt', mine.ticket)
        const [otherId] = [...other.authenticator.credentials.keys()]
        const cred = otherId ? other.authenticator.credentials.get(otherId) : undefined
        assert.ok(otherId && cred)
        who.authenticator.credentials.set(otherId, cred)
        assert.deepEqual(
          reply(
            await s.api.post('/auth/jwt/login/2fa', {
              ticket: mine.ticket,
              passkey: who.authenticator.get(options, { credentialId: otherId }),
            }),
          ),
          BAD_CODE,
        )
        // a jwt ticket at the cookie backend; an unknown ticket; a user without a passkey has no options
        assert.deepEqual(
          reply(await s.api.post('/auth/cookie/login/2fa/passkey/options', { ticket: mine.ticket })),
          BAD_CODE,
        )
        assert.deepEqual(reply(await s.api.post('/auth/jwt/login/2fa/passkey/options', { ticket: 'nope' })), BAD_CODE)
        // exactly one of code and passkey
        for (const payload of [{ ticket: mine.ticket }, { ticket: mine.ticket, code: '123456', passkey: foreign }])
          assert.equal((await s.api.post('/auth/jwt/login/2fa', payload)).statusCode, 422)
        // the ticket still answers its own passkey after the wrong tries
        const ok = await s.api.post('/auth/jwt/login/2fa', {
          ticket: mine.ticket,
          passkey: who.authenticator.get(await ticketOptions(s, '/auth/jwt', mine.ticket)),
        })
        assert.equal(ok.statusCode, 200, ok.body)
      })

      it('a TOTP user with a passkey is offered both; either answers', async (s) => {
        const who = await withPasskey(s)
        await stepUp(s, who)
        const setup = (await s.api.post('/auth/2fa/totp/setup', undefined, who.token)).json()
        const key = base32Decode(setup.secret)
        const enable = await s.api.post('/auth/2fa/totp/enable', { code: totp(key, s.clock.now) }, who.token)
        assert.equal(enable.statusCode, 200, enable.body)
        s.clock.now += STEP
        assert.deepEqual(reply(await s.api.get('/auth/2fa', who.token)), [
          200,
          { enabled: true, methods: ['totp', 'passkey'], recovery_codes_remaining: 10 },
        ])
        const first = await challenge(s, '/auth/jwt', who.email)
        assert.deepEqual(first.methods, ['totp', 'passkey', 'recovery_code'])
        // a typed code is no assertion, and an assertion no code
        assert.deepEqual(reply(await s.api.post('/auth/jwt/login/2fa', { ticket: first.ticket, code: '{}' })), BAD_CODE)
        const byCode = await s.api.post('/auth/jwt/login/2fa', { ticket: first.ticket, code: totp(key, s.clock.now) })
        assert.equal(byCode.statusCode, 200, byCode.body)
        const second = await challenge(s, '/auth/jwt', who.email)
        const byPasskey = await s.api.post('/auth/jwt/login/2fa', {
          ticket: second.ticket,
          passkey: who.authenticator.get(await ticketOptions(s, '/auth/jwt', second.ticket)),
        })
        assert.equal(byPasskey.statusCode, 200, byPasskey.body)
      })

      it('step-up: deleting a passkey needs a recent authentication; the passkey itself provides it', async (s) => {
        const who = await withPasskey(s)
        const url = `/auth/passkeys/${who.passkey.id}`
        assert.deepEqual(reply(await s.api.delete(url, who.token)), STEP_UP)
        // a wrong assertion (another challenge's) is a bad code, and steps nothing up
        const options = (await s.api.post('/auth/2fa/step-up/passkey/options', undefined, who.token)).json()
        const wrong = who.authenticator.get(options, { challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
        assert.deepEqual(reply(await s.api.post('/auth/2fa/step-up', { passkey: wrong }, who.token)), [
          400,
          { detail: 'TWO_FACTOR_BAD_CODE' },
        ])
        assert.deepEqual(reply(await s.api.delete(url, who.token)), STEP_UP)
        await stepUp(s, who)
        assert.deepEqual(reply(await s.api.delete(url, who.token)), NO_CONTENT)
        // no passkey left: no factor, no options, and a password login signs in directly
        assert.deepEqual(reply(await s.api.post('/auth/2fa/step-up/passkey/options', undefined, who.token)), [
          400,
          { detail: 'TWO_FACTOR_NOT_ENABLED' },
        ])
        assert.equal((await postLogin(s.api, '/auth/jwt', who.email, PASSWORD)).statusCode, 200)
      })

      it('DELETE /users/me: the password and a step-up for a user with a passkey; the password alone without one', async (s) => {
        const who = await withPasskey(s)
        assert.deepEqual(reply(await deleteMe(s, who.token, PASSWORD)), STEP_UP)
        await stepUp(s, who)
        assert.deepEqual(reply(await deleteMe(s, who.token, 'wrong-password-1')), [
          400,
          { detail: 'DELETE_USER_INVALID_PASSWORD' },
        ])
        assert.deepEqual(reply(await deleteMe(s, who.token, PASSWORD)), NO_CONTENT)
        // fastapi-users' behaviour for a user without a factor: the password is enough
        const plain = await registered(s.api)
        const token = await s.api.token(plain.email, PASSWORD)
        assert.deepEqual(reply(await deleteMe(s, token, PASSWORD)), NO_CONTENT)
      })

      it('disabling the factors, or a superuser’s DELETE /users/{id}/2fa, removes the passkeys', async (s) => {
        const who = await withPasskey(s)
        await stepUp(s, who)
        assert.deepEqual(reply(await s.api.post('/auth/2fa/disable', { password: PASSWORD }, who.token)), NO_CONTENT)
        assert.deepEqual(reply(await s.api.get('/auth/passkeys', who.token)), [200, []])
        assert.deepEqual(reply(await s.api.get('/auth/2fa', who.token)), [
          200,
          { enabled: false, methods: [], recovery_codes_remaining: 0 },
        ])
        const other = await withPasskey(s)
        const admin = await adminToken(s.api)
        assert.deepEqual(reply(await s.api.delete(`/users/${other.id}/2fa`, admin)), NO_CONTENT)
        assert.deepEqual(reply(await s.api.get('/auth/passkeys', other.token)), [200, []])
        assert.equal((await postLogin(s.api, '/auth/jwt', other.email, PASSWORD)).statusCode, 200)
      })
    })
  }
}
