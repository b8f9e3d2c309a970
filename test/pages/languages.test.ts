import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import type { AuditReader } from '../../src/core/audit.js'
import { catalogues } from '../../src/i18n/catalogue.js'
import type { Messages } from '../../src/i18n/en.js'
import {
  atPath,
  launchBrowser,
  openPage,
  type PagesService,
  screenshot,
  skipWithoutChromium,
  startPagesService,
  text,
  uniqueEmail,
} from './browser.js'

const PASSWORD = 'a-long-enough-password'
const BROWSERS = [
  { code: 'en', locale: 'en-US' },
  { code: 'de', locale: 'de-DE' },
  { code: 'fr', locale: 'fr-FR' },
  { code: 'es', locale: 'es-ES' },
] as const
const words = (code: string) => catalogues[code] as Messages

describe("pages in the browser's language", { skip: skipWithoutChromium() }, () => {
  let service: PagesService
  let browser: Browser
  let email: string

  before(async () => {
    browser = await launchBrowser()
    service = await startPagesService()
    email = uniqueEmail('polyglot')
    const res = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, first_name: 'Ada' },
    })
    assert.equal(res.statusCode, 201, res.body)
  })
  after(async () => {
    await browser?.close()
    await service?.close()
  })

  for (const { code, locale } of BROWSERS) {
    test(`${locale}: sign-up and sign-in speak ${code}, and a wrong password is said in ${code}`, async () => {
      const s = words(code).pages
      const { context, page, problems } = await openPage(browser, service.baseUrl, undefined, locale)
      await page.goto('/sign-up')
      assert.equal(await page.locator('html').getAttribute('lang'), code)
      assert.equal(await text(page.locator('h1')), s.signUp.title)
      assert.equal(await page.title(), `${s.signUp.title} · fastify-users`)
      await page.getByLabel(s.common.email).waitFor()
      await page.getByLabel(s.fieldLabels.first_name).waitFor()
      await page.getByRole('button', { name: s.signUp.submit }).waitFor()
      assert.equal(await text(page.locator('.fu-rules .fu-hint')), s.passwordRules.heading)

      await page.goto('/sign-in')
      assert.equal(await page.locator('html').getAttribute('lang'), code)
      assert.equal(await text(page.locator('h1')), s.signIn.title)
      assert.equal(await text(page.getByRole('link', { name: s.signIn.forgot })), s.signIn.forgot)
      await page.getByLabel(s.common.email).fill(email)
      await page.getByLabel(s.common.password, { exact: true }).fill('not-the-password')
      await page.getByRole('button', { name: s.signIn.submit }).click()
      const alert = page.getByRole('alert')
      await alert.filter({ hasText: s.errors.LOGIN_BAD_CREDENTIALS }).waitFor()
      assert.equal(await text(alert), s.errors.LOGIN_BAD_CREDENTIALS)
      await screenshot(page, `sign-in-${code}`)
      assert.deepEqual(problems, [])
      await context.close()
    })
  }

  test('the language selector switches the page, keeps the address, and the choice persists', async () => {
    const { context, page, problems } = await openPage(browser, service.baseUrl, undefined, 'de-DE')
    await page.goto('/sign-in?next=/account')
    assert.equal(await text(page.locator('h1')), 'Anmelden')
    const selector = page.getByRole('navigation', { name: 'Sprache' })
    assert.equal(await selector.getByRole('link', { name: 'Deutsch' }).getAttribute('aria-current'), 'true')
    await selector.getByRole('link', { name: 'Français' }).click()
    await page.waitForURL('**/sign-in?next=%2Faccount&lang=fr')
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr')
    assert.equal(await text(page.locator('h1')), 'Connexion')

    // the cookie keeps it over the browser's German, on every page
    await page.goto('/forgot-password')
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr')
    assert.equal(await text(page.locator('h1')), 'Mot de passe oublié ?')
    const cookie = (await context.cookies()).find((c) => c.name === 'lang')
    assert.equal(cookie?.value, 'fr')
    assert.equal(cookie?.sameSite, 'Lax')
    assert.equal(cookie?.path, '/')
    assert.ok(cookie && cookie.expires * 1000 > Date.now() + 360 * 24 * 3600 * 1000, 'kept for a year')

    // and signing in with the French choice lands on a French account page
    await page.goto('/sign-in?next=/account')
    await page.getByLabel('Adresse e-mail').fill(email)
    await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: 'Se connecter' }).click()
    await page.waitForURL(atPath('/account'))
    await page.getByRole('heading', { name: 'Vos informations' }).waitFor()
    await page.getByRole('navigation', { name: 'Langue' }).getByRole('link', { name: 'Español' }).click()
    await page.getByRole('heading', { name: 'Tus datos' }).waitFor()
    assert.equal(await page.locator('html').getAttribute('lang'), 'es')
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('a German browser signs up in German and gets German mails', async () => {
    const s = words('de').pages
    const address = uniqueEmail('berlin')
    const { context, page, problems } = await openPage(browser, service.baseUrl, undefined, 'de-DE')
    await page.goto('/sign-up')
    await page.getByLabel('E-Mail-Adresse').fill(address)
    await page.getByLabel('Vorname').fill('Grete')
    await page.getByLabel('Passwort', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: 'Konto erstellen' }).click()
    await page.getByRole('heading', { name: s.signUp.doneTitle }).waitFor()
    assert.equal(await text(page.locator('[data-slot="done-message"]')), s.signUp.done.replace('{email}', address))
    const verify = await service.smtp.waitForMail(
      (m) => m.to.includes(address) && m.subject === 'Bestätigen Sie Ihre E-Mail-Adresse',
    )
    assert.match(
      verify.text,
      /^Hallo Grete,\n\nBitte bestätigen Sie Ihre E-Mail-Adresse, indem Sie den folgenden Link öffnen\./,
    )
    assert.match(verify.html, /<html lang="de">/)
    await service.smtp.waitForMail((m) => m.to.includes(address) && m.subject === 'Willkommen!')
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('Recent activity stays hidden where GET /users/me/events answers 404 (AUDIT_LOG=off)', async () => {
    const quiet = await startPagesService({ AUDIT_LOG: 'off' })
    const probe = await quiet.test.app.inject({ method: 'GET', url: '/users/me/events?limit=10' })
    assert.equal(probe.statusCode, 404)
    const registered = await quiet.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, first_name: 'Ada' },
    })
    assert.equal(registered.statusCode, 201)
    const { context, page, problems } = await openPage(browser, quiet.baseUrl, undefined, 'de-DE')
    const answered = page.waitForResponse((response) => response.url().includes('/users/me/events?limit=10'))
    await signInAs(page, email)
    assert.equal((await answered).status(), 404)
    await page.getByRole('heading', { name: 'Wo Sie angemeldet sind' }).waitFor()
    await page.waitForTimeout(100)
    assert.equal(await page.locator('[data-section="activity"]').isHidden(), true)
    assert.equal(await page.locator('#fu-activity-title').textContent(), 'Letzte Aktivitäten')
    assert.deepEqual(problems, [])
    await context.close()
    await quiet.close()
  })

  test('Recent activity: the last events in German, a failed sign-in marked, "Mehr anzeigen" pages on', async () => {
    const address = uniqueEmail('activity')
    const linux = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'
    // the route records the account's first event (the oldest: events are listed by the order they were recorded)
    const registered = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      remoteAddress: '203.0.113.7',
      headers: { 'user-agent': linux },
      payload: { email: address, password: PASSWORD, first_name: 'Ada' },
    })
    assert.equal(registered.statusCode, 201)
    // then the events as the audit log records them, a day ago, a minute apart
    const audit = service.test.app.users.audit
    assert.ok(audit, 'the service keeps an audit log')
    const user_id = String(registered.json().id)
    const start = Date.now() - 24 * 3600 * 1000
    const at = (minute: number) => new Date(start + minute * 60_000)
    for (let i = 1; i <= 11; i++) {
      audit.record({
        type: 'login.failed',
        outcome: 'failure',
        user_id,
        at: at(i),
        reason: 'LOGIN_BAD_CREDENTIALS',
        ip: '198.51.100.9',
      })
    }
    audit.record({
      type: 'login.succeeded',
      outcome: 'success',
      user_id,
      at: at(12),
      ip: '203.0.113.7',
      user_agent: linux,
    })
    await audit.flush()
    const { context, page, problems } = await openPage(browser, service.baseUrl, undefined, 'de-DE')
    await signInAs(page, address)
    const section = page.locator('[data-section="activity"]')
    await section.getByRole('heading', { name: 'Letzte Aktivitäten' }).waitFor()
    const items = section.locator('.fu-event')
    await items.first().waitFor()
    assert.equal(await items.count(), 10)
    assert.match(await text(items.first()), /^Angemeldet/)
    const failed = section.locator('.fu-event[data-event-type="login.failed"]').first()
    assert.match(
      await text(failed),
      /^Anmeldeversuch · Fehlgeschlagen.* · von 198\.51\.100\.9 · unbekannter Browser oder unbekannte App$/s,
    )
    const more = section.getByRole('button', { name: 'Mehr anzeigen' })
    while (await more.isVisible()) {
      const shown = await items.count()
      await more.click()
      await page.waitForFunction((n) => document.querySelectorAll('.fu-event').length > n, shown)
      await page.waitForFunction(
        () => !(document.querySelector('[data-action="events-more"]') as HTMLButtonElement).disabled,
      )
    }
    const oldest = await text(items.last())
    assert.match(oldest, /^Konto angelegt/)
    // the time in German (Intl.DateTimeFormat of the page's language), the address, a short user agent
    const [signUp] = await (audit.sink as unknown as AuditReader).list({ user_id, type: 'register', limit: 1 })
    assert.ok(signUp, 'the route recorded the sign-up')
    const when = new Intl.DateTimeFormat('de', { dateStyle: 'medium', timeStyle: 'short' }).format(signUp.at)
    assert.ok(oldest.endsWith(`${when} · von 203.0.113.7 · Chrome (Linux)`), oldest)
    assert.equal(await section.locator('.fu-event-failed').count(), 11)
    await screenshot(page, 'account-activity-de')
    assert.deepEqual(problems, [])
    await context.close()
  })
})

async function signInAs(page: import('playwright-core').Page, email: string) {
  await page.goto('/sign-in?next=/account')
  await page.getByLabel('E-Mail-Adresse').fill(email)
  await page.getByLabel('Passwort', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Anmelden' }).click()
  await page.waitForURL(atPath('/account'))
}
