/**
 * Second factors in the reference service (TWO_FACTOR, on by default): TOTP enrolment, the login
 * pipeline's challenge on every backend's /login and its /login/2fa, recovery codes, step-up, the
 * superuser's removal and the notice mails (a real SMTP server), on every database and id model.
 * Time is the service's injected clock, moved by the test: no sleeps, no timed assertions.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import type { Redis } from 'ioredis'
import { SecretBox } from '../../src/factors/totp/secret-box.js'
import { base32Encode, matchingStep } from '../../src/factors/totp/totp.js'
import { base32Decode, hotp, LoginPipeline, LoginRefused, SecondFactors, totp } from '../../src/index.js'
import { type Database, openDatabase } from '../../src/kysely.js'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { idModels } from '../support/id-models.js'
import { openRedis, testRedisUrl } from '../support/redis.js'
import { startSmtpServer } from '../support/smtp.js'
import { wrongCode } from '../support/totp.js'
import {
  ACCESS_COOKIE,
  ADMIN,
  type Api,
  bearer,
  NO_CONTENT,
  PASSWORD,
  PUBLIC_URL,
  postLogin,
  registered,
  reply,
  SUPERUSER_ENV,
  setCookie,
  withCookies,
} from './helpers.js'

const BAD_CODE = [400, { detail: 'LOGIN_2FA_BAD_CODE' }]
const STEP_UP = [403, { detail: 'STEP_UP_REQUIRED' }]
const STEP = 30_000

describe('RFC 6238 and the building blocks', () => {
  // RFC 6238 appendix B, SHA-1: the 20-byte ASCII seed, 8 digits.
  const seed = Buffer.from('12345678901234567890')
  const vectors: [number, string][] = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ]
  for (const [seconds, code] of vectors) {
    test(`T = ${seconds} s: ${code}`, () => {
      assert.equal(totp(seed, seconds * 1000, 8), code)
    })
  }

  test('six digits are the last six of the same truncation (RFC 4226 appendix D, counter 0 and 9)', () => {
    assert.equal(hotp(seed, 0), '755224')
    assert.equal(hotp(seed, 9), '520489')
  })

  test('one step of drift either side, not two', () => {
    const key = Buffer.from('0123456789abcdefghij')
    const now = 1_700_000_000_000
    for (const [offset, step] of [
      [0, 0],
      [-1, -1],
      [1, 1],
    ] as const) {
      const code = totp(key, now + offset * STEP)
      assert.equal(matchingStep(key, code, now), Math.floor(now / STEP) + step)
    }
    assert.equal(matchingStep(key, totp(key, now + 2 * STEP), now), null)
    assert.equal(matchingStep(key, totp(key, now - 2 * STEP), now), null)
    assert.equal(matchingStep(key, 'abcdef', now), null)
  })

  test('base32 round trip; RFC 4648 vector', () => {
    assert.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI')
    assert.deepEqual(Buffer.from(base32Decode('MZXW6YTBOI')).toString(), 'foobar')
  })

  test('a sealed secret opens only with its key and for its user', () => {
    const box = new SecretBox('a-key-that-is-long-enough-for-hkdf')
    const sealed = box.seal(Buffer.from('secret'), 7)
    assert.equal(Buffer.from(box.open(sealed, 7) ?? []).toString(), 'secret')
    assert.equal(box.open(sealed, 8), null)
    assert.equal(new SecretBox('another-key-that-is-long-enough!!').open(sealed, 7), null)
    assert.equal(box.open(`${sealed.slice(0, -2)}AA`, 7), null)
  })

  test('the login pipeline: checks in order, the first refusal ends it, challenges merged, none on a refresh', async () => {
    const user = { id: 1, email: 'a@example.com' } as never
    const seen: string[] = []
    const pipeline = new LoginPipeline<never>([
      () => {
        seen.push('first')
        return { challenge: ['totp', 'recovery_code'] }
      },
      () => {
        seen.push('second')
        return { challenge: ['passkey', 'totp'] }
      },
    ])
    const ctx = { backend: 'jwt', method: 'password' as const }
    assert.deepEqual(await pipeline.run(user, ctx), ['totp', 'recovery_code', 'passkey'])
    assert.deepEqual(seen, ['first', 'second'])
    assert.equal(await pipeline.run(user, { ...ctx, method: 'refresh' }), null)
    pipeline.use(() => {
      throw new LoginRefused('LOGIN_ACCOUNT_SUSPENDED')
    })
    await assert.rejects(
      pipeline.run(user, ctx),
      (e: unknown) => (e as LoginRefused).code === 'LOGIN_ACCOUNT_SUSPENDED',
    )
    await assert.rejects(pipeline.run(user, { ...ctx, method: 'refresh' }), LoginRefused, 'a refusal holds on refresh')
  })

  test('SecondFactors without the option: an app check may refuse; a challenge without the option is a setup error', async () => {
    const user = { id: 1, email: 'a@example.com' } as never
    const ctx = { backend: 'jwt', method: 'password' as const }
    assert.equal(new SecondFactors({} as never, undefined, []).enabled, false)
    await new SecondFactors({} as never, undefined, [() => undefined]).check(user, ctx)
    const asks = new SecondFactors({} as never, undefined, [() => ({ challenge: ['mine'] })])
    await assert.rejects(asks.check(user, ctx), TypeError)
  })
})

interface Setup {
  service: TestApp
  api: Api
  db: Database
  redis: Redis | null
  smtp: Awaited<ReturnType<typeof startSmtpServer>>
  /** The service's clock, in ms: tests move it. */
  clock: { now: number }
}

