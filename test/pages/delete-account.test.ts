/**
 * "Delete my account" on /account (SELF_DELETE=true) in Chromium: the box must be ticked and the
 * password right; then the account is gone, the owner mailed, and the page lands on sign-in with a
 * notice. Without SELF_DELETE the page has no such section.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { base32Decode, totp } from '../../src/index.js'
import { startTestApp } from '../support/app.js'
import { wrongCode } from '../support/totp.js'
import {
  launchBrowser,
  openPage,
  type PagesService,
  screenshot,
  signInToAccount,
  skipWithoutChromium,
  startPagesService,
  text,
  uniqueEmail,
} from './browser.js'

const PASSWORD = 'leaving-for-good-1'

describe('deleting one’s account from /account in a browser', { skip: skipWithoutChromium() }, () => {
  let service: PagesService
  let browser: Browser

  before(async () => {
    browser = await launchBrowser()
    service = await startPagesService({ SELF_DELETE: 'true' })
  })
  after(async () => {
    await browser?.close()
    await service?.close()
  })

  test('the box, then the password, then the account is gone and the page is the sign-in page', async () => {
    const email = uniqueEmail('leaving')
    const registered = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, first_name: 'Lea' },
    })
    assert.equal(registered.statusCode, 201, registered.body)
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    await signInToAccount(page, email, PASSWORD)
    await page.getByRole('heading', { name: 'Delete your account' }).waitFor()
    const password = page.locator('#delete-password')
    const confirm = page.getByLabel('I understand that my account will be deleted for good.')
    const submit = page.getByRole('button', { name: 'Delete my account' })

    // nothing filled in: the password is asked for
    await submit.click()
    await page.locator('#delete-password-error', { hasText: 'Please fill in this field.' }).waitFor()
    // the password but not the box: the box is asked for, and nothing is sent
    await password.fill(PASSWORD)
    await submit.click()
    await page.locator('#delete-confirm-error', { hasText: 'Please tick this box to confirm.' }).waitFor()
    assert.ok(await service.test.app.users.manager.getByEmail(email), 'still there')
    // a wrong password: said beside the field
    await confirm.check()
    await password.fill('not-my-password')
    await submit.click()
    await page.locator('#delete-password-error', { hasText: 'Your password is not right.' }).waitFor()
    assert.ok(await service.test.app.users.manager.getByEmail(email), 'still there')
    await screenshot(page, 'account-delete-wrong-password')

    await password.fill(PASSWORD)
    await submit.click()
    await page.waitForURL('**/sign-in?notice=account-deleted')
    await page.getByText('Your account has been deleted.').waitFor()
    await screenshot(page, 'account-deleted')
    assert.equal(await service.test.app.users.manager.getByEmail(email), null, 'the user is gone')
    const mail = await service.smtp.waitForMail((m) => m.to.includes(email) && m.subject === 'Your account was deleted')
    assert.match(mail.text, /Hello Lea,/)

    // The tab's token is gone with it: the account page sends the browser to sign in.
    await page.goto('/account')
    await page.waitForURL('**/sign-in?next=%2Faccount')
    assert.equal(await text(page.locator('#fu-title')), 'Sign in')
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('a user with TOTP: the page asks for a code (the step-up), then deletes', async () => {
    const email = uniqueEmail('leaving-2fa')
    const app = service.test.app
    const registered = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, first_name: 'Lea' },
    })
    assert.equal(registered.statusCode, 201, registered.body)
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    // signed in before TOTP is on: this tab's session is not a recent authentication
    await signInToAccount(page, email, PASSWORD)
    const login = await app.inject({
      method: 'POST',
      url: '/auth/jwt/login',
      payload: new URLSearchParams({ username: email, password: PASSWORD }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    const other = `Bearer ${login.json().access_token}`
    const setup = await app.inject({ method: 'POST', url: '/auth/2fa/totp/setup', headers: { authorization: other } })
    const key = base32Decode(setup.json().secret)
    const enabled = await app.inject({
      method: 'POST',
      url: '/auth/2fa/totp/enable',
      headers: { authorization: other },
      payload: { code: totp(key, Date.now()) },
    })
    assert.equal(enabled.statusCode, 200, enabled.body)

    await page.locator('#delete-password').fill(PASSWORD)
    await page.getByLabel('I understand that my account will be deleted for good.').check()
    const submit = page.getByRole('button', { name: 'Delete my account' })
    await submit.click()
    const code = page.locator('#delete-code')
    await code.waitFor()
    await page
      .locator('#delete-code-error', {
        hasText: 'For your safety, confirm it is you with a code from your authenticator app first.',
      })
      .waitFor()
    assert.ok(await app.users.manager.getByEmail(email), 'still there')
    await code.fill(wrongCode(key, Date.now()))
    await submit.click()
    await page.locator('#delete-code-error', { hasText: 'This code is not right, or was already used.' }).waitFor()
    // the next step's code (one step of drift is accepted; the enabling one is spent)
    await code.fill(totp(key, Date.now() + 30_000))
    await submit.click()
    await page.waitForURL('**/sign-in?notice=account-deleted')
    assert.equal(await app.users.manager.getByEmail(email), null, 'the user is gone')
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('without SELF_DELETE the account page has no such section', async () => {
    const plain = await startTestApp('sqlite')
    assert.ok(plain)
    try {
      const page = await plain.app.inject({ method: 'GET', url: '/account' })
      assert.equal(page.statusCode, 200)
      assert.ok(!page.body.includes('data-form="delete-account"'))
      const withIt = await service.test.app.inject({ method: 'GET', url: '/account' })
      assert.ok(withIt.body.includes('data-form="delete-account"'))
    } finally {
      await plain.close()
    }
  })
})
