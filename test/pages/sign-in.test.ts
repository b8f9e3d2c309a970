import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { LoginRefused } from '../../src/index.js'
import {
  atPath,
  launchBrowser,
  openPage,
  type PagesService,
  PHONE,
  screenshot,
  skipWithoutChromium,
  startPagesService,
  text,
  uniqueEmail,
} from './browser.js'

describe('sign-in in a browser', { skip: skipWithoutChromium() }, () => {
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

  async function register(email: string, password: string, api = service) {
    const res = await api.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password, first_name: 'Edsger' },
    })
    assert.equal(res.statusCode, 201, res.body)
  }

  test('a wrong password is a readable error, announced, and the form can be tried again', async () => {
    const email = uniqueEmail('edsger')
    await register(email, 'goto-considered-harmful')
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    await page.goto('/sign-in')
    await screenshot(page, 'sign-in')

    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill('wrong-password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    const alert = page.getByRole('alert')
    await alert.filter({ hasText: 'The e-mail address or the password is not right.' }).waitFor()
    assert.doesNotMatch(await text(alert), /LOGIN_BAD_CREDENTIALS/)
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).isEnabled(), true)
    await screenshot(page, 'sign-in-wrong-password')

    await page.getByLabel('Password', { exact: true }).fill('goto-considered-harmful')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))
    assert.deepEqual(problems, [])
    await context.close()
  })

  test("the app's login veto (onBeforeLogin) is said in words, and nothing is signed in", async () => {
    const email = uniqueEmail('suspended')
    await register(email, 'goto-considered-harmful')
    const { hooks } = service.test.app.users.manager
    hooks.onBeforeLogin = (user) => {
      if (user.email === email) throw new LoginRefused('LOGIN_ACCOUNT_SUSPENDED')
    }
    try {
      const { context, page, problems } = await openPage(browser, service.baseUrl)
      await page.goto('/sign-in')
      await page.getByLabel('E-mail address').fill(email)
      await page.getByLabel('Password', { exact: true }).fill('goto-considered-harmful')
      await page.getByRole('button', { name: 'Sign in' }).click()
      const alert = page.getByRole('alert')
      await alert.filter({ hasText: 'This account cannot sign in at the moment.' }).waitFor()
      assert.doesNotMatch(await text(alert), /LOGIN_ACCOUNT_SUSPENDED/)
      assert.equal(new URL(page.url()).pathname, '/sign-in')
      assert.equal(await page.evaluate(() => sessionStorage.length), 0)
      await screenshot(page, 'sign-in-refused')
      assert.deepEqual(problems, [])
      await context.close()
    } finally {
      delete hooks.onBeforeLogin
    }
  })

  test('missing and malformed fields are said in words beside them, before any request', async () => {
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    const requests: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    await page.goto('/sign-in')
    requests.length = 0
    await page.getByLabel('E-mail address').fill('not-an-address')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('#email-error', { hasText: 'Enter an e-mail address like name@example.com.' }).waitFor()
    assert.equal(await text(page.locator('#password-error')), 'Please fill in this field.')
    assert.equal(await page.getByLabel('E-mail address').evaluate((el) => el === document.activeElement), true)
    assert.deepEqual(requests, [])
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('the server out of reach is said in words', async () => {
    const { context, page } = await openPage(browser, service.baseUrl)
    await page.route('**/auth/jwt/login', (route) => route.abort())
    await page.goto('/sign-in')
    await page.getByLabel('E-mail address').fill('someone@example.com')
    await page.getByLabel('Password', { exact: true }).fill('whatever-it-is')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'We could not reach the server.' }).waitFor()
    await context.close()
  })

  test('the keyboard goes through the form in reading order', async () => {
    const { context, page } = await openPage(browser, service.baseUrl)
    await page.goto('/sign-in')
    await page.getByLabel('E-mail address').focus()
    const order: string[] = []
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab')
      order.push(
        await page.evaluate(() => document.activeElement?.textContent?.trim() || document.activeElement?.id || ''),
      )
    }
    assert.deepEqual(order, ['password', 'Show password', 'Sign in', 'Forgot your password?', 'Create an account'])
    await page.getByRole('button', { name: 'Show password' }).click()
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('type'), 'text')
    assert.equal(await page.getByRole('button', { name: 'Hide password' }).isVisible(), true)
    await context.close()
  })

  test('after signing in, `next` leads back to a page of this site and never elsewhere', async () => {
    const email = uniqueEmail('next')
    await register(email, 'structured-programming')
    // another site, written every way a browser resolves to it: all lead to the account page
    for (const next of [
      'https://evil.example/steal',
      '//evil.example/steal',
      '/\\evil.example/steal',
      '\\\\evil.example/steal',
      'javascript:alert(1)',
      '/./\\evil.example/steal',
      '/\t/evil.example/steal',
    ]) {
      const { context, page } = await openPage(browser, service.baseUrl)
      await page.goto(`/sign-in?next=${encodeURIComponent(next)}`)
      await page.getByLabel('E-mail address').fill(email)
      await page.getByLabel('Password', { exact: true }).fill('structured-programming')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`${service.baseUrl}/account`)
      await context.close()
    }
    // dot segments resolve to a path starting with `//`: followed as a path of this site, never as a host
    const { context, page } = await openPage(browser, service.baseUrl)
    await page.goto(`/sign-in?next=${encodeURIComponent('/.//evil.example/steal')}`)
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill('structured-programming')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${service.baseUrl}//evil.example/steal`)
    assert.equal(new URL(page.url()).origin, service.baseUrl)
    await context.close()
  })

  test('an unverified user, where verification is required, is told so and offered a new link', async () => {
    const strict = await startPagesService({ REQUIRE_VERIFICATION: 'true' })
    try {
      const email = uniqueEmail('unverified')
      await register(email, 'semaphores-1965', strict)
      const { context, page, problems } = await openPage(browser, strict.baseUrl)
      await page.goto('/sign-in')
      await page.getByLabel('E-mail address').fill(email)
      await page.getByLabel('Password', { exact: true }).fill('semaphores-1965')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('alert').filter({ hasText: 'Please confirm your e-mail address first' }).waitFor()
      await page.getByRole('link', { name: 'Send me a new link' }).click()
      await page.waitForURL(atPath('/verify'))
      await page.getByText('Enter your e-mail address and we will send you a link to confirm it.').waitFor()
      assert.deepEqual(problems, [])
      await context.close()
    } finally {
      await strict.close()
    }
  })

  test('an expired session on the account page leads to sign in, with a word why', async () => {
    const { context, page } = await openPage(browser, service.baseUrl)
    await page.goto('/sign-in')
    await page.evaluate(() => sessionStorage.setItem('fastify-users.access_token', 'not-a-valid-token'))
    await page.goto('/account')
    await page.getByText('Your session has ended. Please sign in again.').waitFor()
    assert.equal(await page.evaluate(() => sessionStorage.length), 0)
    await context.close()
  })

  test('every page at phone width: no horizontal scrolling, no CSP violation, nothing from elsewhere', async () => {
    const { context, page, problems } = await openPage(browser, service.baseUrl, PHONE)
    for (const path of ['/sign-in', '/sign-up', '/forgot-password', '/reset-password?token=x', '/verify']) {
      const response = await page.goto(path)
      assert.ok(response)
      assert.match(response.headers()['content-security-policy'] ?? '', /script-src 'self'/)
      assert.equal(response.headers()['referrer-policy'], 'no-referrer')
      await page.waitForLoadState('networkidle')
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px`)
      const name = path.slice(1).replace(/\?.*/, '') || 'root'
      await screenshot(page, `${name}-phone`)
    }
    assert.deepEqual(problems, [])
    await context.close()
  })
})
