/**
 * Social login with GitHub (OAuth 2.0, no OpenID Connect), against a small local server that
 * answers GitHub's endpoints: authorize, access_token (client, redirect_uri and PKCE checked),
 * /user and /user/emails.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, type TestContext, test } from 'node:test'
import { sql } from 'kysely'
import { openDatabase } from '../../src/stores/kysely/database.js'
import { client, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { Browser, type FakeGitHub, freePort, startFakeGitHub, startListeningApp } from '../support/oauth.js'

const GITHUB_CLIENT = { id: 'Iv1.test-client', secret: 'github-client-secret-0123456789' }
const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }

let counter = 0

for (const kind of databaseKinds()) {
  describe(`social login with GitHub (${kind})`, () => {
    let github: FakeGitHub
    let started: (TestApp & { url: string }) | null = null
    let base = ''

    before(async () => {
      github = await startFakeGitHub(GITHUB_CLIENT)
      const port = await freePort()
      base = `http://127.0.0.1:${port}`
      started = await startListeningApp(kind, port, {
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
        OAUTH_GITHUB_CLIENT_ID: GITHUB_CLIENT.id,
        OAUTH_GITHUB_CLIENT_SECRET: GITHUB_CLIENT.secret,
        OAUTH_GITHUB_BASE_URL: github.url,
        OAUTH_GITHUB_API_URL: github.url,
        OAUTH_ASSOCIATE_BY_EMAIL: 'true',
        OAUTH_IS_VERIFIED_BY_DEFAULT: 'true',
      })
    })
    after(async () => {
      await started?.close()
      await github?.close()
    })

    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body()
      })

    const githubUser = (verified: boolean) => {
      const n = ++counter
      const login = `octo-${kind}-${n}`
      const email = `${login}@users.example.com`
      github.users.set(login, {
        id: 1000 + n,
        login,
        email: null,
        emails: [
          { email: `${login}-old@example.com`, primary: false, verified: true },
          { email, primary: true, verified },
        ],
      })
      return { login, email, id: String(1000 + n) }
    }

    /** authorize → GitHub approves at once for `login` → the callback URL. */
    async function flow(login: string) {
      const browser = new Browser()
      const res = await browser.fetch(`${base}/auth/github/authorize`)
      assert.equal(res.status, 200)
      const { authorization_url } = (await res.json()) as { authorization_url: string }
      browser.setCookie(github.url, 'login_as', login)
      const approved = await browser.fetch(authorization_url)
      assert.equal(approved.status, 302)
      const callback = approved.headers.get('location') ?? ''
      assert.ok(callback.startsWith(`${base}/auth/github/callback?`), callback)
      return { browser, callback, authorizationUrl: new URL(authorization_url) }
    }

    async function get(browser: Browser, url: string): Promise<[number, unknown]> {
      const res = await browser.fetch(url)
      const text = await res.text()
      return [res.status, text === '' ? '' : JSON.parse(text)]
    }

    const me = async (token: string) => {
      const res = await client((started as TestApp).app).get('/users/me', token)
      assert.equal(res.statusCode, 200, res.body)
      return res.json() as { id: string; email: string; is_verified: boolean }
    }

    /** A password account with that address, verified by the superuser. */
    async function verifiedLocalUser(email: string) {
      const api = client((started as TestApp).app)
      const registered = await api.register(email, 'correct-horse-battery')
      assert.equal(registered.statusCode, 201)
      const admin = await api.token(ADMIN.email, ADMIN.password)
      const verified = await api.patch(`/users/${registered.json().id}`, { is_verified: true }, admin)
      assert.equal(verified.statusCode, 200)
      return registered
    }

    it('a new user: keyed by the numeric id, primary e-mail, PKCE checked by GitHub', async () => {
      const octo = githubUser(true)
      const { browser, callback, authorizationUrl } = await flow(octo.login)
      assert.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256')
      assert.equal(authorizationUrl.searchParams.get('scope'), 'user:email')
      const [status, body] = (await get(browser, callback)) as [number, { access_token: string }]
      assert.equal(status, 200, JSON.stringify(body))
      const user = await me(body.access_token)
      assert.equal(user.email, octo.email)
      assert.equal(user.is_verified, true)
      const db = openDatabase((started as TestApp).database.url)
      try {
        const { rows } = await sql<{
          account_id: string
          oauth_name: string
        }>`select account_id, oauth_name from oauth_account where user_id = ${user.id}`.execute(db.db)
        assert.deepEqual(
          rows.map((r) => [r.oauth_name, r.account_id]),
          [['github', octo.id]],
        )
      } finally {
        await db.close()
      }
      // Returning: the same user.
      const again = await flow(octo.login)
      const [status2, body2] = (await get(again.browser, again.callback)) as [number, { access_token: string }]
      assert.equal(status2, 200)
      assert.equal((await me(body2.access_token)).id, user.id)
    })

    it('a provider value no database can store (NUL, an unpaired surrogate, over its column) is 400 OAUTH_PROVIDER_ERROR, never a 500', async () => {
      for (const id of ['sub\u0000x', 'sub\ud800x', 's'.repeat(321)]) {
        const octo = githubUser(true)
        ;(github.users.get(octo.login) as { id: number | string }).id = id
        const { browser, callback } = await flow(octo.login)
        assert.deepEqual(await get(browser, callback), [400, { detail: 'OAUTH_PROVIDER_ERROR' }], JSON.stringify(id))
      }
      const octo = githubUser(true)
      github.accessTokenLength = 1025
      try {
        const { browser, callback } = await flow(octo.login)
        assert.deepEqual(await get(browser, callback), [400, { detail: 'OAUTH_PROVIDER_ERROR' }])
      } finally {
        github.accessTokenLength = 0
      }
      // at the column's size it is stored
      const fits = githubUser(true)
      github.accessTokenLength = 1024
      try {
        const { browser, callback } = await flow(fits.login)
        assert.equal((await get(browser, callback))[0], 200)
      } finally {
        github.accessTokenLength = 0
      }
    })

    it('a code exchanged with the wrong PKCE verifier is refused by GitHub: 400, never a 500', async () => {
      const octo = githubUser(true)
      const { callback } = await flow(octo.login)
      // Another browser's flow for the same user: its cookie (hence its verifier) does not match this state.
      const other = await flow(octo.login)
      const refusedBefore = github.refused.length
      const url = new URL(callback)
      url.searchParams.set('state', new URL(other.callback).searchParams.get('state') ?? '')
      assert.deepEqual(await get(other.browser, url.toString()), [400, { detail: 'OAUTH_PROVIDER_ERROR' }])
      assert.deepEqual(github.refused.slice(refusedBefore), ['bad code_verifier'])
    })

    it('a redirect from the provider API is never followed (no request reaches an internal address)', async () => {
      const internal: string[] = []
      const inside = createServer((req, res) => {
        internal.push(req.url ?? '')
        res.end('{}')
      })
      await new Promise<void>((resolve) => inside.listen(0, '127.0.0.1', resolve))
      try {
        const octo = githubUser(true)
        const { browser, callback } = await flow(octo.login)
        github.redirectApiTo = `http://127.0.0.1:${(inside.address() as AddressInfo).port}/internal-admin`
        const [status, body] = await get(browser, callback)
        assert.deepEqual([status, body], [503, { detail: 'SERVICE_UNAVAILABLE' }])
        assert.deepEqual(internal, [])
      } finally {
        github.redirectApiTo = undefined
        await new Promise<void>((resolve) => inside.close(() => resolve()))
      }
    })

    it('association by e-mail follows the one identity: a look-alike of a verified address is another account, a case variant the same', async () => {
      const victim = githubUser(true)
      const registered = await verifiedLocalUser(victim.email)
      const [local, domain = ''] = victim.email.split('@')
      const lookAlikes = [
        `${local?.replace('o', 'ò')}@${domain}`, // an accent: utf8mb4_general_ci once matched it
        `${local}@${domain.replace('example', 'exämple')}`, // an IDN domain anyone can register
        `${local}@${domain.replace('example', 'xn--exmple-cua')}`, // the same, in punycode
      ]
      for (const address of lookAlikes) {
        const attacker = githubUser(true)
        const entry = github.users.get(attacker.login) as { emails: { email: string }[] }
        ;(entry.emails[1] as { email: string }).email = address
        const { browser, callback } = await flow(attacker.login)
        const [status, body] = (await get(browser, callback)) as [number, { access_token: string }]
        assert.equal(status, 200, `${address}: ${JSON.stringify(body)}`)
        assert.notEqual((await me(body.access_token)).id, registered.json().id, address)
      }
      // The owner's own provider account, its address in other letter case: the same identity, linked.
      const owner = githubUser(true)
      const entry = github.users.get(owner.login) as { emails: { email: string }[] }
      ;(entry.emails[1] as { email: string }).email = victim.email.toUpperCase()
      const { browser, callback } = await flow(owner.login)
      const [status, body] = (await get(browser, callback)) as [number, { access_token: string }]
      assert.equal(status, 200, JSON.stringify(body))
      assert.equal((await me(body.access_token)).id, registered.json().id)
    })

    it('an unverified primary e-mail never links to an existing account', async () => {
      const octo = githubUser(false)
      await verifiedLocalUser(octo.email)
      const { browser, callback } = await flow(octo.login)
      assert.deepEqual(await get(browser, callback), [400, { detail: 'OAUTH_USER_ALREADY_EXISTS' }])
    })
  })
}