/** A fresh user with TOTP on: its key, its recovery codes, and a token of a password-only login made before. */
async function enrolled(s: Setup) {
  const user = await registered(s.api)
  const token = await s.api.token(user.email, PASSWORD)
  const setup = await s.api.post('/auth/2fa/totp/setup', undefined, token)
  assert.equal(setup.statusCode, 200, setup.body)
  const { secret, otpauth_url } = setup.json() as { secret: string; otpauth_url: string }
  const key = base32Decode(secret)
  const enable = await s.api.post('/auth/2fa/totp/enable', { code: totp(key, s.clock.now) }, token)
  assert.equal(enable.statusCode, 200, enable.body)
  const codes = enable.json().recovery_codes as string[]
  // the enabling code is spent, and enabling counted as a recent authentication of that session:
  // the tests start once both are past (the step-up window is five minutes)
  s.clock.now += 5 * 60_000 + STEP
  return { ...user, key, secret, otpauth_url, codes, token }
}

/** POST <prefix>/login answered 400 LOGIN_2FA_REQUIRED: its ticket. */
async function ticketOf(s: Setup, prefix: string, email: string): Promise<string> {
  const res = await postLogin(s.api, prefix, email, PASSWORD)
  assert.equal(res.statusCode, 400, res.body)
  const detail = res.json().detail
  assert.equal(detail.code, 'LOGIN_2FA_REQUIRED')
  assert.match(detail.ticket, /^[A-Za-z0-9_-]{43}$/)
  return detail.ticket
}

