import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import {
  atPath,
  expiredToken,
  launchBrowser,
  linkIn,
  openPage,
  type PagesService,
  PHONE,
  screenshot,
  skipWithoutChromium,
  startPagesService,
  text,
  uniqueEmail,
} from './browser.js'

describe('sign-up and e-mail verification in a browser', { skip: skipWithoutChromium() }, () => {
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

  test('sign up → the mail arrives → its link verifies the address → sign in → the account page → sign out', async () => {
    const email = uniqueEmail('ada')
    const { context, page, problems } = await openPage(browser, service.baseUrl)

    await page.goto('/sign-up')
    await screenshot(page, 'sign-up')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('First name').fill('Ada')
    // A rule broken in the form is refused on the spot, in words, beside the field.
    await page.getByLabel('Password', { exact: true }).fill('short')
    await page.getByRole('button', { name: 'Create account' }).click()
    const password = page.getByLabel('Password', { exact: true })
    await assertFocused(password)
    assert.equal(await password.getAttribute('aria-invalid'), 'true')
    assert.match(
      await text(page.locator('#password-error')),
      /This password cannot be used: at least 8 characters long\./,
    )
    assert.match(await text(page.locator('li[data-rule="minLength"]')), /\(not yet\)/)
    await screenshot(page, 'sign-up-rule-unmet')

    await password.fill('analytical-engine')
    assert.match(await text(page.locator('li[data-rule="minLength"]')), /\(done\)/)
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor()
    assert.match(await text(page.locator('#fu-done-message')), new RegExp(`sent a link to ${email}`))
    await screenshot(page, 'sign-up-done')

    const mail = await service.smtp.waitForMail((m) => m.to.includes(email) && /verify/i.test(m.subject))
    const link = linkIn(mail, `${service.baseUrl}/verify?token=`)
    await page.goto(link)
    await page.getByRole('heading', { name: 'E-mail address verified' }).waitFor()
    assert.match(await text(page.locator('#fu-done-message')), new RegExp(`${email} is verified`))
    assert.equal(new URL(page.url()).search, '', 'the token is gone from the address bar')
    await screenshot(page, 'verify-done')
    const verified = await service.test.app.users.manager.getByEmail(email)
    assert.equal(verified?.is_verified, true)

    // The same link a second time: already verified, said kindly.
    await page.goto(link)
    await page.getByText('This e-mail address is already verified.').waitFor()

    await page.getByRole('link', { name: 'Sign in' }).click()
    await page.getByText('Your e-mail address is verified. You can sign in.').waitFor()
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill('analytical-engine')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))
    await page.locator('dd[data-field="email"]', { hasText: email }).waitFor()
    assert.equal(await text(page.locator('dd[data-field="first_name"]')), 'Ada')
    assert.equal(await text(page.locator('dd[data-slot="verified"]')), 'E-mail address verified')
    assert.equal(await page.getByRole('button', { name: 'Send me a verification link' }).isHidden(), true)
    await screenshot(page, 'account')

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByText('You have signed out.').waitFor()
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the token is gone from sessionStorage')
    // Signed out, the account page sends you to sign in and back.
    await page.goto('/account')
    await page.waitForURL('**/sign-in?next=%2Faccount')

    assert.deepEqual(problems, [])
    await context.close()
  })

  test('an expired verification link says so and sends a new link that works', async () => {
    const email = uniqueEmail('grace')
    const api = service.test.app
    const created = await api.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: 'compiler-1952', first_name: 'Grace' },
    })
    assert.equal(created.statusCode, 201)
    const { id } = created.json()
    const token = await expiredToken({ sub: id, email }, 'fastapi-users:verify')

    const { context, page, problems } = await openPage(browser, service.baseUrl, PHONE)
    await page.goto(`/verify?token=${encodeURIComponent(token)}`)
    await page.getByRole('alert').filter({ hasText: 'This link has expired.' }).waitFor()
    assert.equal(new URL(page.url()).search, '')
    // The address comes from the link, so one press sends a new one.
    assert.equal(await page.getByLabel('E-mail address').inputValue(), email)
    await screenshot(page, 'verify-expired-phone')
    await page.getByRole('button', { name: 'Send me a new link' }).click()
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor()
    await screenshot(page, 'verify-resent-phone')

    const mail = await service.smtp.waitForMail((m) => m.to.includes(email) && /verify/i.test(m.subject))
    await page.goto(linkIn(mail, `${service.baseUrl}/verify?token=`))
    await page.getByRole('heading', { name: 'E-mail address verified' }).waitFor()
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('signing up twice with one address says so beside the address', async () => {
    const email = uniqueEmail('twice')
    const api = service.test.app
    await api.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: 'first-password', first_name: 'Twice' },
    })

    const { context, page, problems } = await openPage(browser, service.baseUrl)
    await page.goto('/sign-up')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('First name').fill('Again')
    await page.getByLabel('Password', { exact: true }).fill('second-password')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.locator('#email-error', { hasText: 'An account with this e-mail address already exists.' }).waitFor()
    await assertFocused(page.getByLabel('E-mail address'))
    assert.deepEqual(problems, [])
    await context.close()
  })
})

async function assertFocused(locator: import('playwright-core').Locator) {
  assert.equal(await locator.evaluate((el) => el === document.activeElement), true, 'focus is on the field in error')
}
