/**
 * Password reset (/auth/forgot-password, /auth/reset-password), e-mail verification
 * (/auth/request-verify-token, /auth/verify) and the mail the reference service sends, on every
 * database, as COMPAT.md describes fastapi-users 12.1.2 and SECURITY.md requires. The tokens are
 * taken from mail really delivered to an SMTP server on loopback.
 */
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { after, before, describe, type TestContext, test } from 'node:test'
import { decodeJwt, decodeProtectedHeader, type JWTPayload, SignJWT } from 'jose'
import { client, type Response, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { idModels } from '../support/id-models.js'
import { type ReceivedMail, startSmtpServer } from '../support/smtp.js'

// ---------------------------------------------------------------------------------------------
// Helpers

const PUBLIC_URL = 'https://app.example.com'
const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const SUPERUSER_ENV = { FIRST_SUPERUSER_EMAIL: ADMIN.email, FIRST_SUPERUSER_PASSWORD: ADMIN.password }
const PASSWORD = 'correct-horse-battery'
const NEW_PASSWORD = 'new-password-456'
const OTHER_SECRET = 'another-secret-that-is-long-enough-9876543210'
const RESET_AUDIENCE = 'fastapi-users:reset'
const VERIFY_AUDIENCE = 'fastapi-users:verify'

/** A fresh address for each test: a suite shares its database and its mailbox. */

const now = () => Math.floor(Date.now() / 1000)

/** [status, parsed body]: '' for an empty body. */
const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]

const ACCEPTED = [202, null]
const OK = [200, null]
const RESET_BAD_TOKEN = [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }]
const VERIFY_BAD_TOKEN = [400, { detail: 'VERIFY_USER_BAD_TOKEN' }]
const ALREADY_VERIFIED = [400, { detail: 'VERIFY_USER_ALREADY_VERIFIED' }]
const resetInvalidPassword = (reason: string) => [400, { detail: { code: 'RESET_PASSWORD_INVALID_PASSWORD', reason } }]

/** The token's claims re-signed (HS256) with `secret`, after applying `changes`. */
function resign(token: string, changes: JWTPayload, secret = TEST_SECRET): Promise<string> {
  return new SignJWT({ ...decodeJwt(token), ...changes })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(secret))
}

interface UserRead {
  id: string | number
  email: string
  is_active: boolean
  is_superuser: boolean
  is_verified: boolean
  first_name: string | null
}

type Api = ReturnType<typeof client>
type Smtp = Awaited<ReturnType<typeof startSmtpServer>>
type LinkKind = 'reset-password' | 'verify'

/** The `${PUBLIC_URL}/${kind}?token=…` link in a mail's text part, or undefined. */
function linkIn(mail: ReceivedMail, kind: LinkKind): string | undefined {
  return mail.text.match(new RegExp(`https?://\\S+/${kind}\\?token=\\S+`))?.[0]
}

/**
 * The reference service with a real SMTP server, started once per suite; tests skip, with the
 * reason, where the database is unreachable.
 */
