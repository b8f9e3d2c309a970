/**
 * No audit event ever carries a secret: random passwords flow through register, login (good and
 * bad), refresh (and its reuse), forgot and reset, verification, TOTP enrolment and the second step
 * of login, recovery codes and an e-mail change; then every event the run recorded, serialized to
 * JSON, must contain none of the passwords, tokens (access, refresh, reset, verify, e-mail change,
 * login ticket), password hashes, the TOTP secret, codes or recovery codes used in it. On every database.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import fc from 'fast-check'
import { type AuthEvent, base32Decode, totp } from '../../src/index.js'
import { type Database, openDatabase } from '../../src/kysely.js'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { startSmtpServer } from '../support/smtp.js'

const STEP = 30_000
/** Printable ASCII passwords of 12 to 40 characters, whatever they hold (quotes, backslashes, `%`…). */
const password = fc.stringMatching(/^[\x21-\x7e]{12,40}$/)

type Api = ReturnType<typeof client>
type Smtp = Awaited<ReturnType<typeof startSmtpServer>>

const form = (prefix: string, username: string, pass: string) => ({
  method: 'POST' as const,
  url: `${prefix}/login`,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams({ username, password: pass }).toString(),
})

async function mailedToken(smtp: Smtp, to: string, path: string): Promise<string> {
  const pattern = new RegExp(`${path}\\?token=(\\S+)`)
  const mail = await smtp.waitForMail((m) => m.to.includes(to) && pattern.test(m.text))
  return decodeURIComponent(mail.text.match(pattern)?.[1] as string)
}

