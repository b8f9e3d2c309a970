/**
 * What the browser tests share: the reference service listening on a loopback port (SQLite,
 * a real SMTP server, PUBLIC_URL pointing at it), Debian's Chromium driven by playwright-core,
 * screenshots in test-artifacts/pages/, and checks that a page stays on its own origin.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core'
import { startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { freePort } from '../support/ports.js'
import { type ReceivedMail, startSmtpServer } from '../support/smtp.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'pages')
export const PHONE = { width: 390, height: 844 }

/**
 * The `skip` option of a browser suite: skipped with a reason on a developer's machine without
 * Chromium; never under CI=true, where the missing browser fails the suite in `launchBrowser`.
 */
export function skipWithoutChromium(): string | false {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return false
  const reason = `${CHROMIUM} is missing (apt-get install -y chromium): browser tests skipped`
  console.warn(`# ${reason}`)
  return reason
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is required under CI=true (apt-get install -y chromium)`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

export interface PagesService {
  baseUrl: string
  smtp: Awaited<ReturnType<typeof startSmtpServer>>
  test: TestApp
  close(): Promise<void>
}

/** The reference service as `npm start` runs it, on SQLite, listening on 127.0.0.1 with its mails going to a local SMTP server. */
export async function startPagesService(
  env: Record<string, string> = {},
  options: { clock?: () => Date } = {},
): Promise<PagesService> {
  const smtp = await startSmtpServer()
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const test = await startTestApp('sqlite', { SMTP_URL: smtp.url, PUBLIC_URL: baseUrl, ...env }, options)
  assert.ok(test, 'SQLite is always available')
  await test.app.listen({ host: '127.0.0.1', port })
  return {
    baseUrl,
    smtp,
    test,
    async close() {
      await test.close()
      await smtp.close()
    },
  }
}

/**
 * A fresh browser context whose page records what a person should never see: requests to any
 * other origin, CSP violations, script errors.
 */
export async function openPage(
  browser: Browser,
  baseUrl: string,
  viewport = { width: 1024, height: 800 },
  /** The browser's language (its Accept-Language and navigator.language), e.g. `de-DE`. Default Chromium's. */
  locale?: string,
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport, baseURL: baseUrl, ...(locale && { locale }) })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('request', (request) => {
    if (!request.url().startsWith(`${baseUrl}/`)) problems.push(`request to another origin: ${request.url()}`)
  })
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) {
      problems.push(`console error: ${message.text()}`)
    }
  })
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`))
  return { context, page, problems }
}

/** An element's text, as the DOM has it. */
/** The element's text once the page has filled it in (pages fill slots after their fetches answer). */
export async function text(locator: Locator, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const content = ((await locator.textContent()) ?? '').trim()
    if (content !== '' || Date.now() > deadline) return content
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })
}

/** The link in a mail's plain text that starts with `prefix`. */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const link = mail.text.split(/\s+/).find((word) => word.startsWith(prefix))
  assert.ok(link, `no link to ${prefix} in: ${mail.text}`)
  return link
}

/**
 * A `waitForURL` matcher for a page's path, the query aside. Not a glob such as `'**' + '/account'`:
 * Playwright compiles that to `^(.*\/)account$`, which `/sign-in?next=/account` already matches, so the
 * wait ended at once, before the sign-in had happened.
 */
export function atPath(path: string): (url: URL) => boolean {
  return (url) => url.pathname === path
}

/** Signs in on /sign-in (the e-mail and password form) and lands on /account. */
export async function signInToAccount(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/sign-in?next=/account')
  await page.getByLabel('E-mail address').fill(email)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(atPath('/account'))
}

let counter = 0
/** A new address for each test, so tests on one service never meet. */
export function uniqueEmail(name: string): string {
  counter += 1
  return `${name}-${process.pid}-${counter}@example.com`
}

/** A token as the manager signs it (the test SECRET, its audience), but already expired. */
export async function expiredToken(claims: Record<string, unknown>, audience: string): Promise<string> {
  return new SignJWT({ ...claims, aud: audience })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(new TextEncoder().encode(TEST_SECRET))
}
