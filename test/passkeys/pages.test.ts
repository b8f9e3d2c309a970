/**
 * Passkeys in Debian's Chromium through the hosted pages, with a CDP virtual authenticator (a platform
 * authenticator with resident keys and user verification): a passkey added on /account (the owner
 * mailed through a real SMTP server), renamed, used to sign in from /sign-in with no e-mail typed,
 * and deleted. PUBLIC_URL is http://localhost:<port>: a secure context, and a host name WebAuthn
 * accepts as the relying party id.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import {
  atPath,
  launchBrowser,
  openPage,
  screenshot,
  skipWithoutChromium,
  text,
  uniqueEmail,
} from '../pages/browser.js'
import { startTestApp, type TestApp } from '../support/app.js'
import { freePort } from '../support/ports.js'
import { startSmtpServer } from '../support/smtp.js'

const PASSWORD = 'passkeys-are-nicer-1'

async function virtualAuthenticator(page: Page) {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  })
  return {
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  }
}

describe('passkeys in a browser', { skip: skipWithoutChromium() }, () => {
  let browser: Browser
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>
  let service: TestApp
  let baseUrl: string

  before(async () => {
    browser = await launchBrowser()
    smtp = await startSmtpServer()
    const port = await freePort()
    baseUrl = `http://localhost:${port}`
    service = (await startTestApp('sqlite', { SMTP_URL: smtp.url, PUBLIC_URL: baseUrl, PASSKEYS: 'true' })) as TestApp
    await service.app.listen({ host: '127.0.0.1', port })
  })
  after(async () => {
    await browser?.close()
    await service?.close()
    await smtp?.close()
  })

  test('add a passkey on /account, sign out, sign in with it alone; rename and delete it', async () => {
    const email = uniqueEmail('passkey')
    const registered = await service.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, first_name: 'Ada' },
    })
    assert.equal(registered.statusCode, 201, registered.body)

    const { context, page, problems } = await openPage(browser, baseUrl)
    const authenticator = await virtualAuthenticator(page)
    await page.goto('/sign-in')
    await page.getByLabel('E-mail address').fill(email)
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL(atPath('/account'))
    const section = page.locator('[data-section="passkeys"]')
    await section.getByText('You have no passkey yet.').waitFor()

    await page.getByLabel('Name of the new passkey').fill('Test laptop')
    await page.getByRole('button', { name: 'Add a passkey' }).click()
    await page.getByRole('status').filter({ hasText: 'Your passkey “Test laptop” has been added.' }).waitFor()
    assert.equal(await text(section.locator('.fu-passkey-name')), 'Test laptop')
    assert.equal((await authenticator.credentials()).length, 1)
    assert.equal((await authenticator.credentials())[0]?.isResidentCredential, true)
    await screenshot(page, 'account-passkeys')
    const added = await smtp.waitForMail(
      (m) => m.to.includes(email) && m.subject === 'A passkey was added to your account',
    )
    assert.match(added.text, /A passkey named "Test laptop" has just been added to your account/)
    assert.match(added.text, new RegExp(`${baseUrl}/account`))

    await page.getByRole('button', { name: 'Rename the passkey “Test laptop”' }).click()
    await page.getByLabel('New name of the passkey “Test laptop”').fill('Work laptop')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('status').filter({ hasText: 'Your passkey is now called “Work laptop”.' }).waitFor()
    assert.equal(await text(section.locator('.fu-passkey-name')), 'Work laptop')

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/sign-in?notice=signed-out')
    assert.equal(await page.evaluate(() => sessionStorage.length), 0)
    await screenshot(page, 'sign-in-passkey')
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await page.waitForURL(atPath('/account'))
    assert.equal(await text(page.locator('[data-field="email"]')), email)
    assert.notEqual(await text(section.locator('.fu-hint.fu-passkey-meta')), '')
    assert.match(await text(section.locator('.fu-passkey-meta')), /last used/)

    await page.getByRole('button', { name: 'Delete the passkey “Work laptop”' }).click()
    await page.getByRole('status').filter({ hasText: 'Your passkey “Work laptop” has been deleted.' }).waitFor()
    await section.getByText('You have no passkey yet.').waitFor()
    const removed = await smtp.waitForMail(
      (m) => m.to.includes(email) && m.subject === 'A passkey was removed from your account',
    )
    assert.match(removed.text, /"Work laptop"/)

    // the authenticator still holds the credential; the service no longer knows it
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/sign-in?notice=signed-out')
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await page
      .getByRole('alert')
      .filter({ hasText: 'This passkey was not accepted. It may have been deleted from your account.' })
      .waitFor()
    assert.equal(new URL(page.url()).pathname, '/sign-in')
    assert.deepEqual(problems, [])
    await context.close()
  })

  test('a passkey as the second factor: deleting one asks for a passkey first; a password sign-in then asks for it', async () => {
    const email = uniqueEmail('passkey-2fa')
    const registered = await service.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email, password: PASSWORD, first_name: 'Ada' },
    })
    assert.equal(registered.statusCode, 201, registered.body)
    const { context, page, problems } = await openPage(browser, baseUrl)
    const authenticator = await virtualAuthenticator(page)
    const signInWithPassword = async () => {
      await page.goto('/sign-in')
      await page.getByLabel('E-mail address').fill(email)
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    }
    await signInWithPassword()
    await page.waitForURL(atPath('/account'))
    const section = page.locator('[data-section="passkeys"]')
    const add = async (name: string) => {
      await page.getByLabel('Name of the new passkey').fill(name)
      await page.getByRole('button', { name: 'Add a passkey' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: `Your passkey “${name}” has been added.` })
        .waitFor()
    }
    await add('First')
    // this session signed in before the passkey (a second factor) existed: not recent; the passkey confirms it
    await page.getByRole('button', { name: 'Delete the passkey “First”' }).click()
    await page.getByRole('status').filter({ hasText: 'Your passkey “First” has been deleted.' }).waitFor()
    await section.getByText('You have no passkey yet.').waitFor()
    await add('Second')
    assert.equal(await text(section.locator('.fu-passkey-name')), 'Second')

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/sign-in?notice=signed-out')
    await signInWithPassword()
    const step = page.locator('[data-slot="two-factor"]')
    await step.waitFor()
    // a passkey is the only factor: no code to type
    assert.equal(await page.locator('[data-form="two-factor"]').isHidden(), true)
    await screenshot(page, 'sign-in-passkey-second-factor')
    await step.getByRole('button', { name: 'Use a passkey' }).click()
    await page.waitForURL(atPath('/account'))
    assert.equal(await text(page.locator('[data-field="email"]')), email)
    assert.match(await text(section.locator('.fu-passkey-meta')), /last used/)
    assert.ok((await authenticator.credentials()).length >= 1)
    assert.deepEqual(problems, [])
    await context.close()
  })
})

describe('the pages’ passkey parts follow PASSKEYS', () => {
  test('off by default: no script, no button, no section; on: all three, the script served as pages.js is', async () => {
    for (const on of [false, true]) {
      const service = (await startTestApp(
        'sqlite',
        on ? { PASSKEYS: 'true', PUBLIC_URL: 'http://localhost:8000' } : {},
      )) as TestApp
      try {
        const page = async (url: string) => (await service.app.inject({ method: 'GET', url })).body
        const signIn = await page('/sign-in')
        const account = await page('/account')
        const script = /<script src="(\/_pages\/passkeys\.js\?v=[^"]+)" defer><\/script>/.exec(signIn)
        assert.equal(!!script, on)
        assert.equal(signIn.includes('data-action="passkey-sign-in"'), on)
        assert.equal(account.includes('data-section="passkeys"'), on)
        assert.equal(account.includes('passkeys.js'), on)
        assert.doesNotMatch(signIn, /<script>(?!<)/) // no inline script
        if (!script?.[1]) continue
        const asset = await service.app.inject({ method: 'GET', url: script[1] })
        assert.equal(asset.statusCode, 200)
        assert.equal(asset.headers['content-type'], 'text/javascript; charset=utf-8')
        assert.match(asset.body, /navigator\.credentials\.get/)
      } finally {
        await service.close()
      }
    }
  })
})
