/**
 * The sessions list on the hosted /account page, in Chromium: every session with its browser or app,
 * "This browser" for the page's own, an "End" button for each other one that ends it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { InjectOptions } from 'fastify'
import type { Browser } from 'playwright-core'
import {
  atPath,
  launchBrowser,
  openPage,
  type PagesService,
  PHONE,
  screenshot,
  skipWithoutChromium,
  startPagesService,
  uniqueEmail,
} from './browser.js'

const PASSWORD = 'goto-considered-harmful'

describe('the sessions on the account page, in a browser', { skip: skipWithoutChromium() }, () => {
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

  const inject = (options: InjectOptions) => service.test.app.inject(options)
  const loginForm = (email: string) => new URLSearchParams({ username: email, password: PASSWORD }).toString()

  test('lists every session, marks this browser’s, and “End” signs another device out', async () => {
    const email = uniqueEmail('barbara')
    const registered = await inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, first_name: 'Barbara' },
    })
    assert.equal(registered.statusCode, 201, registered.body)
    // Two other devices: a cookie session, and an app with a long User-Agent (it must wrap, not widen the page).
    const cookieLogin = await inject({
      method: 'POST',
      url: '/auth/cookie/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'OtherDevice/1.0' },
      payload: loginForm(email),
    })
    assert.equal(cookieLogin.statusCode, 204, cookieLogin.body)
    const cookie = cookieLogin.cookies.find((c) => c.name === 'fastapiusersauth')?.value as string
    const longAgent = `LongApp/${'x'.repeat(200)}`
    const appLogin = await inject({
      method: 'POST',
      url: '/auth/jwt/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': longAgent },
      payload: loginForm(email),
    })
    assert.equal(appLogin.statusCode, 200, appLogin.body)

    const { context, page, problems } = await openPage(browser, service.baseUrl, PHONE)
    await page.goto('/sign-in')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))

    const list = page.locator('[data-slot="sessions"]')
    const entries = list.locator('li')
    await entries.nth(2).waitFor()
    assert.equal(await entries.count(), 3)
    const browserAgent = await page.evaluate(() => navigator.userAgent)
    // Newest first: this browser's, then the app's, then the other device's.
    const mine = entries.nth(0)
    assert.match(
      (await mine.locator('strong').textContent()) ?? '',
      new RegExp(browserAgent.slice(0, 20).replace(/[()./]/g, '\\$&')),
    )
    assert.equal(await mine.getByText('This browser').count(), 1)
    assert.equal(await mine.getByRole('button').count(), 0, 'no End button for this browser')
    assert.equal(await entries.nth(1).locator('strong').textContent(), longAgent)
    assert.equal(await entries.nth(2).locator('strong').textContent(), 'OtherDevice/1.0')
    assert.match(
      (await entries.nth(2).locator('span').first().textContent()) ?? '',
      /^From 127\.0\.0\.1 · signed in .+ · last active .+$/,
    )
    assert.equal(await list.getByRole('button', { name: 'End' }).count(), 2)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    assert.ok(overflow <= 0, `the account page scrolls sideways by ${overflow}px`)
    await screenshot(page, 'account-sessions-phone')

    await entries
      .nth(2)
      .getByRole('button', { name: /^End the session of OtherDevice\/1\.0/ })
      .click()
    await page.getByRole('status').filter({ hasText: 'The session has ended.' }).waitFor()
    await entries.nth(1).waitFor()
    await list.getByText('OtherDevice/1.0').waitFor({ state: 'detached' })
    assert.equal(await entries.count(), 2)
    const ended = await inject({ method: 'GET', url: '/users/me', headers: { cookie: `fastapiusersauth=${cookie}` } })
    assert.equal(ended.statusCode, 401, 'the other device is signed out')
    const still = await inject({
      method: 'GET',
      url: '/users/me',
      headers: { authorization: `Bearer ${appLogin.json().access_token}` },
    })
    assert.equal(still.statusCode, 200, 'the app is not')

    // Signing out ends this browser's own session too (the page holds no refresh token to revoke it by).
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/sign-in?notice=signed-out')
    const left = await inject({
      method: 'GET',
      url: '/users/me/sessions',
      headers: { authorization: `Bearer ${appLogin.json().access_token}` },
    })
    assert.deepEqual(
      (left.json() as { user_agent: string }[]).map((s) => s.user_agent),
      [longAgent],
    )

    assert.deepEqual(problems, [])
    await context.close()
  })
})
