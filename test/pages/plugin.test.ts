import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import Fastify from 'fastify'
import { PAGES_CSP } from '../../src/pages/index.js'
import { mergeStrings } from '../../src/pages/strings.js'
import { hostedPages, pageStrings, redactTokenQuery } from '../../src/pages.js'
import { startTestApp, type TestApp } from '../support/app.js'
import { freePort } from '../support/ports.js'

const PAGES = ['/sign-in', '/sign-up', '/forgot-password', '/reset-password', '/verify', '/account']

describe('hosted pages in the reference service', () => {
  let test_: TestApp
  before(async () => {
    test_ = (await startTestApp('sqlite')) as TestApp
  })
  after(() => test_.close())

  test('every page is HTML with a strict CSP, no referrer, no framing, no caching', async () => {
    for (const url of PAGES) {
      const res = await test_.app.inject({ method: 'GET', url: `${url}?token=abc` })
      assert.equal(res.statusCode, 200, url)
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8')
      assert.equal(
        res.headers['content-security-policy'],
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
      )
      assert.equal(res.headers['referrer-policy'], 'no-referrer')
      assert.equal(res.headers['x-content-type-options'], 'nosniff')
      assert.equal(res.headers['x-frame-options'], 'DENY')
      assert.equal(res.headers['cache-control'], 'no-store')
      assert.match(res.body, /^<!doctype html>\n<html lang="en">/)
      // No inline script: only our file and a JSON data block, which CSP does not run.
      const scripts = res.body.match(/<script[^>]*>/g) ?? []
      assert.deepEqual(
        scripts.map((s) => s.replace(/\?v=[\w-]+/, '')),
        ['<script type="application/json" id="fu-config">', '<script src="/_pages/pages.js" defer>'],
      )
      assert.ok(!/\s(style|on\w+)="/.test(res.body), `${url}: no inline style or event handler`)
      assert.ok(!res.body.includes('abc'), `${url}: the token is never written into the page`)
    }
  })

  test('every input has a label, and every error region is announced', async () => {
    for (const url of PAGES) {
      const { body } = await test_.app.inject({ method: 'GET', url })
      for (const [, id] of body.matchAll(/<input id="([^"]+)"/g)) {
        assert.match(body, new RegExp(`<label for="${id}">`), `${url}: #${id} has a label`)
        assert.match(body, new RegExp(`id="${id}-error"`), `${url}: #${id} has an error holder`)
      }
      assert.match(body, /id="fu-error" role="alert"/)
      assert.match(body, /id="fu-status" role="status"/)
    }
  })

  test('the sign-up form asks for the service’s own field and shows its password rules with reasons', async () => {
    const { body } = await test_.app.inject({ method: 'GET', url: '/sign-up' })
    assert.match(body, /<label for="field-first_name">First name<\/label>/)
    assert.match(body, /name="first_name" type="text" autocomplete="given-name" required/)
    assert.match(body, /data-rule="minLength" data-value="8"><span class="fu-rule-text">at least 8 characters long/)
    assert.match(body, /data-rule="notContainingEmail">.*it is the first thing an attacker would try\./)
  })

  test('sign-in shows a notice from the known list only', async () => {
    const reset = await test_.app.inject({ method: 'GET', url: '/sign-in?notice=password-reset' })
    assert.match(reset.body, /Your password has been changed\. Sign in with your new password\./)
    const other = await test_.app.inject({ method: 'GET', url: '/sign-in?notice=%3Cscript%3E' })
    assert.doesNotMatch(other.body, /fu-notice--static|%3Cscript|<script>/)
  })

  test('the stylesheet and script are served with an ETag and answer 304 when unchanged', async () => {
    for (const [name, type] of [
      ['pages.css', 'text/css; charset=utf-8'],
      ['pages.js', 'text/javascript; charset=utf-8'],
    ]) {
      const res = await test_.app.inject({ method: 'GET', url: `/_pages/${name}` })
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['content-type'], type)
      assert.equal(res.headers['x-content-type-options'], 'nosniff')
      const etag = String(res.headers.etag)
      const again = await test_.app.inject({
        method: 'GET',
        url: `/_pages/${name}`,
        headers: { 'if-none-match': etag },
      })
      assert.equal(again.statusCode, 304)
    }
    const missing = await test_.app.inject({ method: 'GET', url: '/_pages/other.js' })
    assert.equal(missing.statusCode, 404)
  })

  test('GET / leads to the account page (the welcome mail links to /), and pages stay out of the OpenAPI document', async () => {
    const root = await test_.app.inject({ method: 'GET', url: '/' })
    assert.equal(root.statusCode, 302)
    assert.equal(root.headers.location, '/account')
    const openapi = (await test_.app.inject({ method: 'GET', url: '/openapi.json' })).json()
    for (const url of [...PAGES, '/', '/_pages/{name}']) assert.equal(openapi.paths[url], undefined, url)
  })

  test('PAGES=false leaves the service without them', async () => {
    const bare = (await startTestApp('sqlite', { PAGES: 'false' })) as TestApp
    try {
      for (const url of [...PAGES, '/', '/_pages/pages.js']) {
        const res = await bare.app.inject({ method: 'GET', url })
        assert.equal(res.statusCode, 404, url)
        assert.deepEqual(res.json(), { detail: 'Not Found' })
      }
    } finally {
      await bare.close()
    }
  })
})