const second = (s: Setup, prefix: string, ticket: string, code: string) =>
  s.api.post(`${prefix}/login/2fa`, { ticket, code })

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}: second factors (${model.name} ids)`, () => {
      let s: Setup | null = null
      const skip = `${kind} is not reachable locally`
      before(async () => {
        const redisUrl = await testRedisUrl()
        const smtp = await startSmtpServer()
        const clock = { now: Math.floor(Date.now() / STEP) * STEP + 1000 }
        const service = await startTestApp(
          kind,
          {
            PUBLIC_URL,
            ...SUPERUSER_ENV,
            ...model.env,
            SMTP_URL: smtp.url,
            ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
          },
          { clock: () => new Date(clock.now) },
        )
        if (!service) {
          await smtp.close()
          return
        }
        s = {
          service,
          api: client(service.app),
          db: openDatabase(service.database.url),
          redis: redisUrl ? openRedis(redisUrl) : null,
          smtp,
          clock,
        }
      })
      after(async () => {
        if (!s) return
        s.redis?.disconnect()
        await s.db.close()
        await s.service.close()
        await s.smtp.close()
      })
      const it = (name: string, body: (s: Setup) => Promise<void>, needs: { redis?: boolean } = {}) =>
        test(name, async (t: TestContext) => {
          if (!s) return t.skip(skip)
          if (needs.redis && !s.redis) return t.skip('Redis is not reachable locally')
          await body(s)
        })

      it('a user without a factor signs in as in fastapi-users; GET /auth/2fa says so', async (s) => {
        const user = await registered(s.api)
        const login = await postLogin(s.api, '/auth/jwt', user.email, PASSWORD)
        assert.equal(login.statusCode, 200, login.body)
        const token = login.json().access_token
        assert.deepEqual(reply(await s.api.get('/auth/2fa', token)), [
          200,
          { enabled: false, methods: [], recovery_codes_remaining: 0 },
        ])
        assert.deepEqual(reply(await s.api.patch('/users/me', { password: 'a-new-password-123' }, token)).at(0), 200)
      })

      it('enrolment: a pending secret, stored encrypted; a wrong code refused; ten recovery codes; a notice mail', async (s) => {
        const user = await registered(s.api)
        const token = await s.api.token(user.email, PASSWORD)
        const setup = await s.api.post('/auth/2fa/totp/setup', undefined, token)
        assert.equal(setup.statusCode, 200, setup.body)
        const { secret, otpauth_url } = setup.json()
        assert.match(secret, /^[A-Z2-7]{32}$/)
        assert.equal(
          otpauth_url,
          `otpauth://totp/fastify-users:${encodeURIComponent(user.email)}?secret=${secret}&issuer=fastify-users&algorithm=SHA1&digits=6&period=30`,
        )
        const row = await s.db.db
          .selectFrom('totp_secret')
          .selectAll()
          .where('user_id', '=', user.id)
          .executeTakeFirst()
        assert.ok(row, 'the pending secret is stored')
        assert.equal(row.confirmed_at, null)
        assert.ok(!String(row.secret).includes(secret), 'not in clear')
        assert.ok(String(row.secret).startsWith('v1.'))
        // pending: logins are not challenged yet
        assert.equal((await postLogin(s.api, '/auth/jwt', user.email, PASSWORD)).statusCode, 200)
        const key = base32Decode(secret)
        const wrong = totp(key, s.clock.now + 2 * STEP)
        assert.deepEqual(reply(await s.api.post('/auth/2fa/totp/enable', { code: wrong }, token)), [
          400,
          { detail: 'TOTP_INVALID_CODE' },
        ])
        const enable = await s.api.post('/auth/2fa/totp/enable', { code: totp(key, s.clock.now) }, token)
        assert.equal(enable.statusCode, 200, enable.body)
        const codes = enable.json().recovery_codes as string[]
        assert.equal(codes.length, 10)
        assert.equal(new Set(codes).size, 10)
        for (const code of codes) assert.match(code, /^[a-z2-9]{5}-[a-z2-9]{5}$/)
        const stored = await s.db.db
          .selectFrom('recovery_code')
          .select('code_hash')
          .where('user_id', '=', user.id)
          .execute()
        assert.equal(stored.length, 10)
        assert.ok(stored.every((r) => !codes.some((c) => r.code_hash.includes(c.replace('-', '')))))
        assert.deepEqual(reply(await s.api.get('/auth/2fa', token)), [
          200,
          { enabled: true, methods: ['totp'], recovery_codes_remaining: 10 },
        ])
        // on: a second setup is refused, the secret kept
        assert.deepEqual(reply(await s.api.post('/auth/2fa/totp/setup', undefined, token)), [
          400,
          { detail: 'TOTP_ALREADY_ENABLED' },
        ])
        const mail = await s.smtp.waitForMail(
          (m) => m.to.includes(user.email) && m.subject === 'Two-step verification was turned on',
        )
        assert.ok(mail.text.includes('authenticator app'))
        assert.ok(!mail.text.includes(secret) && !codes.some((c) => mail.text.includes(c)))
        s.clock.now += STEP
      })

      it('bearer (JWT + refresh): /login asks for the factor, /login/2fa answers the login; a refresh is no new login', async (s) => {
        const user = await enrolled(s)
        const res = await postLogin(s.api, '/auth/jwt', user.email, PASSWORD)
        assert.equal(res.statusCode, 400)
        const { detail } = res.json()
        assert.deepEqual(Object.keys(detail).sort(), ['code', 'methods', 'ticket'])
        assert.deepEqual(detail.methods, ['totp', 'recovery_code'])
        assert.equal(res.headers['set-cookie'], undefined, 'no token, no cookie')
        const ok = await second(s, '/auth/jwt', detail.ticket, totp(user.key, s.clock.now))
        assert.equal(ok.statusCode, 200, ok.body)
        const body = ok.json()
        assert.deepEqual(Object.keys(body).sort(), ['access_token', 'refresh_token', 'token_type'])
        assert.equal(ok.headers['cache-control'], 'no-store')
        assert.equal((await s.api.get('/users/me', body.access_token)).json().email, user.email)
        const renewed = await s.api.post('/auth/jwt/refresh', { refresh_token: body.refresh_token })
        assert.equal(renewed.statusCode, 200, renewed.body)
        // the ticket is spent by its success
        s.clock.now += STEP
        assert.deepEqual(reply(await second(s, '/auth/jwt', detail.ticket, totp(user.key, s.clock.now))), BAD_CODE)
      })

      it('cookie (database strategy): /login/2fa answers 204 with the session cookie', async (s) => {
        const user = await enrolled(s)
        const ticket = await ticketOf(s, '/auth/cookie', user.email)
        const ok = await s.api.send({
          method: 'POST',
          url: '/auth/cookie/login/2fa',
          payload: { ticket, code: totp(user.key, s.clock.now) },
        })
        assert.deepEqual(reply(ok), NO_CONTENT)
        const cookie = setCookie(ok, ACCESS_COOKIE)
        assert.ok(cookie?.value)
        const me = await s.api.send({
          method: 'GET',
          url: '/users/me',
          headers: withCookies({ [ACCESS_COOKIE]: cookie.value }),
        })
        assert.equal(me.json().email, user.email)
      })

      it(
        'Redis: /auth/redis/login/2fa answers its bearer token',
        async (s) => {
          const user = await enrolled(s)
          const ticket = await ticketOf(s, '/auth/redis', user.email)
          const ok = await second(s, '/auth/redis', ticket, totp(user.key, s.clock.now))
          assert.equal(ok.statusCode, 200, ok.body)
          assert.deepEqual(Object.keys(ok.json()).sort(), ['access_token', 'token_type'])
          const me = await s.api.send({ method: 'GET', url: '/users/me', headers: bearer(ok.json().access_token) })
          assert.equal(me.json().email, user.email)
        },
        { redis: true },
      )

      it('a ticket is its backend’s only, and a code works once (replay refused)', async (s) => {
        const user = await enrolled(s)
        const code = totp(user.key, s.clock.now)
        const jwtTicket = await ticketOf(s, '/auth/jwt', user.email)
        assert.deepEqual(reply(await second(s, '/auth/cookie', jwtTicket, code)), BAD_CODE)
        assert.equal((await second(s, '/auth/jwt', jwtTicket, code)).statusCode, 200)
        const again = await ticketOf(s, '/auth/jwt', user.email)
        assert.deepEqual(reply(await second(s, '/auth/jwt', again, code)), BAD_CODE, 'the same code, replayed')
        // an earlier step's code is no better once a later one was used
        assert.deepEqual(reply(await second(s, '/auth/jwt', again, totp(user.key, s.clock.now - STEP))), BAD_CODE)
        s.clock.now += STEP
        assert.equal((await second(s, '/auth/jwt', again, totp(user.key, s.clock.now))).statusCode, 200)
      })

      it('drift: one step either side accepted, two refused', async (s) => {
        const user = await enrolled(s)
        s.clock.now += STEP // so that a step behind is later than the enabling code's
        const at = (steps: number) => totp(user.key, s.clock.now + steps * STEP)
        let ticket = await ticketOf(s, '/auth/jwt', user.email)
        assert.deepEqual(reply(await second(s, '/auth/jwt', ticket, at(2))), BAD_CODE)
        assert.deepEqual(reply(await second(s, '/auth/jwt', ticket, at(-2))), BAD_CODE)
        assert.equal((await second(s, '/auth/jwt', ticket, at(-1))).statusCode, 200, 'a step behind')
        ticket = await ticketOf(s, '/auth/jwt', user.email)
        assert.equal((await second(s, '/auth/jwt', ticket, at(1))).statusCode, 200, 'a step ahead')
        s.clock.now += 2 * STEP
      })

      it('a ticket expires after five minutes and allows five wrong codes', async (s) => {
        const user = await enrolled(s)
        const ticket = await ticketOf(s, '/auth/jwt', user.email)
        s.clock.now += 5 * 60_000
        assert.deepEqual(reply(await second(s, '/auth/jwt', ticket, totp(user.key, s.clock.now))), BAD_CODE)
        const fresh = await ticketOf(s, '/auth/jwt', user.email)
        for (let i = 0; i < 5; i++)
          assert.deepEqual(reply(await second(s, '/auth/jwt', fresh, wrongCode(user.key, s.clock.now))), BAD_CODE)
        assert.deepEqual(
          reply(await second(s, '/auth/jwt', fresh, totp(user.key, s.clock.now))),
          BAD_CODE,
          'spent by its fifth wrong code',
        )
        assert.deepEqual(reply(await second(s, '/auth/jwt', 'no-such-ticket', totp(user.key, s.clock.now))), BAD_CODE)
      })

      it('recovery codes: each works once, in place of a code', async (s) => {
        const user = await enrolled(s)
        const [first, second_] = user.codes as [string, string]
        const ticket = await ticketOf(s, '/auth/jwt', user.email)
        assert.equal((await second(s, '/auth/jwt', ticket, first.toUpperCase())).statusCode, 200)
        const again = await ticketOf(s, '/auth/jwt', user.email)
        assert.deepEqual(reply(await second(s, '/auth/jwt', again, first)), BAD_CODE)
        const ok = await second(s, '/auth/jwt', again, second_)
        assert.equal(ok.statusCode, 200)
        const status = await s.api.get('/auth/2fa', ok.json().access_token)
        assert.equal(status.json().recovery_codes_remaining, 8)
        // another user's code is no code of this one
        const other = await enrolled(s)
        const ticketOther = await ticketOf(s, '/auth/jwt', other.email)
        assert.deepEqual(reply(await second(s, '/auth/jwt', ticketOther, user.codes[2] as string)), BAD_CODE)
      })

      it('step-up: a changed address or password needs a recent authentication; a step-up code gives one', async (s) => {
        const user = await enrolled(s)
        // the token of a password-only login made before TOTP was on: not recent
        assert.deepEqual(reply(await s.api.patch('/users/me', { email: newEmail() }, user.token)), STEP_UP)
        assert.deepEqual(reply(await s.api.patch('/users/me', { password: 'another-password-1' }, user.token)), STEP_UP)
        assert.equal((await s.api.patch('/users/me', { first_name: 'Bea' }, user.token)).statusCode, 200)
        // a login through the second factor is recent…
        const ticket = await ticketOf(s, '/auth/jwt', user.email)
        const token = (await second(s, '/auth/jwt', ticket, totp(user.key, s.clock.now))).json().access_token
        const address = newEmail()
        assert.equal((await s.api.patch('/users/me', { email: address }, token)).statusCode, 200)
        // …for five minutes
        s.clock.now += 5 * 60_000 + STEP
        assert.deepEqual(reply(await s.api.patch('/users/me', { email: newEmail() }, token)), STEP_UP)
        assert.deepEqual(
          reply(await s.api.post('/auth/2fa/step-up', { code: wrongCode(user.key, s.clock.now) }, token)),
          [400, { detail: 'TWO_FACTOR_BAD_CODE' }],
        )
        assert.deepEqual(
          reply(await s.api.post('/auth/2fa/step-up', { code: totp(user.key, s.clock.now) }, token)),
          NO_CONTENT,
        )
        const patched = await s.api.patch('/users/me', { email: user.email }, token)
        assert.equal(patched.statusCode, 200, patched.body)
        // recorded for that session only
        assert.deepEqual(reply(await s.api.patch('/users/me', { email: newEmail() }, user.token)), STEP_UP)
        s.clock.now += STEP
      })

      it('new recovery codes need a recent authentication and a code; the old ones stop working', async (s) => {
        const user = await enrolled(s)
        assert.deepEqual(reply(await s.api.post('/auth/2fa/recovery-codes', { code: '000000' }, user.token)), STEP_UP)
        const ticket = await ticketOf(s, '/auth/jwt', user.email)
        const token = (await second(s, '/auth/jwt', ticket, totp(user.key, s.clock.now))).json().access_token
        assert.deepEqual(
          reply(await s.api.post('/auth/2fa/recovery-codes', { code: wrongCode(user.key, s.clock.now) }, token)),
          [400, { detail: 'TWO_FACTOR_BAD_CODE' }],
        )
        s.clock.now += STEP
        const res = await s.api.post('/auth/2fa/recovery-codes', { code: totp(user.key, s.clock.now) }, token)
        assert.equal(res.statusCode, 200, res.body)
        const codes = res.json().recovery_codes as string[]
        assert.equal(codes.length, 10)
        const again = await ticketOf(s, '/auth/jwt', user.email)
        assert.deepEqual(reply(await second(s, '/auth/jwt', again, user.codes[0] as string)), BAD_CODE)
        assert.equal((await second(s, '/auth/jwt', again, codes[0] as string)).statusCode, 200)
        s.clock.now += STEP
      })

      it('disable: a recent authentication and the password (or a code); then logins are plain again', async (s) => {
        const user = await enrolled(s)
        assert.deepEqual(reply(await s.api.post('/auth/2fa/disable', { password: PASSWORD }, user.token)), STEP_UP)
        const ticket = await ticketOf(s, '/auth/jwt', user.email)
        const token = (await second(s, '/auth/jwt', ticket, totp(user.key, s.clock.now))).json().access_token
        assert.deepEqual(reply(await s.api.post('/auth/2fa/disable', { password: 'wrong-password-1' }, token)), [
          400,
          { detail: 'TWO_FACTOR_BAD_PROOF' },
        ])
        assert.deepEqual(reply(await s.api.post('/auth/2fa/disable', {}, token)), [
          400,
          { detail: 'TWO_FACTOR_BAD_PROOF' },
        ])
        assert.deepEqual(reply(await s.api.post('/auth/2fa/disable', { password: PASSWORD }, token)), NO_CONTENT)
        assert.deepEqual(reply(await s.api.get('/auth/2fa', token)), [
          200,
          { enabled: false, methods: [], recovery_codes_remaining: 0 },
        ])
        assert.equal((await postLogin(s.api, '/auth/jwt', user.email, PASSWORD)).statusCode, 200)
        assert.deepEqual(reply(await s.api.post('/auth/2fa/disable', { password: PASSWORD }, token)), [
          400,
          { detail: 'TWO_FACTOR_NOT_ENABLED' },
        ])
        await s.smtp.waitForMail(
          (m) => m.to.includes(user.email) && m.subject === 'Two-step verification was turned off',
        )
        const rows = await s.db.db
          .selectFrom('recovery_code')
          .select('code_hash')
          .where('user_id', '=', user.id)
          .execute()
        assert.equal(rows.length, 0)
      })

      it('a superuser removes a user’s factors (DELETE /users/{id}/2fa); the user is told', async (s) => {
        const user = await enrolled(s)
        const admin = await s.api.token(ADMIN.email, ADMIN.password)
        assert.deepEqual(reply(await s.api.delete(`/users/${user.id}/2fa`, user.token)), [403, { detail: 'Forbidden' }])
        assert.deepEqual(reply(await s.api.delete(`/users/${model.unknownId}/2fa`, admin)), [
          404,
          { detail: 'Not Found' },
        ])
        assert.deepEqual(reply(await s.api.delete(`/users/${user.id}/2fa`, admin)), NO_CONTENT)
        assert.equal((await postLogin(s.api, '/auth/jwt', user.email, PASSWORD)).statusCode, 200)
        const mail = await s.smtp.waitForMail(
          (m) => m.to.includes(user.email) && m.subject === 'Two-step verification was turned off',
        )
        assert.ok(mail.text.includes('by an administrator'))
      })
    })
  }
}

