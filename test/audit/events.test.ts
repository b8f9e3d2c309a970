/**
 * Every audit event type, produced by its route on the reference service, on every database: each
 * step's events are exactly those expected (every field but `at`, which falls within the step, and
 * `request_id`, Fastify's), in order. The last test checks that every type of AUTH_EVENT_TYPES was seen.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { AUTH_EVENT_TYPES, type AuthEvent, type AuthEventType, base32Decode, totp } from '../../src/index.js'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import {
  Browser,
  freePort,
  OIDC_CLIENT,
  type OidcProvider,
  oidcFlows,
  startListeningApp,
  startOidcProvider,
} from '../support/oauth.js'
import { startSmtpServer } from '../support/smtp.js'
import { wrongCode } from '../support/totp.js'
import { SoftwareAuthenticator } from '../support/webauthn.js'

const ORIGIN = 'http://localhost:8000'
const ADMIN = { email: 'audit-admin@example.com', password: 'admin-password-123' }
const SUPERUSER_ENV = { FIRST_SUPERUSER_EMAIL: ADMIN.email, FIRST_SUPERUSER_PASSWORD: ADMIN.password }
const PASSWORD = 'correct-horse-battery'
const NEW_PASSWORD = 'another-horse-battery'
const STEP = 30_000

type Api = ReturnType<typeof client>
type Smtp = Awaited<ReturnType<typeof startSmtpServer>>
/** An event as asserted: every field but `at` and `request_id`. */
type Seen = Omit<AuthEvent, 'at' | 'request_id'>

/** The expected event: the route's facts over the defaults of a request made with `inject`. */
function ev(type: AuthEventType, fields: Partial<Seen> = {}): Seen {
  return {
    type,
    outcome: 'success',
    user_id: null,
    actor_id: null,
    email: null,
    reason: null,
    backend: null,
    ip: '127.0.0.1',
    user_agent: 'lightMyRequest',
    detail: null,
    ...fields,
  }
}

/** Collects a service's events; `step(run)` answers the events `run` caused, checked for time and request id. */
function recorder(seenTypes: Set<string>) {
  const events: AuthEvent[] = []
  let app: TestApp['app'] | null = null
  return {
    events,
    attach(started: TestApp['app']) {
      app = started
    },
    async step(run: () => Promise<unknown>): Promise<Seen[]> {
      await app?.users.audit?.flush()
      const from = events.length
      const start = Date.now()
      await run()
      await app?.users.audit?.flush()
      const end = Date.now()
      return events.slice(from).map(({ at, request_id, ...rest }) => {
        assert.ok(at.getTime() >= start && at.getTime() <= end, `${rest.type}: at ${at.toISOString()} within the step`)
        // the cap ends sessions inside a login, below the routes: its event has no request's facts
        if (rest.reason !== 'cap') assert.match(String(request_id), /^req-[0-9a-z]+$/, `${rest.type}: the request id`)
        else assert.equal(request_id, null)
        seenTypes.add(rest.type)
        return rest
      })
    },
  }
}

const form = (username: string, password: string) => ({
  method: 'POST' as const,
  url: '/auth/jwt/login',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams({ username, password }).toString(),
})

async function registered(api: Api, email = newEmail('audit')) {
  const res = await api.register(email, PASSWORD)
  assert.equal(res.statusCode, 201, res.body)
  return { email, id: String(res.json().id) }
}

async function loginTokens(api: Api, email: string, password = PASSWORD) {
  const res = await api.send(form(email, password))
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as { access_token: string; refresh_token: string }
}

/** The token of the next mail to `to` whose link goes to `path`. */
async function mailedToken(smtp: Smtp, to: string, path: string): Promise<string> {
  const pattern = new RegExp(`${path}\\?token=(\\S+)`)
  const mail = await smtp.waitForMail((m) => m.to.includes(to) && pattern.test(m.text))
  return decodeURIComponent(mail.text.match(pattern)?.[1] as string)
}

