import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
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

describe('sign-up and sign-in by username in a browser (LOGIN_WITH_USERNAME)', { skip: skipWithoutChromium() }, () => {
  let service: PagesService
  let browser: Browser

  before(async () => {
    browser = await launchBrowser()
    service = await startPagesService({ LOGIN_WITH_USERNAME: 'true' })
  })
  after(async () => {
    await browser?.close()
    await service?.close()
  })

  test('sign up with a username → a taken one is said beside its field → sign in with it → the account shows it', async () => {
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    const taken = await service.test.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: {
        email: uniqueEmail('taken'),
        password: 'analytical-engine',
        first_name: 'Charles',
        username: 'babbage',
      },
    })
    assert.equal(taken.statusCode, 201, taken.body)

    const email = uniqueEmail('ada')
    await page.goto('/sign-up')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('First name').fill('Ada')
    await page.getByLabel('Username (optional)').fill('Babbage')
    await page.getByLabel('Password', { exact: true }).fill('analytical-engine')
    await page.getByRole('button', { name: 'Create account' }).click()
    const username = page.getByLabel('Username (optional)')
    await page.locator('#field-username-error', { hasText: 'This username is taken. Choose another one.' }).waitFor()
    assert.equal(await username.getAttribute('aria-invalid'), 'true')
    assert.equal(await username.evaluate((el) => el === document.activeElement), true)
    await screenshot(page, 'sign-up-username-taken')

    await username.fill('Ada.Lovelace')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor()

    await page.goto('/sign-in')
    assert.equal(await page.getByLabel('E-mail address').count(), 0)
    const identifier = page.getByLabel('E-mail or username')
    assert.equal(await identifier.getAttribute('type'), 'text')
    assert.equal(await identifier.getAttribute('autocomplete'), 'username')
    await screenshot(page, 'sign-in-username')
    await identifier.fill('ada.lovelace')
    await page.getByLabel('Password', { exact: true }).fill('wrong-password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page
      .getByRole('alert')
      .filter({ hasText: 'The e-mail address, username or password is not right.' })
      .waitFor()

    await page.getByLabel('Password', { exact: true }).fill('analytical-engine')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(atPath('/account'))
    await page.locator('dd[data-field="email"]', { hasText: email }).waitFor()
    assert.equal(await text(page.locator('dd[data-field="username"]')), 'Ada.Lovelace')
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('without LOGIN_WITH_USERNAME the pages ask for an e-mail address only', async () => {
    const plain = await startPagesService()
    try {
      const { context, page, problems } = await openPage(browser, plain.baseUrl)
      await page.goto('/sign-in')
      assert.equal(await page.getByLabel('E-mail address').getAttribute('type'), 'email')
      assert.equal(await page.getByLabel('E-mail or username').count(), 0)
      await page.goto('/sign-up')
      assert.equal(await page.getByLabel('Username (optional)').count(), 0)
      assert.deepEqual(problems, [])
      await context.close()
    } finally {
      await plain.close()
    }
  })
})
