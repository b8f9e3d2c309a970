/**
 * TOTP on the hosted pages, in Chromium: enrolment on /account (the QR code as inline SVG, the key as
 * text, the recovery codes shown once), then a sign-in through the challenge step. The service's
 * clock is the test's: the codes are computed here for the time the service sees.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { base32Decode, totp } from '../../src/index.js'
import { wrongCode } from '../support/totp.js'
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

const STEP = 30_000

describe('two-step verification in a browser', { skip: skipWithoutChromium() }, () => {
  let service: PagesService
  let browser: Browser
  const clock = { now: Math.floor(Date.now() / STEP) * STEP + 1000 }

  before(async () => {
    browser = await launchBrowser()
    service = await startPagesService({}, { clock: () => new Date(clock.now) })
  })
  after(async () => {
    await browser?.close()
    await service?.close()
  })

  test('enrol TOTP on /account, then sign in through the code step', async () => {
    const email = uniqueEmail('grace')
    const password = 'cobol-was-here-1959'
    const registered = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password, first_name: 'Grace' },
    })
    assert.equal(registered.statusCode, 201, registered.body)
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    await page.goto('/sign-in')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill(password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))
    const status = page.locator('[data-slot="two-factor-status"]')
    await status.filter({ hasText: 'Two-step verification is off' }).waitFor()

    await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
    const qr = page.locator('[data-slot="totp-qr"] svg')
    await qr.waitFor()
    assert.equal(await qr.getAttribute('role'), 'img')
    const secret = await text(page.locator('[data-slot="totp-secret"]'))
    assert.match(secret, /^[A-Z2-7]{32}$/)
    await screenshot(page, 'account-totp-enrol')
    const key = base32Decode(secret)
    await page.locator('#totp-enable-code').fill(wrongCode(key, clock.now))
    await page.getByRole('button', { name: 'Turn on' }).click()
    await page.locator('#totp-enable-code-error').filter({ hasText: 'This code is not right' }).waitFor()
    assert.equal(await page.locator('#totp-enable-code').getAttribute('aria-invalid'), 'true')
    await page.locator('#totp-enable-code').fill(totp(key, clock.now))
    await page.getByRole('button', { name: 'Turn on' }).click()
    const codes = page.locator('[data-slot="recovery-list"] li')
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor()
    assert.equal(await codes.count(), 10)
    const first = await text(codes.first())
    assert.match(first, /^[a-z2-9]{5}-[a-z2-9]{5}$/)
    await screenshot(page, 'account-totp-recovery-codes')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    await status.filter({ hasText: 'Recovery codes left: 10' }).waitFor()
    assert.equal(await codes.count(), 0, 'shown once: gone from the page')
    await service.smtp.waitForMail((m) => m.to.includes(email) && m.subject === 'Two-step verification was turned on')

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/sign-in?notice=signed-out')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill(password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor()
    assert.equal(await page.locator('[data-form="sign-in"]').isHidden(), true)
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'no token before the code')
    await screenshot(page, 'sign-in-two-factor')
    clock.now += STEP // the enrolment's code is spent: the next step's
    await page.locator('#two-factor-code').fill(totp(key, clock.now - 2 * STEP))
    await page.getByRole('button', { name: 'Verify' }).click()
    await page
      .locator('#two-factor-code-error')
      .filter({ hasText: 'This code is not right, or was already used' })
      .waitFor()
    await page.locator('#two-factor-code').fill(totp(key, clock.now))
    await page.getByRole('button', { name: 'Verify' }).click()
    await page.waitForURL(atPath('/account'))
    await status.filter({ hasText: 'Two-step verification is on' }).waitFor()
    assert.deepEqual(problems, [])
    await context.close()
  })
})
