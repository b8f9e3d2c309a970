/**
 * Limits on input, on every database: a body limit (413), e-mails of at most 320 characters, a
 * password length that keeps hashing bounded (400 with the contract's `…_INVALID_PASSWORD` body
 * on register, reset and PATCH; a login fails like a wrong password without hashing the long
 * one), no bcrypt 72-byte truncation for new hashes, strict content types, and unknown or
 * server-only JSON fields ignored the same way on every route.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { client, type Response, startTestApp, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { startSmtpServer } from '../support/smtp.js'

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const PASSWORD = 'correct-horse-battery'
const BODY_LIMIT = 16 * 1024
const MAX_PASSWORD = 4096

const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]
const TOO_LARGE = [413, { detail: 'Request Entity Too Large' }]
const BAD_CREDENTIALS = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]
const invalidPassword = (code: string, reason: string) => [400, { detail: { code, reason } }]
const tooLongReason = (max: number) => `Password should be at most ${max} characters`

type Api = ReturnType<typeof client>

function service(kind: DatabaseKind, env: Record<string, string> = {}) {
  let started: TestApp | null = null
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>
  before(async () => {
    smtp = await startSmtpServer()
    started = await startTestApp(kind, {
      SMTP_URL: smtp.url,
      FIRST_SUPERUSER_EMAIL: ADMIN.email,
      FIRST_SUPERUSER_PASSWORD: ADMIN.password,
      ...env,
    })
  })
  after(async () => {
    await started?.close()
    await smtp?.close()
  })
  return {
    it(name: string, body: (api: Api, app: TestApp['app'], t: TestContext) => Promise<void>) {
      test(name, async (t) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body(client(started.app), started.app, t)
      })
    },
    /** The reset token of the mail forgot-password sends. */
    async resetToken(api: Api, email: string): Promise<string> {
      assert.equal((await api.post('/auth/forgot-password', { email })).statusCode, 202)
      const mail = await smtp.waitForMail((m) => m.to.includes(email) && /reset-password\?token=/.test(m.text))
      smtp.messages.splice(smtp.messages.indexOf(mail), 1)
      return decodeURIComponent((mail.text.match(/reset-password\?token=(\S+)/) as RegExpMatchArray)[1] as string)
    },
  }
}

async function registered(api: Api, password = PASSWORD, email = newEmail()) {
  const res = await api.register(email, password)
  assert.equal(res.statusCode, 201, res.body)
  return { ...(res.json() as { id: string; email: string }), password }
}

const multipart = (fields: Record<string, string>) => {
  const boundary = 'limits-boundary'
  const parts = Object.entries(fields).map(
    ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  )
  return {
    payload: `${parts.join('')}--${boundary}--\r\n`,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  }
}

