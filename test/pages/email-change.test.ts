/**
 * The confirmed e-mail change in a browser (EMAIL_CHANGE=confirm): /account asks for the new
 * address and says a link was sent there, the link opens /confirm-email-change, which confirms at
 * once and asks to sign in with the new address; the same link again is refused in words.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import {
  atPath,
  launchBrowser,
  linkIn,
  openPage,
  type PagesService,
  screenshot,
  signInToAccount,
  skipWithoutChromium,
  startPagesService,
  text,
  uniqueEmail,
} from './browser.js'

describe('e-mail change confirmed by the new address, in a browser', { skip: skipWithoutChromium() }, () => {
  let service: PagesService
  let browser: Browser

  before(async () => {
    browser = await launchBrowser()
    service = await startPagesService({ EMAIL_CHANGE: 'confirm' })
  })
  after(async () => {
    await browser?.close()
    await service?.close()
  })

  test('account → link sent → the mail’s link confirms → sign in with the new address; the link again is refused', async () => {
    const email = uniqueEmail('grace')
    const target = uniqueEmail('grace-new')
    const password = 'cobol-compiler-1959'
    const res = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password, first_name: 'Grace' },
    })
    assert.equal(res.statusCode, 201, res.body)

    const { context, page, problems } = await openPage(browser, service.baseUrl)
    await signInToAccount(page, email, password)
    assert.equal(await text(page.locator('dd[data-field="email"]')), email)

    await page.locator('#new-email').fill(target)
    await page.getByLabel('Your password', { exact: true }).fill('not-my-password')
    await page.getByRole('button', { name: 'Change e-mail address' }).click()
    await page.locator('#email-current-password-error', { hasText: 'Your current password is not right.' }).waitFor()

    await page.getByLabel('Your password', { exact: true }).fill(password)
    await page.getByRole('button', { name: 'Change e-mail address' }).click()
    await page
      .getByRole('status')
      .filter({
        hasText: `We have sent a link to ${target}. Open it to confirm your new address; until then your account keeps ${email}.`,
      })
      .waitFor()
    assert.equal(await text(page.locator('dd[data-field="email"]')), email, 'the address shown is still the old one')
    await screenshot(page, 'account-email-change-sent')

    const mail = await service.smtp.waitForMail((m) => m.to.includes(target) && /new e-mail/i.test(m.subject))
    const link = linkIn(mail, `${service.baseUrl}/confirm-email-change?token=`)
    await page.goto(link)
    await page.getByRole('heading', { name: 'E-mail address changed' }).waitFor()
    assert.equal(new URL(page.url()).search, '', 'the token is gone from the address bar')
    assert.equal(
      await text(page.locator('#fu-done-message')),
      `Your account now uses ${target}. Every session was ended: sign in again with your new address.`,
    )
    assert.equal(
      await page.evaluate(() => sessionStorage.length),
      0,
      'the tab’s token is dropped: its sessions have ended',
    )
    await screenshot(page, 'confirm-email-change-done')
    await service.smtp.waitForMail((m) => m.to.includes(email) && m.subject === 'Your e-mail address was changed')

    await page.getByRole('link', { name: 'Sign in' }).click()
    await page.waitForURL('**/sign-in?notice=email-changed')
    await page.getByText('Your e-mail address has been changed. Sign in with your new address.').waitFor()
    await page.getByLabel('E-mail address').fill(target)
    await page.getByLabel('Password', { exact: true }).fill(password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))
    assert.equal(await text(page.locator('dd[data-field="email"]')), target)
    assert.equal(await text(page.locator('dd[data-slot="verified"]')), 'E-mail address verified')

    await page.goto(link)
    await page
      .getByRole('alert')
      .filter({
        hasText: 'This link is not valid or has already been used, or your address or password changed since.',
      })
      .waitFor()
    await page.getByRole('link', { name: 'Go to your account' }).waitFor()
    await screenshot(page, 'confirm-email-change-used')
    assert.deepEqual(problems, [])
    await context.close()
  })
})

describe('e-mail change at once (EMAIL_CHANGE unset, fastapi-users), in a browser', {
  skip: skipWithoutChromium(),
}, () => {
  let service: PagesService
  let browser: Browser

  before(async () => {
    browser = await launchBrowser()
    service = await startPagesService()
  })
  after(async () => {
    await browser?.close()
    await service?.close()
  })

  test('the account page writes the new address, shows it unverified, and the old address is told', async () => {
    const email = uniqueEmail('ada')
    const target = uniqueEmail('ada-new')
    const password = 'analytical-engine-1843'
    const res = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password, first_name: 'Ada' },
    })
    assert.equal(res.statusCode, 201, res.body)
    const stored = await service.test.app.users.manager.getByEmail(email)
    assert.ok(stored)
    await service.test.app.users.manager.update(stored, { is_verified: true }, { safe: false })

    const { context, page, problems } = await openPage(browser, service.baseUrl)
    await signInToAccount(page, email, password)
    assert.equal(await text(page.locator('dd[data-slot="verified"]')), 'E-mail address verified')

    await page.locator('#new-email').fill(target)
    await page.getByLabel('Your password', { exact: true }).fill(password)
    await page.getByRole('button', { name: 'Change e-mail address' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `Your e-mail address is now ${target}.` })
      .waitFor()
    assert.equal(await text(page.locator('dd[data-field="email"]')), target)
    assert.equal(await text(page.locator('dd[data-slot="verified"]')), 'E-mail address not verified yet')
    assert.equal(await page.getByRole('button', { name: 'Send me a verification link' }).isVisible(), true)
    await screenshot(page, 'account-email-changed')
    await service.smtp.waitForMail((m) => m.to.includes(email) && m.subject === 'Your e-mail address was changed')
    assert.equal((await page.request.get('/confirm-email-change')).status(), 404, 'no confirm page in this mode')
    assert.deepEqual(problems, [])
    await context.close()
  })
})
