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

describe('forgot and reset password in a browser', { skip: skipWithoutChromium() }, () => {
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

  async function register(email: string, password: string) {
    const res = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password, first_name: 'Alan' },
    })
    assert.equal(res.statusCode, 201, res.body)
    return res.json() as { id: string }
  }

  test('forgot password → the mail arrives → reset → sign in with the new password', async () => {
    const email = uniqueEmail('alan')
    await register(email, 'enigma-machine')
    const { context, page, problems } = await openPage(browser, service.baseUrl)

    await page.goto('/sign-in')
    await page.getByRole('link', { name: 'Forgot your password?' }).click()
    await page.waitForURL(atPath('/forgot-password'))
    await screenshot(page, 'forgot-password')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByRole('button', { name: 'Send me a link' }).click()
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor()
    assert.match(await text(page.locator('#fu-done-message')), new RegExp(`If an account exists for ${email}`))
    await screenshot(page, 'forgot-password-done')

    const mail = await service.smtp.waitForMail((m) => m.to.includes(email) && /reset/i.test(m.subject))
    const link = linkIn(mail, `${service.baseUrl}/reset-password?token=`)
    await page.goto(link)
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor()
    assert.equal(new URL(page.url()).search, '', 'the token is gone from the address bar')
    await screenshot(page, 'reset-password')

    // A rule the page can check is refused at once, in words, beside the field.
    const password = page.getByLabel('New password')
    await password.fill('tiny')
    await page.getByRole('button', { name: 'Change my password' }).click()
    await page.locator('#password-error', { hasText: 'at least 8 characters long' }).waitFor()
    await screenshot(page, 'reset-password-rule-unmet')
    // One only the server can check here (the page does not know the address): its reason, beside the field.
    await password.fill(`my-${email}`)
    await page.getByRole('button', { name: 'Change my password' }).click()
    await page
      .locator('#password-error', { hasText: 'This password cannot be used: Password should not contain e-mail.' })
      .waitFor()

    await password.fill('bombe-1940-bletchley')
    await page.getByRole('button', { name: 'Change my password' }).click()
    await page.getByRole('heading', { name: 'Password changed' }).waitFor()
    await screenshot(page, 'reset-password-done')

    await page.getByRole('link', { name: 'Sign in with your new password' }).click()
    await page.getByText('Your password has been changed. Sign in with your new password.').waitFor()
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill('bombe-1940-bletchley')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))
    await page.locator('dd[data-field="email"]', { hasText: email }).waitFor()

    // The link works once: opened again it says so and offers a new one.
    await page.goto(link)
    await page.getByLabel('New password').fill('another-long-password')
    await page.getByRole('button', { name: 'Change my password' }).click()
    await page.getByRole('alert').filter({ hasText: 'This link is not valid or has already been used.' }).waitFor()
    assert.equal(await page.getByRole('link', { name: 'Ask for a new link' }).isVisible(), true)

    assert.deepEqual(problems, [])
    await context.close()
  })

  test('an expired reset link says so at once and leads to a new one', async () => {
    const email = uniqueEmail('expired')
    const { id } = await register(email, 'enigma-machine')
    const token = await expiredToken({ sub: id, password_fgpt: 'x' }, 'fastapi-users:reset')
    const { context, page, problems } = await openPage(browser, service.baseUrl, PHONE)

    await page.goto(`/reset-password?token=${encodeURIComponent(token)}`)
    await page.getByRole('alert').filter({ hasText: 'This link has expired.' }).waitFor()
    assert.equal(new URL(page.url()).search, '')
    assert.equal(await page.getByLabel('New password').isHidden(), true, 'no form to fill in for nothing')
    await screenshot(page, 'reset-password-expired-phone')
    await page.getByRole('link', { name: 'Ask for a new link' }).click()
    await page.waitForURL(atPath('/forgot-password'))

    // Without any token: the page says what is missing.
    await page.goto('/reset-password')
    await page.getByRole('alert').filter({ hasText: 'This page needs the link from your e-mail.' }).waitFor()
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('the account page changes the password after checking the current one', async () => {
    const email = uniqueEmail('change')
    await register(email, 'first-password-1')
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    await page.goto('/sign-in?next=/account')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill('first-password-1')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))
    assert.equal(await text(page.locator('dd[data-slot="verified"]')), 'E-mail address not verified yet')

    await page.getByLabel('Current password').fill('not-my-password')
    await page.getByLabel('New password').fill('second-password-2')
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.locator('#current-password-error', { hasText: 'Your current password is not right.' }).waitFor()

    await page.getByLabel('Current password').fill('first-password-1')
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.getByRole('status').filter({ hasText: 'Your password has been changed.' }).waitFor()
    const login = await service.test.app.inject({
      method: 'POST',
      url: '/auth/jwt/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ username: email, password: 'second-password-2' }).toString(),
    })
    assert.equal(login.statusCode, 200)

    // Resend verification from the account page.
    await page.getByRole('button', { name: 'Send me a verification link' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `We have sent a link to ${email}` })
      .waitFor()
    await service.smtp.waitForMail((m) => m.to.includes(email) && /verify/i.test(m.subject))
    await screenshot(page, 'account-unverified')
    assert.deepEqual(problems, [])
    await context.close()
  })
})