describe('hostedPages in an app of your own', () => {
  test('under a prefix, with your routes, translated texts and theme; every value is escaped', async () => {
    const app = Fastify()
    await app.register(hostedPages, {
      prefix: '/accounts',
      appName: 'Acme <script>alert(1)</script>',
      api: { login: '/api/login' },
      stylesheets: ['/static/theme.css'],
      passwordRules: [{ kind: 'custom', text: 'no "quotes" <here>', reason: 'because & so' }],
      strings: {
        lang: 'fr',
        signIn: { title: 'Connexion' },
        errors: { NETWORK: '</script><script>alert(2)</script>' },
      },
    })
    const res = await app.inject({ method: 'GET', url: '/accounts/sign-in' })
    assert.equal(res.statusCode, 200)
    const body = res.body
    assert.match(body, /<html lang="fr">/)
    assert.match(body, /<title>Connexion · Acme &lt;script&gt;alert\(1\)&lt;\/script&gt;<\/title>/)
    assert.match(body, /<h1 id="fu-title" tabindex="-1">Connexion<\/h1>/)
    assert.match(body, /Forgot your password\?/, 'what is not translated stays English')
    assert.match(body, /<link rel="stylesheet" href="\/static\/theme.css">/)
    assert.match(body, /href="\/accounts\/_pages\/pages.css\?v=/)
    assert.match(body, /href="\/accounts\/forgot-password"/)
    assert.equal((body.match(/<script/g) ?? []).length, 2, 'the JSON block cannot be closed early')
    const config = JSON.parse(body.match(/<script type="application\/json" id="fu-config">(.*?)<\/script>/)?.[1] ?? '')
    assert.equal(config.api.login, '/api/login')
    assert.equal(config.api.me, '/users/me')
    assert.equal(config.paths.account, '/accounts/account')
    assert.equal(config.strings.errors.NETWORK, '</script><script>alert(2)</script>')

    const signUp = await app.inject({ method: 'GET', url: '/accounts/sign-up' })
    assert.match(
      signUp.body,
      /no &quot;quotes&quot; &lt;here&gt;<\/span> <span class="fu-rule-reason">— because &amp; so/,
    )
    assert.equal((await app.inject({ method: 'GET', url: '/accounts/_pages/pages.js' })).statusCode, 200)
    assert.equal((await app.inject({ method: 'GET', url: '/sign-in' })).statusCode, 404)
    await app.close()
  })

  test('strings: an override replaces only what it names', () => {
    const merged = mergeStrings(pageStrings, { errors: { NETWORK: 'Réseau' } })
    assert.equal(merged.errors.NETWORK, 'Réseau')
    assert.equal(merged.errors.LOGIN_BAD_CREDENTIALS, pageStrings.errors.LOGIN_BAD_CREDENTIALS)
    assert.equal(pageStrings.errors.NETWORK, 'We could not reach the server. Check your connection and try again.')
    assert.equal(PAGES_CSP.includes("script-src 'self'"), true)
  })

  test('every error code of our routes has words', () => {
    for (const code of [
      'LOGIN_BAD_CREDENTIALS',
      'LOGIN_USER_NOT_VERIFIED',
      'REGISTER_USER_ALREADY_EXISTS',
      'RESET_PASSWORD_BAD_TOKEN',
      'VERIFY_USER_BAD_TOKEN',
      'VERIFY_USER_ALREADY_VERIFIED',
      'UPDATE_USER_EMAIL_ALREADY_EXISTS',
      'SERVICE_UNAVAILABLE',
    ]) {
      assert.ok(pageStrings.errors[code], code)
    }
  })
})

test('redactTokenQuery: mail-link tokens never reach a request log', () => {
  assert.equal(redactTokenQuery('/verify?token=eyJ.a.b'), '/verify?token=[redacted]')
  assert.equal(redactTokenQuery('/reset-password?x=1&token=abc&y=2'), '/reset-password?x=1&token=[redacted]&y=2')
  assert.equal(redactTokenQuery('/a?access_token=abc'), '/a?access_token=[redacted]')
  assert.equal(redactTokenQuery('/sign-in?notice=signed-out'), '/sign-in?notice=signed-out')
  assert.equal(redactTokenQuery('/token=abc'), '/token=abc')
})

async function waitFor(url: string, child: ChildProcess): Promise<Response> {
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`)
    try {
      return await fetch(url, { redirect: 'manual' })
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`${url} never answered`)
}

test('npm start serves the pages, and its request log never shows the token of a mail link', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-users-pages-'))
  const port = await freePort()
  const child = spawn('node', ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'pages.sqlite')}`, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  try {
    const root = await waitFor(`http://127.0.0.1:${port}/`, child)
    assert.equal(root.status, 302)
    const secret = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl'
    for (const path of ['/verify', '/reset-password']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}?token=${secret}`)
      assert.equal(res.status, 200)
      await res.text()
    }
    child.kill('SIGTERM')
    await once(child, 'exit')
    assert.match(output, /"url":"\/verify\?token=\[redacted\]"/)
    assert.doesNotMatch(output, /c2VjcmV0LXRva2Vu/)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})