function service(kind: DatabaseKind, env: Record<string, string> = {}) {
  let smtp: Smtp
  let started: TestApp | null = null
  let api: Api
  /** Mails a test already took a token from, so a second request gets the next one. */
  const taken = new Set<ReceivedMail>()

  before(async () => {
    smtp = await startSmtpServer()
    started = await startTestApp(kind, { SMTP_URL: smtp.url, PUBLIC_URL, ...SUPERUSER_ENV, ...env })
    if (started) api = client(started.app)
  })
  after(async () => {
    await started?.close()
    await smtp?.close()
  })

  const self = {
    it(name: string, body: (api: Api) => Promise<void>) {
      test(name, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body(api)
      })
    },
    get smtp() {
      return smtp
    },
    /** Waits until every mail enqueued so far has reached the SMTP server (or failed). */
    drain: () => (started as TestApp).app.mailer.drain(),

    /** Registers a user and returns its UserRead body. */
    async registered(email = newEmail(), password = PASSWORD, firstName: string | null = 'Ann'): Promise<UserRead> {
      const res = await api.register(email, password, firstName)
      assert.equal(res.statusCode, 201, res.body)
      return res.json()
    },
    adminToken: () => api.token(ADMIN.email, ADMIN.password),
    async patchAsAdmin(id: string | number, body: Record<string, unknown>): Promise<UserRead> {
      const res = await api.patch(`/users/${id}`, body, await self.adminToken())
      assert.equal(res.statusCode, 200, res.body)
      return res.json()
    },
    deactivate: (id: string | number) => self.patchAsAdmin(id, { is_active: false }),

    /** The next not-yet-taken mail to `to` carrying a `kind` link, its link and its URL-decoded token. */
    async linkMail(to: string, kind: LinkKind) {
      const mail = await smtp.waitForMail((m) => m.to.includes(to) && !taken.has(m) && linkIn(m, kind) !== undefined)
      taken.add(mail)
      const link = linkIn(mail, kind) as string
      const token = decodeURIComponent(link.slice(link.indexOf('?token=') + '?token='.length))
      return { mail, link, token }
    },
    /** Mails with a `kind` link that reached the SMTP server for `to`. */
    linkMailsTo: (to: string, kind: LinkKind) => smtp.messages.filter((m) => m.to.includes(to) && linkIn(m, kind)),

    /** forgot-password (202 null) and the reset token from the mail it sends. */
    async resetToken(email: string): Promise<string> {
      assert.deepEqual(reply(await api.post('/auth/forgot-password', { email })), ACCEPTED)
      return (await self.linkMail(email, 'reset-password')).token
    },
    /** request-verify-token (202 null) and the verification token from the mail it sends. */
    async verifyToken(email: string): Promise<string> {
      assert.deepEqual(reply(await api.post('/auth/request-verify-token', { email })), ACCEPTED)
      return (await self.linkMail(email, 'verify')).token
    },
  }
  return self
}

const resetPassword = (api: Api, token: string, password = NEW_PASSWORD) =>
  api.post('/auth/reset-password', { token, password })
const verify = (api: Api, token: string) => api.post('/auth/verify', { token })