for (const kind of databaseKinds()) {
  describe(`no secret in any audit event (${kind})`, () => {
    const events: AuthEvent[] = []
    let service: TestApp | null = null
    let db: Database
    let smtp: Smtp
    let api: Api
    const clock = { now: Math.floor(Date.now() / STEP) * STEP + 1000 }

    before(async () => {
      smtp = await startSmtpServer()
      service = await startTestApp(
        kind,
        {
          PUBLIC_URL: 'https://app.example.com',
          EMAIL_CHANGE: 'confirm',
          REFRESH_REUSE_INTERVAL: '0',
          SMTP_URL: smtp.url,
        },
        { audit: events, clock: () => new Date(clock.now) },
      )
      if (!service) return
      api = client(service.app)
      db = openDatabase(service.database.url)
    })
    after(async () => {
      await db?.close()
      await service?.close()
      await smtp?.close()
    })

    test('passwords, tokens, hashes, TOTP secrets, codes and recovery codes never reach an event', async (t: TestContext) => {
      if (!service) return t.skip(`${kind} is not reachable locally`)
      const app = service.app
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(password, password, password, password),
          fc.boolean(),
          async ([first, wrong, reset, changed], cookie) => {
            fc.pre(new Set([first, wrong, reset, changed]).size === 4)
            await app.users.audit?.flush()
            const from = events.length
            const secrets: string[] = [first, wrong, reset, changed]
            const keep = <T extends string>(value: T) => {
              secrets.push(value)
              return value
            }
            const email = newEmail('secret')
            const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
            const ok = (res: { statusCode: number; body: string }, status = 200) =>
              assert.equal(res.statusCode, status, res.body)

            ok(await api.register(email, first), 201)
            const hashOf = async () => {
              const [row] = await db.db
                .selectFrom('user')
                .select('hashed_password')
                .where('email', '=', email)
                .execute()
              return keep(String(row?.hashed_password))
            }
            await hashOf()
            ok(await api.send(form('/auth/jwt', email, wrong)), 400)
            const login = await api.send(form('/auth/jwt', email, first))
            ok(login)
            keep(login.json().access_token)
            const refreshed = await api.post('/auth/jwt/refresh', { refresh_token: keep(login.json().refresh_token) })
            ok(refreshed)
            keep(refreshed.json().access_token)
            keep(refreshed.json().refresh_token)
            ok(await api.post('/auth/jwt/refresh', { refresh_token: login.json().refresh_token }), 401) // reuse
            if (cookie) {
              const viaCookie = await api.send(form('/auth/cookie', email, first))
              ok(viaCookie, 204)
              keep(String(viaCookie.headers['set-cookie']).match(/fastapiusersauth=([^;]+)/)?.[1] as string)
            }

            ok(await api.post('/auth/request-verify-token', { email }), 202)
            const verifyToken = keep(await mailedToken(smtp, email, 'verify'))
            ok(await api.post('/auth/verify', { token: `${verifyToken}x` }), 400)
            ok(await api.post('/auth/verify', { token: verifyToken }))

            ok(await api.post('/auth/forgot-password', { email }), 202)
            const resetToken = keep(await mailedToken(smtp, email, 'reset-password'))
            ok(await api.post('/auth/reset-password', { token: resetToken, password: reset }))
            await hashOf()

            const token = keep((await api.send(form('/auth/jwt', email, reset))).json().access_token)
            const setup = await api.post('/auth/2fa/totp/setup', undefined, token)
            ok(setup)
            const key = base32Decode(keep(setup.json().secret))
            keep(setup.json().otpauth_url)
            const enable = await api.post('/auth/2fa/totp/enable', { code: keep(totp(key, clock.now)) }, token)
            ok(enable)
            const codes = (enable.json().recovery_codes as string[]).map(keep)
            clock.now += STEP
            const challenged = await api.send(form('/auth/jwt', email, reset))
            ok(challenged, 400)
            const ticket = keep(challenged.json().detail.ticket)
            const wrongCode = keep(totp(key, clock.now + 20 * STEP))
            ok(await api.post('/auth/jwt/login/2fa', { ticket, code: wrongCode }), 400)
            const second = await api.post('/auth/jwt/login/2fa', { ticket, code: keep(totp(key, clock.now)) })
            ok(second)
            const fresh = keep(second.json().access_token)
            keep(second.json().refresh_token)
            clock.now += STEP
            const renewed = await api.post('/auth/2fa/recovery-codes', { code: keep(totp(key, clock.now)) }, fresh)
            ok(renewed)
            for (const code of renewed.json().recovery_codes as string[]) keep(code)
            const ticket2 = keep((await api.send(form('/auth/jwt', email, reset))).json().detail.ticket)
            const byRecovery = await api.post('/auth/jwt/login/2fa', { ticket: ticket2, code: codes[0] })
            ok(byRecovery, 400) // renewed: the old codes are gone
            const ticket3 = keep((await api.send(form('/auth/jwt', email, reset))).json().detail.ticket)
            const recovered = await api.post('/auth/jwt/login/2fa', {
              ticket: ticket3,
              code: renewed.json().recovery_codes[0],
            })
            ok(recovered)
            const recent = keep(recovered.json().access_token)

            const target = newEmail('secret-new')
            ok(
              await api.send({
                method: 'PATCH',
                url: '/users/me',
                headers: bearer(recent),
                payload: { email: target },
              }),
            )
            const changeToken = keep(await mailedToken(smtp, target, 'confirm-email-change'))
            ok(await api.post('/auth/confirm-email-change', { token: changeToken }))
            const last = keep((await api.send(form('/auth/jwt', target, reset))).json().detail.ticket)
            clock.now += STEP
            const again = await api.post('/auth/jwt/login/2fa', { ticket: last, code: keep(totp(key, clock.now)) })
            ok(again)
            const patch = { password: changed }
            ok(
              await api.send({
                method: 'PATCH',
                url: '/users/me',
                headers: bearer(keep(again.json().access_token)),
                payload: patch,
              }),
            )
            const [row] = await db.db.selectFrom('user').select('hashed_password').where('email', '=', target).execute()
            keep(String(row?.hashed_password))

            await app.users.audit?.flush()
            const recorded = events.slice(from)
            assert.ok(recorded.length >= 20, `the run recorded its events (${recorded.length})`)
            const text = JSON.stringify(recorded)
            for (const secret of secrets) {
              assert.ok(secret.length >= 6, 'every secret is long enough to be looked for')
              assert.ok(!text.includes(secret), `an event carries a secret: ${secret.slice(0, 3)}…`)
              // JSON escapes quotes and backslashes: look for the escaped form too
              assert.ok(!text.includes(JSON.stringify(secret).slice(1, -1)), 'an event carries a secret (escaped)')
            }
          },
        ),
        { numRuns: 4 },
      )
    })
  })
}