describe('wrong second-factor codes count toward the login lock-out (SQLite, RATE_LIMIT on)', () => {
  let service: TestApp | null = null
  const clock = { now: Math.floor(Date.now() / STEP) * STEP + 1000 }
  before(async () => {
    service = await startTestApp(
      'sqlite',
      { RATE_LIMIT: 'true', LOGIN_FREE_ATTEMPTS: '2', PUBLIC_URL },
      { clock: () => new Date(clock.now) },
    )
  })
  after(() => service?.close())

  test('two wrong codes (the free attempts): the next attempt, the right code too, waits out a delay (429)', async () => {
    assert.ok(service)
    const api = client(service.app)
    const s = { api, clock } as unknown as Setup
    const user = await enrolled(s)
    const ticket = await ticketOf(s, '/auth/jwt', user.email)
    const other = await ticketOf(s, '/auth/jwt', user.email)
    assert.deepEqual(reply(await second(s, '/auth/jwt', ticket, wrongCode(user.key, clock.now))), BAD_CODE)
    assert.deepEqual(reply(await second(s, '/auth/jwt', ticket, wrongCode(user.key, clock.now, 1))), BAD_CODE)
    const locked = await second(s, '/auth/jwt', other, totp(user.key, clock.now))
    assert.deepEqual(reply(locked), [429, { detail: 'TOO_MANY_REQUESTS' }])
    assert.ok(Number(locked.headers['retry-after']) >= 1)
    // the password is locked out as well: the same account's failures
    assert.equal((await postLogin(api, '/auth/jwt', user.email, PASSWORD)).statusCode, 429)
  })

  test('a sign-in through the second factor makes the client a trusted device (its cookie); the password step alone does not', async () => {
    assert.ok(service)
    const api = client(service.app)
    const s = { api, clock } as unknown as Setup
    const user = await enrolled(s)
    const challenged = await postLogin(api, '/auth/jwt', user.email, PASSWORD)
    assert.equal(challenged.statusCode, 400)
    assert.equal(setCookie(challenged, 'fastapiusersdevice'), undefined)
    const ok = await second(s, '/auth/jwt', challenged.json().detail.ticket, totp(user.key, clock.now))
    assert.equal(ok.statusCode, 200, ok.body)
    assert.ok(setCookie(ok, 'fastapiusersdevice')?.value)
    clock.now += STEP
  })

  test('the right password does not clear the failures of wrong codes: a new ticket gives no new free attempts', async () => {
    assert.ok(service)
    const api = client(service.app)
    const s = { api, clock } as unknown as Setup
    const user = await enrolled(s)
    const first = await ticketOf(s, '/auth/jwt', user.email)
    assert.deepEqual(reply(await second(s, '/auth/jwt', first, wrongCode(user.key, clock.now))), BAD_CODE)
    // the password again (right, admitted as the second free attempt): the wrong code is not forgotten,
    // so even the right code now waits out the delay
    const next = await ticketOf(s, '/auth/jwt', user.email)
    const locked = await second(s, '/auth/jwt', next, totp(user.key, clock.now))
    assert.deepEqual(reply(locked), [429, { detail: 'TOO_MANY_REQUESTS' }])
  })
})