/** A TCP server that accepts connections and never says a word: an SMTP server that hangs. */
async function silentServer() {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `smtp://127.0.0.1:${port}`,
    connections: () => sockets.size,
    /** Hangs up on every client (so pending sends fail at once) and stops listening. */
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The promise's value, or a failure if it takes longer than `ms`. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// ---------------------------------------------------------------------------------------------

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids`, () => {
      describe('forgot-password and reset-password', () => {
        const s = service(kind, model.env)

        s.it('forgot-password answers 202 null to everyone and mails only an existing active user', async (api) => {
          const active = await s.registered()
          const inactive = await s.registered()
          await s.deactivate(inactive.id)
          const unknown = newEmail('unknown')

          for (const email of [active.email, unknown, inactive.email]) {
            assert.deepEqual(reply(await api.post('/auth/forgot-password', { email })), ACCEPTED, email)
          }
          const { mail, link, token } = await s.linkMail(active.email, 'reset-password')
          await s.drain()

          assert.deepEqual(mail.to, [active.email])
          assert.ok(link.startsWith(`${PUBLIC_URL}/reset-password?token=`), link)
          assert.ok(mail.html.includes(`href="${link}"`), 'the HTML part carries the same link')
          assert.deepEqual(s.linkMailsTo(unknown, 'reset-password'), [])
          assert.deepEqual(s.linkMailsTo(inactive.email, 'reset-password'), [])
          assert.equal(s.linkMailsTo(active.email, 'reset-password').length, 1)

          // {sub, password_fgpt, aud: "fastapi-users:reset", exp}, HS256, one hour
          assert.equal(decodeProtectedHeader(token).alg, 'HS256')
          const claims = decodeJwt(token)
          assert.deepEqual(Object.keys(claims).sort(), ['aud', 'exp', 'password_fgpt', 'sub'])
          assert.equal(claims.sub, String(active.id))
          assert.equal(claims.aud, RESET_AUDIENCE)
          assert.equal(typeof claims.password_fgpt, 'string')
          assert.ok(Math.abs((claims.exp as number) - (now() + 3600)) <= 10, `exp ${claims.exp}`)
        })

        s.it('the token from the mail resets the password once', async (api) => {
          const user = await s.registered()
          const token = await s.resetToken(user.email)

          assert.deepEqual(reply(await resetPassword(api, token, NEW_PASSWORD)), OK)
          assert.equal((await api.login(user.email, NEW_PASSWORD)).statusCode, 200)
          assert.deepEqual(reply(await api.login(user.email, PASSWORD)), [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])

          assert.deepEqual(reply(await resetPassword(api, token, 'yet-another-password')), RESET_BAD_TOKEN)
          assert.equal((await api.login(user.email, NEW_PASSWORD)).statusCode, 200)
        })

        s.it('forgot-password finds the user whatever the letter case of the address', async (api) => {
          const user = await s.registered()
          const res = await api.post('/auth/forgot-password', { email: user.email.toUpperCase() })
          assert.deepEqual(reply(res), ACCEPTED)
          const { mail } = await s.linkMail(user.email, 'reset-password')
          assert.deepEqual(mail.to, [user.email])
        })

        s.it('links are built from PUBLIC_URL, never from Host or X-Forwarded-Host', async (api) => {
          const user = await s.registered()
          const res = await api.send({
            method: 'POST',
            url: '/auth/forgot-password',
            headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
            payload: { email: user.email },
          })
          assert.deepEqual(reply(res), ACCEPTED)
          const { mail, link } = await s.linkMail(user.email, 'reset-password')
          assert.ok(link.startsWith(`${PUBLIC_URL}/reset-password?token=`), link)
          assert.ok(!mail.text.includes('evil.example') && !mail.html.includes('evil.example'))
        })

        s.it('garbage tokens are refused', async (api) => {
          for (const token of ['not-a-token', '', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.']) {
            assert.deepEqual(reply(await resetPassword(api, token)), RESET_BAD_TOKEN, JSON.stringify(token))
          }
        })

        // Each forgery changes one thing in a genuine token; the genuine one still works afterwards,
        // so the refusal is due to that one thing.
        const forgeries: [string, (genuine: string) => Promise<string>][] = [
          ['signed with another secret', (t) => resign(t, {}, OTHER_SECRET)],
          ['expired', (t) => resign(t, { exp: now() - 60 })],
          ['with the verify audience', (t) => resign(t, { aud: VERIFY_AUDIENCE })],
          ['with the auth audience', (t) => resign(t, { aud: ['fastapi-users:auth'] })],
          ['without a password fingerprint', (t) => resign(t, { password_fgpt: undefined })],
          ['with another fingerprint', (t) => resign(t, { password_fgpt: 'hmac-sha256:AAAA' })],
        ]
        for (const [name, forge] of forgeries) {
          s.it(`a reset token ${name} is refused`, async (api) => {
            const user = await s.registered()
            const genuine = await s.resetToken(user.email)
            assert.deepEqual(reply(await resetPassword(api, await forge(genuine))), RESET_BAD_TOKEN)
            assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200, 'the password is unchanged')
            assert.deepEqual(reply(await resetPassword(api, genuine)), OK)
          })
        }

        s.it(
          'the same claims re-signed with the service secret are accepted (control for the forgeries)',
          async (api) => {
            const user = await s.registered()
            const genuine = await s.resetToken(user.email)
            assert.deepEqual(reply(await resetPassword(api, await resign(genuine, {}))), OK)
          },
        )

        s.it('a token issued before a password change through PATCH /users/me is dead', async (api) => {
          const user = await s.registered()
          const token = await s.resetToken(user.email)
          const changed = await api.patch(
            '/users/me',
            { password: 'changed-password-789' },
            await api.token(user.email, PASSWORD),
          )
          assert.equal(changed.statusCode, 200, changed.body)

          assert.deepEqual(reply(await resetPassword(api, token)), RESET_BAD_TOKEN)
          assert.equal((await api.login(user.email, 'changed-password-789')).statusCode, 200)
        })

        s.it('a token for a user deactivated since is refused', async (api) => {
          const user = await s.registered()
          const token = await s.resetToken(user.email)
          await s.deactivate(user.id)
          assert.deepEqual(reply(await resetPassword(api, token)), RESET_BAD_TOKEN)
        })

        s.it('a token for a user deleted since is refused', async (api) => {
          const user = await s.registered()
          const token = await s.resetToken(user.email)
          assert.equal((await api.delete(`/users/${user.id}`, await s.adminToken())).statusCode, 204)
          assert.deepEqual(reply(await resetPassword(api, token)), RESET_BAD_TOKEN)
        })

        s.it('an invalid new password is refused with the reason and leaves the token usable', async (api) => {
          const user = await s.registered()
          const token = await s.resetToken(user.email)

          assert.deepEqual(
            reply(await resetPassword(api, token, 'short')),
            resetInvalidPassword('Password should be at least 8 characters'),
          )
          assert.deepEqual(
            reply(await resetPassword(api, token, `x${user.email}`)),
            resetInvalidPassword('Password should not contain e-mail'),
          )
          assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200, 'the password is unchanged')

          assert.deepEqual(reply(await resetPassword(api, token, NEW_PASSWORD)), OK)
          assert.equal((await api.login(user.email, NEW_PASSWORD)).statusCode, 200)
        })

        s.it('an e-mail change does not kill a reset token', async (api) => {
          const user = await s.registered()
          const token = await s.resetToken(user.email)
          const email = newEmail('renamed')
          const changed = await api.patch('/users/me', { email }, await api.token(user.email, PASSWORD))
          assert.equal(changed.statusCode, 200, changed.body)

          assert.deepEqual(reply(await resetPassword(api, token)), OK)
          assert.equal((await api.login(email, NEW_PASSWORD)).statusCode, 200)
        })

        s.it('two concurrent resets with one token: exactly one wins', async (api) => {
          const user = await s.registered()
          const token = await s.resetToken(user.email)
          const passwords = ['first-racer-password', 'second-racer-password'] as const

          const results = await Promise.all(passwords.map((password) => resetPassword(api, token, password)))
          const replies = results.map(reply)
          const winner = replies.findIndex(([status]) => status === 200)
          assert.notEqual(winner, -1, JSON.stringify(replies))
          assert.deepEqual(replies[winner], OK)
          assert.deepEqual(replies[1 - winner], RESET_BAD_TOKEN)

          const [won, lost] = winner === 0 ? passwords : [passwords[1], passwords[0]]
          assert.equal((await api.login(user.email, won)).statusCode, 200)
          assert.equal((await api.login(user.email, lost)).statusCode, 400)
        })
      })

      describe('request-verify-token and verify', () => {
        const s = service(kind, model.env)

        s.it(
          'request-verify-token answers 202 null to everyone and mails only an active unverified user',
          async (api) => {
            const normal = await s.registered()
            const inactive = await s.registered()
            await s.deactivate(inactive.id)
            const verified = await s.registered()
            await s.patchAsAdmin(verified.id, { is_verified: true })
            const unknown = newEmail('unknown')

            for (const email of [normal.email, unknown, inactive.email, verified.email]) {
              assert.deepEqual(reply(await api.post('/auth/request-verify-token', { email })), ACCEPTED, email)
            }
            const { mail, link, token } = await s.linkMail(normal.email, 'verify')
            await s.drain()

            assert.deepEqual(mail.to, [normal.email])
            assert.ok(link.startsWith(`${PUBLIC_URL}/verify?token=`), link)
            assert.ok(mail.html.includes(`href="${link}"`), 'the HTML part carries the same link')
            for (const email of [unknown, inactive.email, verified.email]) {
              assert.deepEqual(s.linkMailsTo(email, 'verify'), [], email)
            }
            assert.equal(s.linkMailsTo(normal.email, 'verify').length, 1)

            // {sub, email, aud: "fastapi-users:verify", exp}, HS256, one hour
            assert.equal(decodeProtectedHeader(token).alg, 'HS256')
            const claims = decodeJwt(token)
            assert.deepEqual(Object.keys(claims).sort(), ['aud', 'email', 'exp', 'sub'])
            assert.equal(claims.sub, String(normal.id))
            assert.equal(claims.email, normal.email)
            assert.equal(claims.aud, VERIFY_AUDIENCE)
            assert.ok(Math.abs((claims.exp as number) - (now() + 3600)) <= 10, `exp ${claims.exp}`)
          },
        )

        s.it('the token from the mail verifies the user once', async (api) => {
          const user = await s.registered()
          const token = await s.verifyToken(user.email)

          assert.deepEqual(reply(await verify(api, token)), [200, { ...user, is_verified: true }])
          const me = await api.get('/users/me', await api.token(user.email, PASSWORD))
          assert.equal(me.json().is_verified, true)

          assert.deepEqual(reply(await verify(api, token)), ALREADY_VERIFIED)
        })

        s.it('request-verify-token finds the user whatever the letter case of the address', async (api) => {
          const user = await s.registered()
          const res = await api.post('/auth/request-verify-token', { email: user.email.toUpperCase() })
          assert.deepEqual(reply(res), ACCEPTED)
          const { mail } = await s.linkMail(user.email, 'verify')
          assert.deepEqual(mail.to, [user.email])
        })

        s.it('garbage tokens are refused', async (api) => {
          for (const token of ['not-a-token', '', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.']) {
            assert.deepEqual(reply(await verify(api, token)), VERIFY_BAD_TOKEN, JSON.stringify(token))
          }
        })

        const forgeries: [string, (genuine: string) => Promise<string>][] = [
          ['signed with another secret', (t) => resign(t, {}, OTHER_SECRET)],
          ['expired', (t) => resign(t, { exp: now() - 60 })],
          ['with the reset audience', (t) => resign(t, { aud: RESET_AUDIENCE })],
          ['with the auth audience', (t) => resign(t, { aud: ['fastapi-users:auth'] })],
        ]
        for (const [name, forge] of forgeries) {
          s.it(`a verify token ${name} is refused`, async (api) => {
            const user = await s.registered()
            const genuine = await s.verifyToken(user.email)
            assert.deepEqual(reply(await verify(api, await forge(genuine))), VERIFY_BAD_TOKEN)
            assert.deepEqual(reply(await verify(api, genuine)), [200, { ...user, is_verified: true }])
          })
        }

        s.it('a verify token issued before an e-mail change is dead', async (api) => {
          const user = await s.registered()
          const token = await s.verifyToken(user.email)
          const email = newEmail('renamed')
          const changed = await api.patch('/users/me', { email }, await api.token(user.email, PASSWORD))
          assert.equal(changed.statusCode, 200, changed.body)

          assert.deepEqual(reply(await verify(api, token)), VERIFY_BAD_TOKEN)
          const me = await api.get('/users/me', await api.token(email, PASSWORD))
          assert.equal(me.json().is_verified, false)
        })

        s.it('a verify token still works for a user deactivated since', async (api) => {
          const user = await s.registered()
          const token = await s.verifyToken(user.email)
          await s.deactivate(user.id)

          assert.deepEqual(reply(await verify(api, token)), [200, { ...user, is_active: false, is_verified: true }])
        })
      })

      describe('mail', () => {
        const s = service(kind, model.env)

        s.it('registration sends a welcome mail to the new user', async () => {
          const user = await s.registered(newEmail('welcome'), PASSWORD, 'Ada')
          const mail = await s.smtp.waitForMail((m) => m.to.includes(user.email))
          assert.deepEqual(mail.to, [user.email])
          assert.match(mail.subject, /welcome/i)
          assert.match(mail.text, /Ada/)
        })

        s.it('a password change and a reset each tell the owner; nothing is sent for other changes', async (api) => {
          const user = await s.registered(newEmail('pwmail'), PASSWORD, 'Ann')
          const changed = (m: ReceivedMail) => m.to.includes(user.email) && /password was changed/i.test(m.subject)

          const token = await api.token(user.email, PASSWORD)
          assert.equal((await api.patch('/users/me', { first_name: 'Anna' }, token)).statusCode, 200)
          assert.equal((await api.patch('/users/me', { password: NEW_PASSWORD }, token)).statusCode, 200)
          const first = await s.smtp.waitForMail(changed)
          assert.match(first.text, /Hello Anna,/)
          assert.match(first.text, /If you did not do this, reset your password at once/)
          assert.doesNotMatch(first.text, new RegExp(NEW_PASSWORD))

          const reset = await s.resetToken(user.email)
          assert.deepEqual(reply(await resetPassword(api, reset, PASSWORD)), [200, null])
          await s.smtp.waitForMail((m) => changed(m) && m !== first)
          await s.drain()
          assert.equal(s.smtp.messages.filter(changed).length, 2, 'one per password change, none for first_name')
        })

        s.it('an e-mail change tells the old address, which learns the new one', async (api) => {
          const user = await s.registered(newEmail('oldaddr'), PASSWORD, 'Ann')
          const moved = newEmail('newaddr')
          const token = await api.token(user.email, PASSWORD)
          assert.equal((await api.patch('/users/me', { email: moved }, token)).statusCode, 200)
          const told = await s.smtp.waitForMail(
            (m) => m.to.includes(user.email) && /address was changed/i.test(m.subject),
          )
          assert.deepEqual(told.to, [user.email])
          assert.ok(told.text.includes(`changed to ${moved}.`), told.text)

          // the same address again: nothing changed, nothing to tell
          await s.drain()
          const before = s.smtp.messages.length
          assert.equal((await api.patch('/users/me', { email: moved }, token)).statusCode, 200)
          await s.drain()
          assert.equal(s.smtp.messages.length, before)
        })

        s.it('user input placed in mail is escaped in the HTML part', async (api) => {
          const user = await s.registered(newEmail('xss'), PASSWORD, '<script>alert(1)</script>')
          const welcome = await s.smtp.waitForMail((m) => m.to.includes(user.email) && /welcome/i.test(m.subject))
          assert.ok(welcome.html.includes('&lt;script&gt;'), welcome.html)
          assert.ok(!welcome.html.includes('<script>alert'), welcome.html)

          assert.deepEqual(reply(await api.post('/auth/forgot-password', { email: user.email })), ACCEPTED)
          const { mail: reset } = await s.linkMail(user.email, 'reset-password')
          assert.ok(reset.html.includes('&lt;script&gt;'), reset.html)
          assert.ok(!reset.html.includes('<script>alert'), reset.html)
        })
      })

      describe('with an SMTP server that refuses connections', () => {
        let started: TestApp | null = null
        before(async () => {
          started = await startTestApp(kind, {
            SMTP_URL: 'smtp://127.0.0.1:1',
            PUBLIC_URL,
            ...SUPERUSER_ENV,
            ...model.env,
          })
        })
        after(() => started?.close())

        test('register answers 201 and forgot-password 202, and the user is kept', async (t) => {
          if (!started) return t.skip(`${kind} is not reachable locally`)
          const api = client(started.app)
          const email = newEmail('nosmtp')

          const registered = await api.register(email, PASSWORD)
          assert.equal(registered.statusCode, 201, registered.body)
          assert.deepEqual(reply(await api.post('/auth/forgot-password', { email })), ACCEPTED)
          assert.deepEqual(reply(await api.post('/auth/request-verify-token', { email })), ACCEPTED)
          await started.app.mailer.drain()

          const me = await api.get('/users/me', await api.token(email, PASSWORD))
          assert.deepEqual(reply(me), [200, registered.json()])
        })
      })

      describe('with an SMTP server that never answers', () => {
        let started: TestApp | null = null
        let silent: Awaited<ReturnType<typeof silentServer>>
        before(async () => {
          silent = await silentServer()
          started = await startTestApp(kind, { SMTP_URL: silent.url, PUBLIC_URL, ...SUPERUSER_ENV, ...model.env })
        })
        after(async () => {
          await silent?.close() // pending sends fail at once, so the mailer drains on close
          await started?.close()
        })

        test('the HTTP answers do not wait for the mail', async (t) => {
          if (!started) return t.skip(`${kind} is not reachable locally`)
          const api = client(started.app)
          const email = newEmail('hanging')

          const registered = await within(3000, api.register(email, PASSWORD), 'register')
          assert.equal(registered.statusCode, 201, registered.body)
          const forgot = await within(3000, api.post('/auth/forgot-password', { email }), 'forgot-password')
          assert.deepEqual(reply(forgot), ACCEPTED)
          const verifyRequest = await within(
            3000,
            api.post('/auth/request-verify-token', { email }),
            'request-verify-token',
          )
          assert.deepEqual(reply(verifyRequest), ACCEPTED)

          assert.equal((await api.login(email, PASSWORD)).statusCode, 200)
          // the mail really was attempted: it is stuck on the silent server, not skipped
          const deadline = Date.now() + 3000
          while (silent.connections() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
          assert.ok(silent.connections() > 0, 'the service connected to the SMTP server')
        })
      })
    })
  }
}
