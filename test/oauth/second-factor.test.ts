/**
 * The login pipeline after social login: a user with a second factor who signs in with GitHub is
 * asked for it (400 LOGIN_2FA_REQUIRED, then /auth/jwt/login/2fa), unless TWO_FACTOR_AFTER_OAUTH=false.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { base32Decode, totp } from '../../src/index.js'
import { client, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { Browser, type FakeGitHub, freePort, startFakeGitHub, startListeningApp } from '../support/oauth.js'

const GITHUB_CLIENT = { id: 'Iv1.test-client', secret: 'github-client-secret-0123456789' }
let counter = 0

function suite(kind: Parameters<typeof startListeningApp>[0], afterOAuth: boolean) {
  describe(`social login and a second factor (${kind}, TWO_FACTOR_AFTER_OAUTH=${afterOAuth})`, () => {
    let github: FakeGitHub
    let started: (TestApp & { url: string }) | null = null
    let base = ''
    before(async () => {
      github = await startFakeGitHub(GITHUB_CLIENT)
      const port = await freePort()
      base = `http://127.0.0.1:${port}`
      started = await startListeningApp(kind, port, {
        OAUTH_GITHUB_CLIENT_ID: GITHUB_CLIENT.id,
        OAUTH_GITHUB_CLIENT_SECRET: GITHUB_CLIENT.secret,
        OAUTH_GITHUB_BASE_URL: github.url,
        OAUTH_GITHUB_API_URL: github.url,
        OAUTH_IS_VERIFIED_BY_DEFAULT: 'true',
        TWO_FACTOR_AFTER_OAUTH: String(afterOAuth),
      })
    })
    after(async () => {
      await started?.close()
      await github?.close()
    })

    /** A GitHub sign-in of `login`, through the callback: its status and body. */
    async function signIn(login: string): Promise<[number, any]> {
      const browser = new Browser()
      const res = await browser.fetch(`${base}/auth/github/authorize`)
      const { authorization_url } = (await res.json()) as { authorization_url: string }
      browser.setCookie(github.url, 'login_as', login)
      const approved = await browser.fetch(authorization_url)
      const callback = await browser.fetch(approved.headers.get('location') ?? '')
      return [callback.status, await callback.json()]
    }

    test('a user with TOTP signing in with GitHub', async (t: TestContext) => {
      if (!started) return t.skip(`${kind} is not reachable locally`)
      const n = ++counter
      const login = `octo-2fa-${kind}-${afterOAuth}-${n}`
      github.users.set(login, {
        id: 5000 + n,
        login,
        email: null,
        emails: [{ email: `${login}@users.example.com`, primary: true, verified: true }],
      })
      const api = client(started.app)
      const [status, first] = await signIn(login)
      assert.equal(status, 200, JSON.stringify(first))
      const token = first.access_token as string
      const { secret } = (await api.post('/auth/2fa/totp/setup', undefined, token)).json()
      const enabled = await api.post('/auth/2fa/totp/enable', { code: totp(base32Decode(secret), Date.now()) }, token)
      assert.equal(enabled.statusCode, 200, enabled.body)
      const [code] = enabled.json().recovery_codes as string[]

      const [again, body] = await signIn(login)
      if (!afterOAuth) {
        assert.equal(again, 200, 'the provider’s sign-in alone')
        assert.ok(body.access_token)
        return
      }
      assert.equal(again, 400)
      assert.equal(body.detail.code, 'LOGIN_2FA_REQUIRED')
      assert.deepEqual(body.detail.methods, ['totp', 'recovery_code'])
      const ok = await api.post('/auth/jwt/login/2fa', { ticket: body.detail.ticket, code })
      assert.equal(ok.statusCode, 200, ok.body)
      assert.equal((await api.get('/users/me', ok.json().access_token)).json().email, `${login}@users.example.com`)
    })
  })
}

for (const kind of databaseKinds()) suite(kind, true)
suite('sqlite', false)
