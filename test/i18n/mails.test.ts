import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { loadConfig } from '../../server/config.js'
import { catalogues } from '../../src/i18n/catalogue.js'
import { startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { type ReceivedMail, startSmtpServer } from '../support/smtp.js'

const PASSWORD = 'a-long-enough-password'
const LANGUAGES = [
  { code: 'en', header: 'en-US,en;q=0.9' },
  { code: 'de', header: 'de-AT,de;q=0.9,en;q=0.5' },
  { code: 'fr', header: 'fr-CA, en;q=0.3' },
  { code: 'es', header: 'es-419,es;q=0.9' },
] as const

for (const kind of databaseKinds()) {
  describe(`${kind}: mails in the language of the request that caused them`, () => {
    let smtp: Awaited<ReturnType<typeof startSmtpServer>>
    let service: TestApp | null = null
    let german: TestApp | null = null
    before(async () => {
      smtp = await startSmtpServer()
      service = await startTestApp(kind, { SMTP_URL: smtp.url, PUBLIC_URL: 'https://accounts.example' })
      if (service)
        german = await startTestApp(kind, { SMTP_URL: smtp.url, DEFAULT_LOCALE: 'de' }, { database: service.database })
    })
    after(async () => {
      await german?.close()
      await service?.close()
      await smtp?.close()
    })

    const mailTo = (email: string, subject: string) =>
      smtp.waitForMail((m) => m.to.includes(email) && m.subject === subject, 5000)

    async function post(app: TestApp, url: string, payload: object, headers: Record<string, string>) {
      return app.app.inject({ method: 'POST', url, payload, headers })
    }

    for (const { code, header } of LANGUAGES) {
      test(`Accept-Language: ${header} → register, request-verify-token and forgot-password mails in ${code}`, async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const m = (catalogues[code] as (typeof catalogues)['en']).mail
        const email = newEmail(`mail-${code}`)
        const headers = { 'accept-language': header }
        const registered = await post(
          service,
          '/auth/register',
          { email, password: PASSWORD, first_name: 'Ada' },
          headers,
        )
        assert.equal(registered.statusCode, 201, registered.body)
        const welcome = await mailTo(email, m.welcome.subject)
        assert.equal(
          welcome.text,
          `${m.greeting.replace('{name}', 'Ada')}\n\n${m.welcome.body}\n\nhttps://accounts.example/\n\n${m.signature}\n`,
        )
        assert.match(welcome.html, new RegExp(`<html lang="${code}">`))

        const verify = await post(service, '/auth/request-verify-token', { email }, headers)
        assert.deepEqual([verify.statusCode, verify.json()], [202, null])
        const verifyMail = await mailTo(email, m.verify.subject)
        assertBody(verifyMail, [m.verify.body, m.expires, m.ignore], 'https://accounts.example/verify?token=')
        assert.ok(verifyMail.html.includes(m.verify.action.replace(/'/g, '&#39;')))

        const forgot = await post(service, '/auth/forgot-password', { email }, headers)
        assert.deepEqual([forgot.statusCode, forgot.json()], [202, null])
        const reset = await mailTo(email, m.reset.subject)
        assertBody(reset, [m.reset.body, m.expires, m.ignore], 'https://accounts.example/reset-password?token=')
      })
    }

    test("the lang cookie (the pages' choice) beats Accept-Language; the API answers stay the contract's", async (t) => {
      if (!service) return t.skip(`${kind} is not reachable`)
      const email = newEmail('cookie')
      const headers = { 'accept-language': 'de', cookie: 'theme=dark; lang=es' }
      assert.equal(
        (await post(service, '/auth/register', { email, password: PASSWORD, first_name: 'Ada' }, headers)).statusCode,
        201,
      )
      await mailTo(email, '¡Te damos la bienvenida!')
      const taken = await post(service, '/auth/register', { email, password: PASSWORD, first_name: 'Ada' }, headers)
      assert.deepEqual([taken.statusCode, taken.json()], [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
      const login = await service.app.inject({
        method: 'POST',
        url: '/auth/jwt/login',
        payload: `username=${encodeURIComponent(email)}&password=wrong-password`,
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      })
      assert.deepEqual([login.statusCode, login.json()], [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
    })

    test('no language asked for, or none of ours: DEFAULT_LOCALE (en unless set)', async (t) => {
      if (!service || !german) return t.skip(`${kind} is not reachable`)
      const one = newEmail('default-en')
      assert.equal(
        (
          await post(
            service,
            '/auth/register',
            { email: one, password: PASSWORD, first_name: 'Ada' },
            { 'accept-language': 'ja' },
          )
        ).statusCode,
        201,
      )
      await mailTo(one, 'Welcome!')
      const two = newEmail('default-de')
      assert.equal(
        (await post(german, '/auth/register', { email: two, password: PASSWORD, first_name: 'Ada' }, {})).statusCode,
        201,
      )
      const mail = await mailTo(two, 'Willkommen!')
      assert.match(mail.text, /^Hallo Ada,\n\nIhr Konto wurde angelegt\./)
      assert.equal(
        (await post(german, '/auth/forgot-password', { email: two }, { 'accept-language': 'fr' })).statusCode,
        202,
      )
      await mailTo(two, 'Réinitialisez votre mot de passe')
    })
  })
}

function assertBody(mail: ReceivedMail, paragraphs: string[], linkPrefix: string) {
  const parts = mail.text.trim().split('\n\n')
  assert.equal(parts[1], paragraphs[0])
  assert.ok(parts[2]?.startsWith(linkPrefix), parts[2])
  assert.deepEqual(parts.slice(3, 3 + paragraphs.length - 1), paragraphs.slice(1))
}

test('DEFAULT_LOCALE must be one of the languages', () => {
  const base = { SECRET: TEST_SECRET, DATABASE_URL: 'sqlite::memory:' }
  assert.equal(loadConfig(base).defaultLocale, 'en')
  assert.equal(loadConfig({ ...base, DEFAULT_LOCALE: 'ES' }).defaultLocale, 'es')
  assert.throws(() => loadConfig({ ...base, DEFAULT_LOCALE: 'it' }), /DEFAULT_LOCALE must be one of en, de, fr, es/)
})