for (const kind of databaseKinds()) {
  describe(`input limits on ${kind}`, () => {
    describe(`BODY_LIMIT=${BODY_LIMIT}`, () => {
      const s = service(kind, { BODY_LIMIT: String(BODY_LIMIT) })

      s.it(
        'a body over the limit is a 413 on JSON, urlencoded and multipart routes; one under it is read',
        async (api) => {
          const big = 'x'.repeat(BODY_LIMIT)
          const json = (url: string, body: unknown) =>
            api.send({
              method: 'POST',
              url,
              payload: JSON.stringify(body),
              headers: { 'content-type': 'application/json' },
            })
          assert.deepEqual(reply(await json('/auth/register', { email: newEmail(), password: big })), TOO_LARGE)
          assert.deepEqual(reply(await json('/auth/forgot-password', { email: newEmail(), pad: big })), TOO_LARGE)
          const urlencoded = new URLSearchParams({ username: newEmail(), password: big }).toString()
          assert.deepEqual(
            reply(
              await api.send({
                method: 'POST',
                url: '/auth/jwt/login',
                payload: urlencoded,
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
              }),
            ),
            TOO_LARGE,
          )
          const form = multipart({ username: newEmail(), password: big })
          assert.deepEqual(reply(await api.send({ method: 'POST', url: '/auth/jwt/login', ...form })), TOO_LARGE)
          // No Content-Length (chunked): the limit still holds while the body streams in.
          const res = await api.send({
            method: 'POST',
            url: '/auth/register',
            payload: JSON.stringify({ email: newEmail(), password: big }),
            headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
          })
          assert.deepEqual(reply(res), TOO_LARGE)

          const under = 'y'.repeat(BODY_LIMIT / 2)
          assert.deepEqual(reply(await json('/auth/forgot-password', { email: newEmail(), pad: under })), [202, null])
        },
      )
    })

    describe('defaults', () => {
      const s = service(kind)

      s.it(
        'e-mails over 320 characters are a 422 at body.email on register, forgot-password, verify and PATCH',
        async (api) => {
          const long = `${'a'.repeat(321 - '@example.com'.length)}@example.com`
          assert.equal(long.length, 321)
          const detail = (input: string) => ({
            type: 'value_error',
            loc: ['body', 'email'],
            msg: 'value is not a valid email address: Length must not exceed 320 characters',
            input,
          })
          const register = await api.post('/auth/register', { email: long, password: PASSWORD, first_name: 'A' })
          assert.deepEqual(reply(register), [422, { detail: [detail(long)] }])
          for (const url of ['/auth/forgot-password', '/auth/request-verify-token']) {
            assert.deepEqual(reply(await api.post(url, { email: long })), [422, { detail: [detail(long)] }], url)
          }
          const user = await registered(api)
          const token = await api.token(user.email, PASSWORD)
          assert.deepEqual(reply(await api.patch('/users/me', { email: long }, token)), [
            422,
            { detail: [detail(long)] },
          ])
          // Between 254 and 320: refused by the address rules, still a 422.
          const tooLongAddress = `${'b'.repeat(64)}@${'c'.repeat(60)}.${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(20)}.com`
          assert.ok(tooLongAddress.length > 254 && tooLongAddress.length <= 320)
          assert.equal((await api.post('/auth/forgot-password', { email: tooLongAddress })).statusCode, 422)
        },
      )

      s.it(
        `a new password over ${MAX_PASSWORD} characters is a 400 …_INVALID_PASSWORD on register, reset and PATCH`,
        async (api) => {
          const tooLong = 'p'.repeat(MAX_PASSWORD + 1)
          const reason = tooLongReason(MAX_PASSWORD)
          assert.deepEqual(
            reply(await api.register(newEmail(), tooLong)),
            invalidPassword('REGISTER_INVALID_PASSWORD', reason),
          )
          // Counted in code points: 4097 emoji (16 KB of UTF-8) are too many, 4096 are fine.
          assert.deepEqual(
            reply(await api.register(newEmail(), '🔑'.repeat(MAX_PASSWORD + 1))),
            invalidPassword('REGISTER_INVALID_PASSWORD', reason),
          )
          const longest = await registered(api, '🔑'.repeat(MAX_PASSWORD))
          assert.equal((await api.login(longest.email, longest.password)).statusCode, 200)

          const user = await registered(api)
          const token = await api.token(user.email, PASSWORD)
          assert.deepEqual(
            reply(await api.patch('/users/me', { password: tooLong }, token)),
            invalidPassword('UPDATE_USER_INVALID_PASSWORD', reason),
          )
          const resetToken = await s.resetToken(api, user.email)
          assert.deepEqual(
            reply(await api.post('/auth/reset-password', { token: resetToken, password: tooLong })),
            invalidPassword('RESET_PASSWORD_INVALID_PASSWORD', reason),
          )
          // Refused before anything changed: the old password works and the token is still good.
          assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200)
          assert.deepEqual(
            reply(await api.post('/auth/reset-password', { token: resetToken, password: 'p'.repeat(MAX_PASSWORD) })),
            [200, null],
          )
        },
      )

      s.it(
        'a login with an absurdly long password is LOGIN_BAD_CREDENTIALS, and the long password is never hashed',
        async (api, app) => {
          const user = await registered(api)
          const seen: number[] = []
          const { passwords } = app.users.manager
          const { verify, verifyDummy } = passwords
          passwords.verify = (password, hash) => {
            seen.push(password.length)
            return verify(password, hash)
          }
          passwords.verifyDummy = (password) => {
            seen.push(password.length)
            return verifyDummy(password)
          }
          try {
            const huge = `${PASSWORD}${'z'.repeat(900 * 1024)}` // under the default 1 MiB body limit
            assert.deepEqual(reply(await api.login(user.email, huge)), BAD_CREDENTIALS)
            assert.deepEqual(reply(await api.login(newEmail('nobody'), huge)), BAD_CREDENTIALS)
            const form = multipart({ username: user.email, password: huge })
            assert.deepEqual(
              reply(await api.send({ method: 'POST', url: '/auth/jwt/login', ...form })),
              BAD_CREDENTIALS,
            )
            assert.deepEqual(reply(await api.login(user.email, 'p'.repeat(MAX_PASSWORD + 1))), BAD_CREDENTIALS)
          } finally {
            passwords.verify = verify
            passwords.verifyDummy = verifyDummy
          }
          // Each login cost one verification (a dummy one), of nothing longer than the limit.
          assert.equal(seen.length, 4)
          assert.ok(
            seen.every((length) => length <= MAX_PASSWORD),
            `lengths hashed: ${seen}`,
          )
        },
      )

      s.it(
        "bcrypt's 72-byte truncation never applies: new hashes are argon2id and every byte counts",
        async (api, app) => {
          const password = `${'a'.repeat(72)}-and-the-rest-matters`
          const user = await registered(api, password)
          const stored = await app.users.manager.getByEmail(user.email)
          assert.match(stored?.hashed_password ?? '', /^\$argon2id\$/)
          assert.deepEqual(reply(await api.login(user.email, password.slice(0, 72))), BAD_CREDENTIALS)
          assert.deepEqual(
            reply(await api.login(user.email, `${password.slice(0, 72)}-something-else`)),
            BAD_CREDENTIALS,
          )
          assert.equal((await api.login(user.email, password)).statusCode, 200)
        },
      )

      s.it('content types are strict: JSON routes take JSON only, login takes forms only', async (api) => {
        const body = JSON.stringify({ email: newEmail(), password: PASSWORD, first_name: 'A' })
        const send = (url: string, payload: string, contentType?: string) =>
          api.send({ method: 'POST', url, payload, headers: contentType ? { 'content-type': contentType } : {} })
        const notAnObject = (input: unknown) => [
          422,
          {
            detail: [
              {
                type: 'model_attributes_type',
                loc: ['body'],
                msg: 'Input should be a valid dictionary or object to extract fields from',
                input,
              },
            ],
          },
        ]
        assert.deepEqual(reply(await send('/auth/register', body, 'text/plain')), notAnObject(body))
        assert.deepEqual(
          reply(await send('/auth/register', body, 'application/x-www-form-urlencoded')),
          notAnObject(body),
        )
        assert.deepEqual(reply(await send('/auth/register', body, 'application/xml')), notAnObject(body))
        assert.equal((await send('/auth/register', body, 'application/json; charset=utf-8')).statusCode, 201)
        const other = JSON.stringify({ email: newEmail(), password: PASSWORD, first_name: 'A' })
        assert.equal((await send('/auth/register', other)).statusCode, 201, 'no Content-Type: read as JSON')

        const invalidJson = [
          422,
          { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {} }] },
        ]
        assert.deepEqual(reply(await send('/auth/forgot-password', '{"email":', 'application/json')), invalidJson)
        // A prototype key is refused outright, never merged into an object.
        const proto = '{"email":"a@example.com","__proto__":{"is_superuser":true}}'
        assert.deepEqual(reply(await send('/auth/register', proto, 'application/json')), invalidJson)

        const login = await send(
          '/auth/jwt/login',
          JSON.stringify({ username: 'a@example.com', password: PASSWORD }),
          'application/json',
        )
        assert.equal(login.statusCode, 422)
        assert.deepEqual(
          login.json().detail.map((d: { loc: unknown }) => d.loc),
          [
            ['body', 'username'],
            ['body', 'password'],
          ],
        )
      })

      s.it(
        'unknown and server-only JSON fields are ignored alike on register, PATCH, forgot, reset and login',
        async (api, app) => {
          const email = newEmail()
          const extras = {
            unknown_field: 'x',
            hashed_password: 'not-a-hash',
            id: '00000000-0000-4000-8000-000000000000',
          }
          const res = await api.post('/auth/register', {
            email,
            password: PASSWORD,
            first_name: 'A',
            is_superuser: true,
            is_verified: true,
            is_active: false,
            ...extras,
          })
          assert.equal(res.statusCode, 201, res.body)
          const user = res.json()
          assert.deepEqual(Object.keys(user).sort(), [
            'email',
            'first_name',
            'id',
            'is_active',
            'is_superuser',
            'is_verified',
          ])
          assert.deepEqual([user.is_active, user.is_superuser, user.is_verified], [true, false, false])
          assert.notEqual(user.id, extras.id)

          const token = await api.token(email, PASSWORD)
          const patched = await api.patch('/users/me', { first_name: 'B', is_superuser: true, ...extras }, token)
          assert.deepEqual(reply(patched), [200, { ...user, first_name: 'B' }])
          assert.equal((await api.login(email, PASSWORD)).statusCode, 200, 'hashed_password was not written')

          assert.deepEqual(reply(await api.post('/auth/forgot-password', { email, ...extras })), [202, null])
          const resetToken = await s.resetToken(api, email)
          assert.deepEqual(
            reply(
              await api.post('/auth/reset-password', { token: resetToken, password: 'another-password-1', ...extras }),
            ),
            [200, null],
          )
          const form = new URLSearchParams({ username: email, password: 'another-password-1', unknown_field: 'x' })
          const login = await api.send({
            method: 'POST',
            url: '/auth/jwt/login',
            payload: form.toString(),
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          })
          assert.equal(login.statusCode, 200)
          const stored = await app.users.manager.getByEmail(email)
          assert.match(stored?.hashed_password ?? '', /^\$argon2id\$/)
        },
      )
    })

    describe('MAX_PASSWORD_LENGTH=64', () => {
      const s = service(kind, { MAX_PASSWORD_LENGTH: '64' })

      s.it('the configured maximum is the one enforced and reported', async (api) => {
        assert.deepEqual(
          reply(await api.register(newEmail(), 'q'.repeat(65))),
          invalidPassword('REGISTER_INVALID_PASSWORD', tooLongReason(64)),
        )
        const user = await registered(api, 'q'.repeat(64))
        assert.equal((await api.login(user.email, user.password)).statusCode, 200)
        assert.deepEqual(reply(await api.login(user.email, `${user.password}q`)), BAD_CREDENTIALS)
      })
    })
  })
}