for (const kind of databaseKinds()) {
  describe(`audit events (${kind})`, () => {
    const seenTypes = new Set<string>()
    const main = recorder(seenTypes)
    const limited = recorder(seenTypes)
    const social = recorder(seenTypes)
    let service: TestApp | null = null
    let lockout: TestApp | null = null
    let oauth: (TestApp & { url: string }) | null = null
    let provider: OidcProvider | null = null
    let smtp: Smtp
    let api: Api
    let admin: string
    const clock = { now: Math.floor(Date.now() / STEP) * STEP + 1000 }

    before(async () => {
      smtp = await startSmtpServer()
      service = await startTestApp(
        kind,
        {
          ...SUPERUSER_ENV,
          PUBLIC_URL: ORIGIN,
          PASSKEYS: 'true',
          EMAIL_CHANGE: 'confirm',
          SELF_DELETE: 'true',
          MAX_SESSIONS_PER_USER: '3',
          REFRESH_REUSE_INTERVAL: '0',
          SMTP_URL: smtp.url,
        },
        { audit: main.events, clock: () => new Date(clock.now) },
      )
      if (!service) return
      main.attach(service.app)
      api = client(service.app)
      admin = (await loginTokens(api, ADMIN.email, ADMIN.password)).access_token
      lockout = await startTestApp(kind, { RATE_LIMIT: 'true', LOGIN_FREE_ATTEMPTS: '1' }, { audit: limited.events })
      if (lockout) limited.attach(lockout.app)
      const port = await freePort()
      provider = await startOidcProvider([
        `http://127.0.0.1:${port}/auth/test/callback`,
        `http://127.0.0.1:${port}/auth/associate/test/callback`,
      ])
      oauth = await startListeningApp(
        kind,
        port,
        {
          OAUTH_TEST_CLIENT_ID: OIDC_CLIENT.id,
          OAUTH_TEST_CLIENT_SECRET: OIDC_CLIENT.secret,
          OAUTH_TEST_ISSUER: provider.issuer,
          OAUTH_ALLOW_UNVERIFIED_EMAIL: 'true',
          SMTP_URL: smtp.url,
        },
        { audit: social.events },
      )
      if (oauth) social.attach(oauth.app)
    })
    after(async () => {
      await service?.close()
      await lockout?.close()
      await oauth?.close()
      await provider?.close()
      await smtp?.close()
    })
    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!service || !lockout || !oauth) return t.skip(`${kind} is not reachable locally`)
        await body()
      })

    it('register: the new user; a taken address: the failure, with the address as typed', async () => {
      const email = newEmail('audit')
      let id = ''
      assert.deepEqual(
        await main.step(async () => {
          const res = await api.register(email, PASSWORD)
          id = String(res.json().id)
        }),
        [ev('register', { user_id: id })],
      )
      // as validated: the body's address with its domain lower-cased, its local part as typed
      const typed = email.replace(/^audit/, 'Audit')
      assert.deepEqual(await main.step(() => api.register(typed, PASSWORD)), [
        ev('register', { outcome: 'failure', reason: 'REGISTER_USER_ALREADY_EXISTS', email: typed }),
      ])
      // a superuser's POST /users: the same event, with the superuser as the actor
      const adminId = String((await api.get('/users/me', admin)).json().id)
      let created = ''
      assert.deepEqual(
        await main.step(async () => {
          const res = await api.post(
            '/users',
            { email: newEmail('audit'), password: PASSWORD, first_name: 'Al' },
            admin,
          )
          assert.equal(res.statusCode, 201, res.body)
          created = String(res.json().id)
        }),
        [ev('register', { user_id: created, actor_id: adminId })],
      )
    })

    it('login: succeeded (password), failed against a known account and against an unknown address', async () => {
      const user = await registered(api)
      assert.deepEqual(await main.step(() => loginTokens(api, user.email)), [
        ev('login.succeeded', { user_id: user.id, backend: 'jwt', detail: { method: 'password' } }),
      ])
      const bad = { outcome: 'failure' as const, reason: 'LOGIN_BAD_CREDENTIALS', backend: 'jwt' }
      assert.deepEqual(await main.step(() => api.send(form(user.email, 'wrong-password-123'))), [
        ev('login.failed', { ...bad, user_id: user.id, detail: { method: 'password' } }),
      ])
      const typed = `  Nobody-${Date.now()}@Example.com`
      assert.deepEqual(await main.step(() => api.send(form(typed, 'wrong-password-123'))), [
        ev('login.failed', { ...bad, email: typed, detail: { method: 'password' } }),
      ])
    })

    it('login.locked: the lock-out refuses an attempt (RATE_LIMIT, one free attempt)', async () => {
      const other = client((lockout as TestApp).app)
      const user = await registered(other)
      // two wrong passwords at once: one is checked (and fails), the lock-out refuses the other
      const twice = async (username: string) => {
        const statuses = (await Promise.all([1, 2].map(() => other.send(form(username, 'wrong-password-123'))))).map(
          (r) => r.statusCode,
        )
        assert.deepEqual(statuses.sort(), [400, 429])
      }
      const byType = (events: Seen[]) => events.sort((a, b) => a.type.localeCompare(b.type))
      assert.deepEqual(byType(await limited.step(() => twice(user.email))), [
        ev('login.failed', {
          outcome: 'failure',
          reason: 'LOGIN_BAD_CREDENTIALS',
          backend: 'jwt',
          user_id: user.id,
          detail: { method: 'password' },
        }),
        ev('login.locked', {
          outcome: 'failure',
          reason: 'TOO_MANY_REQUESTS',
          user_id: user.id,
          detail: { scope: 'account' },
        }),
      ])
      const unknown = `locked-${Date.now()}@example.com`
      assert.deepEqual(byType(await limited.step(() => twice(unknown))), [
        ev('login.failed', {
          outcome: 'failure',
          reason: 'LOGIN_BAD_CREDENTIALS',
          backend: 'jwt',
          email: unknown,
          detail: { method: 'password' },
        }),
        ev('login.locked', {
          outcome: 'failure',
          reason: 'TOO_MANY_REQUESTS',
          email: unknown,
          detail: { scope: 'account' },
        }),
      ])
    })

    it('refresh, refresh.reuse_detected, logout', async () => {
      const user = await registered(api)
      const first = await loginTokens(api, user.email)
      let second = { access_token: '', refresh_token: '' }
      assert.deepEqual(
        await main.step(async () => {
          const res = await api.post('/auth/jwt/refresh', { refresh_token: first.refresh_token })
          assert.equal(res.statusCode, 200, res.body)
          second = res.json()
        }),
        [ev('refresh', { user_id: user.id, backend: 'jwt' })],
      )
      assert.deepEqual(
        await main.step(async () => {
          const res = await api.post('/auth/jwt/refresh', { refresh_token: first.refresh_token })
          assert.equal(res.statusCode, 401)
        }),
        [
          ev('refresh.reuse_detected', {
            outcome: 'failure',
            reason: 'REFRESH_TOKEN_REUSED',
            user_id: user.id,
            backend: 'jwt',
          }),
        ],
      )
      assert.deepEqual(await main.step(() => api.post('/auth/jwt/logout', undefined, second.access_token)), [
        ev('logout', { user_id: user.id, backend: 'jwt' }),
      ])
    })

    it('session.ended: by the user (all, one), by a superuser, and by the cap (MAX_SESSIONS_PER_USER=3)', async () => {
      const user = await registered(api)
      const { access_token } = await loginTokens(api, user.email)
      assert.deepEqual(await main.step(() => api.delete('/users/me/sessions', access_token)), [
        ev('session.ended', { user_id: user.id, reason: 'user' }),
      ])
      const again = await loginTokens(api, user.email)
      const [session] = (await api.get('/users/me/sessions', again.access_token)).json()
      assert.deepEqual(await main.step(() => api.delete(`/users/me/sessions/${session.id}`, again.access_token)), [
        ev('session.ended', { user_id: user.id, reason: 'user', detail: { sessions: 'one' } }),
      ])
      const adminId = String((await api.get('/users/me', admin)).json().id)
      assert.deepEqual(await main.step(() => api.delete(`/users/${user.id}/sessions`, admin)), [
        ev('session.ended', { user_id: user.id, actor_id: adminId, reason: 'admin' }),
      ])
      for (let i = 0; i < 3; i++) await loginTokens(api, user.email)
      assert.deepEqual(await main.step(() => loginTokens(api, user.email)), [
        ev('session.ended', { user_id: user.id, reason: 'cap', detail: { sessions: 1 }, ip: null, user_agent: null }),
        ev('login.succeeded', { user_id: user.id, backend: 'jwt', detail: { method: 'password' } }),
      ])
    })

    it('password.changed and user.updated, by the user and by a superuser; a refused password', async () => {
      const user = await registered(api)
      const { access_token } = await loginTokens(api, user.email)
      assert.deepEqual(await main.step(() => api.patch('/users/me', { first_name: 'Bea' }, access_token)), [
        ev('user.updated', { user_id: user.id, detail: { fields: 'first_name' } }),
      ])
      assert.deepEqual(await main.step(() => api.patch('/users/me', { password: 'short' }, access_token)), [
        ev('password.changed', { outcome: 'failure', user_id: user.id, reason: 'UPDATE_USER_INVALID_PASSWORD' }),
      ])
      assert.deepEqual(await main.step(() => api.patch('/users/me', { password: NEW_PASSWORD }, access_token)), [
        ev('session.ended', { user_id: user.id, reason: 'password_changed' }),
        ev('password.changed', { user_id: user.id }),
      ])
      const adminId = String((await api.get('/users/me', admin)).json().id)
      const by = { user_id: user.id, actor_id: adminId }
      assert.deepEqual(await main.step(() => api.patch(`/users/${user.id}`, { password: PASSWORD }, admin)), [
        ev('session.ended', { ...by, reason: 'password_changed' }),
        ev('password.changed', by),
      ])
      assert.deepEqual(
        await main.step(() => api.patch(`/users/${user.id}`, { is_active: false, first_name: 'Cy' }, admin)),
        [
          ev('session.ended', { ...by, reason: 'deactivated' }),
          ev('user.updated', { ...by, detail: { fields: 'first_name,is_active' } }),
        ],
      )
    })

    it('password.forgot_requested (known, unknown), password.reset (refused, done)', async () => {
      const user = await registered(api)
      assert.deepEqual(await main.step(() => api.post('/auth/forgot-password', { email: user.email })), [
        ev('password.forgot_requested', { user_id: user.id }),
      ])
      const nobody = `Nobody-${Date.now()}@example.com`
      assert.deepEqual(await main.step(() => api.post('/auth/forgot-password', { email: nobody })), [
        ev('password.forgot_requested', { email: nobody }),
      ])
      const token = await mailedToken(smtp, user.email, 'reset-password')
      assert.deepEqual(
        await main.step(() => api.post('/auth/reset-password', { token: `${token}x`, password: NEW_PASSWORD })),
        [ev('password.reset', { outcome: 'failure', reason: 'RESET_PASSWORD_BAD_TOKEN' })],
      )
      assert.deepEqual(await main.step(() => api.post('/auth/reset-password', { token, password: NEW_PASSWORD })), [
        ev('session.ended', { user_id: user.id, reason: 'password_reset' }),
        ev('password.reset', { user_id: user.id }),
      ])
    })

    it('verify.requested (known, unknown), verify.done (refused, done)', async () => {
      const user = await registered(api)
      assert.deepEqual(await main.step(() => api.post('/auth/request-verify-token', { email: user.email })), [
        ev('verify.requested', { user_id: user.id }),
      ])
      const nobody = `nobody-${Date.now()}@example.com`
      assert.deepEqual(await main.step(() => api.post('/auth/request-verify-token', { email: nobody })), [
        ev('verify.requested', { email: nobody }),
      ])
      const token = await mailedToken(smtp, user.email, 'verify')
      assert.deepEqual(await main.step(() => api.post('/auth/verify', { token: 'not-a-token' })), [
        ev('verify.done', { outcome: 'failure', reason: 'VERIFY_USER_BAD_TOKEN' }),
      ])
      assert.deepEqual(await main.step(() => api.post('/auth/verify', { token })), [
        ev('verify.done', { user_id: user.id }),
      ])
    })

    it('email_change.requested and email_change.done (EMAIL_CHANGE=confirm)', async () => {
      const user = await registered(api)
      const { access_token } = await loginTokens(api, user.email)
      const target = newEmail('audit-new')
      assert.deepEqual(await main.step(() => api.patch('/users/me', { email: target }, access_token)), [
        ev('email_change.requested', { user_id: user.id }),
      ])
      const token = await mailedToken(smtp, target, 'confirm-email-change')
      assert.deepEqual(await main.step(() => api.post('/auth/confirm-email-change', { token: 'nope' })), [
        ev('email_change.done', { outcome: 'failure', reason: 'EMAIL_CHANGE_BAD_TOKEN' }),
      ])
      assert.deepEqual(await main.step(() => api.post('/auth/confirm-email-change', { token })), [
        ev('session.ended', { user_id: user.id, reason: 'email_changed' }),
        ev('email_change.done', { user_id: user.id }),
      ])
    })

    it('second factors: enabled, failed, login (2fa), step-up, recovery codes renewed, disabled (self, admin)', async () => {
      const user = await registered(api)
      const { access_token } = await loginTokens(api, user.email)
      const setup = await api.post('/auth/2fa/totp/setup', undefined, access_token)
      const key = base32Decode(setup.json().secret)
      const failed = (reason: string, stage: string, extra = {}) =>
        ev('second_factor.failed', { outcome: 'failure', user_id: user.id, reason, detail: { stage }, ...extra })
      assert.deepEqual(
        await main.step(() =>
          api.post('/auth/2fa/totp/enable', { code: totp(key, clock.now + 10 * STEP) }, access_token),
        ),
        [failed('TOTP_INVALID_CODE', 'enable')],
      )
      assert.deepEqual(
        await main.step(() => api.post('/auth/2fa/totp/enable', { code: totp(key, clock.now) }, access_token)),
        [ev('second_factor.enabled', { user_id: user.id, detail: { method: 'totp' } })],
      )
      clock.now += STEP
      // the password alone is no login yet: the challenge records nothing
      let ticket = ''
      assert.deepEqual(
        await main.step(async () => {
          ticket = (await api.send(form(user.email, PASSWORD))).json().detail.ticket
        }),
        [],
      )
      assert.deepEqual(
        await main.step(() => api.post('/auth/jwt/login/2fa', { ticket, code: totp(key, clock.now + 10 * STEP) })),
        [failed('LOGIN_2FA_BAD_CODE', 'login', { backend: 'jwt' })],
      )
      let token = ''
      assert.deepEqual(
        await main.step(async () => {
          const res = await api.post('/auth/jwt/login/2fa', { ticket, code: totp(key, clock.now) })
          assert.equal(res.statusCode, 200, res.body)
          token = res.json().access_token
        }),
        [ev('login.succeeded', { user_id: user.id, backend: 'jwt', detail: { method: '2fa' } })],
      )
      clock.now += STEP
      assert.deepEqual(
        await main.step(() => api.post('/auth/2fa/step-up', { code: wrongCode(key, clock.now) }, token)),
        [failed('TWO_FACTOR_BAD_CODE', 'step_up')],
      )
      assert.deepEqual(await main.step(() => api.post('/auth/2fa/step-up', { code: totp(key, clock.now) }, token)), [
        ev('step_up.succeeded', { user_id: user.id, detail: { method: 'code' } }),
      ])
      clock.now += STEP
      assert.deepEqual(
        await main.step(() => api.post('/auth/2fa/recovery-codes', { code: totp(key, clock.now) }, token)),
        [ev('second_factor.recovery_codes_renewed', { user_id: user.id, detail: { method: 'recovery_code' } })],
      )
      assert.deepEqual(await main.step(() => api.post('/auth/2fa/disable', { password: PASSWORD }, token)), [
        ev('second_factor.disabled', { user_id: user.id, detail: { method: 'totp' } }),
      ])
      // a superuser removes a user's factors
      const again = await api.post('/auth/2fa/totp/setup', undefined, token)
      const key2 = base32Decode(again.json().secret)
      clock.now += STEP
      assert.equal((await api.post('/auth/2fa/totp/enable', { code: totp(key2, clock.now) }, token)).statusCode, 200)
      const adminId = String((await api.get('/users/me', admin)).json().id)
      assert.deepEqual(await main.step(() => api.delete(`/users/${user.id}/2fa`, admin)), [
        ev('second_factor.disabled', { user_id: user.id, actor_id: adminId, detail: { method: 'totp' } }),
      ])
    })

    it('passkeys: added, login (passkey), removed (self, admin)', async () => {
      const user = await registered(api)
      const { access_token } = await loginTokens(api, user.email)
      const authenticator = new SoftwareAuthenticator(ORIGIN)
      let passkeyId = ''
      const add = async (token: string) => {
        const options = (await api.post('/auth/passkeys/register/options', undefined, token)).json()
        const res = await api.post('/auth/passkeys/register', { response: authenticator.create(options) }, token)
        assert.equal(res.statusCode, 201, res.body)
        passkeyId = res.json().id
      }
      const added = await main.step(() => add(access_token))
      assert.deepEqual(added, [ev('passkey.added', { user_id: user.id, detail: { passkey_id: passkeyId } })])
      let token = ''
      assert.deepEqual(
        await main.step(async () => {
          const options = (await api.post('/auth/jwt/login/passkey/options')).json()
          const res = await api.post('/auth/jwt/login/passkey', { response: authenticator.get(options) })
          assert.equal(res.statusCode, 200, res.body)
          token = res.json().access_token
        }),
        [ev('login.succeeded', { user_id: user.id, backend: 'jwt', detail: { method: 'passkey' } })],
      )
      const removed = passkeyId
      assert.deepEqual(await main.step(() => api.delete(`/auth/passkeys/${removed}`, token)), [
        ev('passkey.removed', { user_id: user.id, detail: { passkey_id: removed } }),
      ])
      await add(access_token)
      const adminId = String((await api.get('/users/me', admin)).json().id)
      assert.deepEqual(await main.step(() => api.delete(`/users/${user.id}/passkeys`, admin)), [
        ev('passkey.removed', { user_id: user.id, actor_id: adminId, detail: { count: 1 } }),
      ])
    })

    it('user.deleted: by the user (SELF_DELETE) and by a superuser', async () => {
      const self = await registered(api)
      const { access_token } = await loginTokens(api, self.email)
      assert.deepEqual(
        await main.step(() =>
          api.send({
            method: 'DELETE',
            url: '/users/me',
            headers: { authorization: `Bearer ${access_token}` },
            payload: { password: PASSWORD },
          }),
        ),
        [ev('user.deleted', { user_id: self.id })],
      )
      const other = await registered(api)
      const adminId = String((await api.get('/users/me', admin)).json().id)
      assert.deepEqual(await main.step(() => api.delete(`/users/${other.id}`, admin)), [
        ev('user.deleted', { user_id: other.id, actor_id: adminId }),
      ])
    })

    it('OAuth: login (oauth), oauth.linked, oauth.unlinked when the owner proves the address', async () => {
      const app = oauth as TestApp & { url: string }
      const flows = oidcFlows(app.url, provider as OidcProvider)
      const sapi = client(app.app)
      const browserEvent = (e: Seen): Seen => ({ ...e, user_agent: null })
      const strip = (events: Seen[]) => events.map((e) => ({ ...e, user_agent: null }))
      // an account the provider does not vouch for: created, linked, signed in
      const claimed = `claimed-${Date.now()}@example.com`
      const attacker = flows.account('attacker', { email: claimed, email_verified: false })
      const signedIn = strip(await social.step(() => flows.signIn(attacker.sub)))
      const [forgot] = await social.step(() => sapi.post('/auth/forgot-password', { email: claimed }))
      const ownerId = String(forgot?.user_id)
      assert.deepEqual(signedIn, [
        browserEvent(ev('register', { user_id: ownerId })),
        browserEvent(
          ev('login.succeeded', { user_id: ownerId, backend: 'jwt', detail: { method: 'oauth', provider: 'test' } }),
        ),
      ])
      const token = await mailedToken(smtp, claimed, 'reset-password')
      assert.deepEqual(await social.step(() => sapi.post('/auth/reset-password', { token, password: NEW_PASSWORD })), [
        ev('oauth.unlinked', { user_id: ownerId, reason: 'mailbox_proven', detail: { provider: 'test' } }),
        ev('session.ended', { user_id: ownerId, reason: 'mailbox_proven' }),
        ev('session.ended', { user_id: ownerId, reason: 'password_reset' }),
        ev('password.reset', { user_id: ownerId }),
      ])
      // a signed-in user links a provider account
      const user = await registered(sapi)
      const { access_token } = await loginTokens(sapi, user.email)
      // a provider account with a registered user's address (no linking by e-mail): refused
      const taken = flows.account('taken', { email: user.email })
      assert.deepEqual(strip(await social.step(() => flows.signIn(taken.sub))), [
        browserEvent(
          ev('login.failed', {
            outcome: 'failure',
            reason: 'OAUTH_USER_ALREADY_EXISTS',
            backend: 'jwt',
            email: user.email,
            detail: { method: 'oauth', provider: 'test' },
          }),
        ),
      ])
      const own = flows.account('own')
      const linked = strip(
        await social.step(async () => {
          const browser = new Browser()
          const { callback } = await flows.authorize(browser, own.sub, {
            prefix: '/auth/associate/test',
            token: access_token,
          })
          const [status] = await flows.get(browser, callback, access_token)
          assert.equal(status, 200)
        }),
      )
      assert.deepEqual(linked, [browserEvent(ev('oauth.linked', { user_id: user.id, detail: { provider: 'test' } }))])
    })

    it('every event type is produced by some route above', async () => {
      assert.deepEqual(
        AUTH_EVENT_TYPES.filter((type) => !seenTypes.has(type)),
        [],
        'event types no test above produced',
      )
    })
  })
}
