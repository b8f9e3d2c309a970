/**
 * Social login against a real OpenID provider (oidc-provider) on loopback: the reference
 * service's /auth/test and /auth/associate/test, driven over HTTP like a browser, on every database.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { decodeJwt, SignJWT } from 'jose'
import { sql } from 'kysely'
import { openDatabase } from '../../src/stores/kysely/database.js'
import { client, TEST_SECRET, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import {
  Browser,
  freePort,
  OIDC_CLIENT,
  type OidcProvider,
  startListeningApp,
  startOidcProvider,
  type TestAccount,
} from '../support/oauth.js'

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const PASSWORD = 'correct-horse-battery'
const INVALID_STATE = [400, { detail: 'OAUTH_INVALID_STATE' }]

let counter = 0
const unique = (tag: string) => `${tag}-${++counter}`

for (const kind of databaseKinds()) {
  describe(`social login with OpenID Connect (${kind})`, () => {
    let provider: OidcProvider
    let started: (TestApp & { url: string }) | null = null
    let base = ''

    before(async () => {
      const port = await freePort()
      base = `http://127.0.0.1:${port}`
      provider = await startOidcProvider([`${base}/auth/test/callback`, `${base}/auth/associate/test/callback`])
      started = await startListeningApp(kind, port, {
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
        OAUTH_TEST_CLIENT_ID: OIDC_CLIENT.id,
        OAUTH_TEST_CLIENT_SECRET: OIDC_CLIENT.secret,
        OAUTH_TEST_ISSUER: provider.issuer,
        OAUTH_ASSOCIATE_BY_EMAIL: 'true',
        OAUTH_IS_VERIFIED_BY_DEFAULT: 'true',
      })
    })
    after(async () => {
      await started?.close()
      await provider?.close()
    })

    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body()
      })

    const api = () => client((started as TestApp).app)

    /** A provider account; its login name is its subject. */
    const account = (tag: string, claims: TestAccount = {}) => {
      const sub = unique(tag)
      provider.accounts.set(sub, { email: `${sub}@example.com`, email_verified: true, ...claims })
      return { sub, email: (claims.email ?? `${sub}@example.com`) as string }
    }

    const bearer = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {})

    /** /authorize, then the provider's login and consent: the callback URL the browser is sent to. */
    async function authorize(browser: Browser, login: string, options: { prefix?: string; token?: string } = {}) {
      const prefix = options.prefix ?? '/auth/test'
      const res = await browser.fetch(`${base}${prefix}/authorize`, { headers: bearer(options.token) })
      assert.equal(res.status, 200, await res.clone().text())
      const { authorization_url } = (await res.json()) as { authorization_url: string }
      const callback = await browser.authorizeAt(authorization_url, login, `${base}${prefix}/callback`)
      return { authorizationUrl: new URL(authorization_url), callback, setCookie: res.headers.getSetCookie() }
    }

    async function get(browser: Browser, url: string, token?: string): Promise<[number, unknown]> {
      const res = await browser.fetch(url, { headers: bearer(token) })
      const text = await res.text()
      return [res.status, text === '' ? '' : JSON.parse(text)]
    }

    /** The whole flow in a fresh browser: [status, body]. */
    async function signIn(login: string) {
      const browser = new Browser()
      const { callback } = await authorize(browser, login)
      return get(browser, callback)
    }

    const me = async (token: string) => {
      const res = await api().get('/users/me', token)
      assert.equal(res.statusCode, 200, res.body)
      return res.json() as { id: string; email: string; is_verified: boolean; is_active: boolean }
    }

    async function accountsOf(userId: string) {
      const db = openDatabase((started as TestApp).database.url)
      try {
        const rows = await sql<Record<string, unknown>>`select * from oauth_account where user_id = ${userId}`.execute(
          db.db,
        )
        return rows.rows
      } finally {
        await db.close()
      }
    }

    async function localUser(email: string, verified: boolean) {
      const res = await api().register(email, PASSWORD)
      assert.equal(res.statusCode, 201, res.body)
      const user = res.json() as { id: string }
      if (verified) {
        const admin = await api().token(ADMIN.email, ADMIN.password)
        const patched = await api().patch(`/users/${user.id}`, { is_verified: true }, admin)
        assert.equal(patched.statusCode, 200, patched.body)
      }
      return user
    }

    it('the authorization request: our state, PKCE S256, a nonce and the bound CSRF cookie', async () => {
      const browser = new Browser()
      const res = await browser.fetch(`${base}/auth/test/authorize?scopes=profile&scopes=email`)
      assert.equal(res.status, 200)
      const url = new URL(((await res.json()) as { authorization_url: string }).authorization_url)
      assert.equal(url.origin, provider.issuer)
      const q = url.searchParams
      assert.equal(q.get('client_id'), OIDC_CLIENT.id)
      assert.equal(q.get('redirect_uri'), `${base}/auth/test/callback`)
      assert.equal(q.get('response_type'), 'code')
      assert.equal(q.get('code_challenge_method'), 'S256')
      assert.match(q.get('code_challenge') ?? '', /^[\w-]{43}$/)
      assert.match(q.get('nonce') ?? '', /^[\w-]{43}$/)
      assert.deepEqual((q.get('scope') ?? '').split(' ').sort(), ['email', 'openid', 'profile'])
      const state = decodeJwt(q.get('state') ?? '')
      assert.equal(state.aud, 'fastapi-users:oauth-state')
      assert.ok((state.exp ?? 0) - Date.now() / 1000 <= 600)
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('fastapiusersoauthcsrf='))
      assert.ok(cookie)
      assert.match(cookie, /HttpOnly/i)
      assert.match(cookie, /SameSite=Lax/i)
      assert.match(cookie, /Path=\/auth\/test/)
      assert.ok(!JSON.stringify(state).includes(browser.cookie(base, 'fastapiusersoauthcsrf') as string))
    })

    it('callers cannot override state, redirect_uri, code_challenge or nonce', async () => {
      const browser = new Browser()
      const res = await browser.fetch(
        `${base}/auth/test/authorize?state=evil&redirect_uri=https://evil.example/cb&code_challenge=x&nonce=n`,
      )
      assert.equal(res.status, 200)
      const q = new URL(((await res.json()) as { authorization_url: string }).authorization_url).searchParams
      assert.notEqual(q.get('state'), 'evil')
      assert.equal(q.get('redirect_uri'), `${base}/auth/test/callback`)
      assert.notEqual(q.get('code_challenge'), 'x')
      assert.notEqual(q.get('nonce'), 'n')
      const bad = await browser.fetch(`${base}/auth/test/authorize?scopes=${encodeURIComponent('a b')}`)
      assert.equal(bad.status, 422)
    })

    it('a new user: created verified, logged in, the account linked by its subject', async () => {
      const alice = account('alice')
      const browser = new Browser()
      const { callback } = await authorize(browser, alice.sub)
      const res = await browser.fetch(callback)
      assert.equal(res.status, 200)
      const body = (await res.json()) as { access_token: string; token_type: string; refresh_token?: string }
      assert.equal(body.token_type, 'bearer')
      assert.ok(body.refresh_token)
      assert.equal(browser.cookie(base, 'fastapiusersoauthcsrf'), undefined, 'the CSRF cookie is cleared')
      const user = await me(body.access_token)
      assert.equal(user.email, alice.email)
      assert.equal(user.is_verified, true)
      assert.deepEqual(Object.keys(user).sort(), [
        'email',
        'first_name',
        'id',
        'is_active',
        'is_superuser',
        'is_verified',
      ])
      const rows = await accountsOf(user.id)
      assert.equal(rows.length, 1)
      assert.equal(rows[0]?.oauth_name, 'test')
      assert.equal(rows[0]?.account_id, alice.sub)
      assert.equal(rows[0]?.account_email, alice.email)
      assert.equal(Number(rows[0]?.email_verified), 1, 'the provider vouched for the address')
      assert.ok(String(rows[0]?.access_token).length > 0)
      // The random password nobody knows does not log in with anything guessable.
      assert.equal((await api().login(alice.email, '')).statusCode, 422)
    })

    it('a returning user: the same user, its tokens updated, no second account', async () => {
      const bob = account('bob')
      const [status1, first] = (await signIn(bob.sub)) as [number, { access_token: string }]
      assert.equal(status1, 200)
      const user = await me(first.access_token)
      const [before] = await accountsOf(user.id)
      // The provider's e-mail changes: the account is keyed by `sub`, not by e-mail.
      provider.accounts.set(bob.sub, { email: `${bob.sub}-new@example.com`, email_verified: true })
      const [status2, second] = (await signIn(bob.sub)) as [number, { access_token: string }]
      assert.equal(status2, 200)
      assert.equal((await me(second.access_token)).id, user.id)
      const rows = await accountsOf(user.id)
      assert.equal(rows.length, 1)
      assert.notEqual(rows[0]?.access_token, before?.access_token)
      assert.equal(rows[0]?.account_email, `${bob.sub}-new@example.com`)
    })

    it('links to a verified local user by a verified e-mail', async () => {
      const carol = account('carol')
      const local = await localUser(carol.email, true)
      const [status, body] = (await signIn(carol.sub)) as [number, { access_token: string }]
      assert.equal(status, 200, JSON.stringify(body))
      assert.equal((await me(body.access_token)).id, local.id)
      assert.equal((await accountsOf(local.id)).length, 1)
    })

    it('refuses to link by an e-mail the provider does not vouch for', async () => {
      const dave = account('dave', { email_verified: false })
      const local = await localUser(dave.email, true)
      assert.deepEqual(await signIn(dave.sub), [400, { detail: 'OAUTH_USER_ALREADY_EXISTS' }])
      assert.equal((await accountsOf(local.id)).length, 0)
    })

    it('refuses to link to a local user whose own e-mail is not verified', async () => {
      const erin = account('erin')
      const local = await localUser(erin.email, false)
      assert.deepEqual(await signIn(erin.sub), [400, { detail: 'OAUTH_USER_ALREADY_EXISTS' }])
      assert.equal((await accountsOf(local.id)).length, 0)
    })

    it('an address the provider does not vouch for: no user is created (400 OAUTH_NOT_AVAILABLE_EMAIL)', async () => {
      const fay = account('fay', { email_verified: false })
      assert.deepEqual(await signIn(fay.sub), [400, { detail: 'OAUTH_NOT_AVAILABLE_EMAIL' }])
      // Nothing was created: the address's owner registers it as usual.
      assert.equal((await api().register(fay.email, PASSWORD)).statusCode, 201)
    })

    it('no e-mail from the provider: 400 OAUTH_NOT_AVAILABLE_EMAIL', async () => {
      const sub = unique('noemail')
      provider.accounts.set(sub, {})
      assert.deepEqual(await signIn(sub), [400, { detail: 'OAUTH_NOT_AVAILABLE_EMAIL' }])
    })

    it('an inactive user: 400 LOGIN_BAD_CREDENTIALS', async () => {
      const gina = account('gina')
      const [, first] = (await signIn(gina.sub)) as [number, { access_token: string }]
      const user = await me(first.access_token)
      const admin = await api().token(ADMIN.email, ADMIN.password)
      assert.equal((await api().patch(`/users/${user.id}`, { is_active: false }, admin)).statusCode, 200)
      assert.deepEqual(await signIn(gina.sub), [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
    })

    describe('the state', () => {
      it('replayed: the second use is refused, even with the cookie', async () => {
        const hank = account('hank')
        const browser = new Browser()
        const { callback } = await authorize(browser, hank.sub)
        const cookie = browser.cookie(base, 'fastapiusersoauthcsrf')
        assert.equal((await get(browser, callback))[0], 200)
        browser.setCookie(base, 'fastapiusersoauthcsrf', cookie)
        assert.deepEqual(await get(browser, callback), INVALID_STATE)
      })

      it('forged: another secret, tampered, expired, for another provider, or missing', async () => {
        const ivy = account('ivy')
        const browser = new Browser()
        const { callback } = await authorize(browser, ivy.sub)
        const real = new URL(callback)
        const claims = decodeJwt(real.searchParams.get('state') ?? '')
        const sign = (payload: Record<string, unknown>, secret = TEST_SECRET) =>
          new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret))
        const now = Math.floor(Date.now() / 1000)
        const forged = [
          await sign(claims, 'another-secret-that-is-long-enough-000000'),
          `${real.searchParams.get('state')}x`,
          await sign({ ...claims, exp: now - 1 }),
          await sign({ ...claims, oauth_name: 'other' }),
          await sign({ ...claims, aud: 'fastapi-users:auth' }),
          'not-a-jwt',
        ]
        for (const state of forged) {
          const url = new URL(real)
          url.searchParams.set('state', state)
          assert.deepEqual(await get(browser, url.toString()), INVALID_STATE, state)
        }
        const none = new URL(real)
        none.searchParams.delete('state')
        assert.deepEqual(await get(browser, none.toString()), INVALID_STATE)
        // The genuine one still works once.
        assert.equal((await get(browser, callback))[0], 200)
      })

      it('CSRF cookie missing: refused', async () => {
        const jack = account('jack')
        const browser = new Browser()
        const { callback } = await authorize(browser, jack.sub)
        browser.setCookie(base, 'fastapiusersoauthcsrf', undefined)
        assert.deepEqual(await get(browser, callback), INVALID_STATE)
      })

      it("another browser's callback (login CSRF, CVE-2025-68481): the victim's cookie does not match", async () => {
        const attacker = account('mallory')
        const attackerBrowser = new Browser()
        const { callback } = await authorize(attackerBrowser, attacker.sub)
        const victim = new Browser()
        await victim.fetch(`${base}/auth/test/authorize`) // the victim has a cookie of its own flow
        assert.ok(victim.cookie(base, 'fastapiusersoauthcsrf'))
        assert.deepEqual(await get(victim, callback), INVALID_STATE)
      })

      it('an error from the provider: 400 OAUTH_PROVIDER_ERROR, never a 500', async () => {
        const browser = new Browser()
        const res = await browser.fetch(`${base}/auth/test/authorize`)
        const state = new URL(((await res.json()) as { authorization_url: string }).authorization_url).searchParams.get(
          'state',
        )
        const url = `${base}/auth/test/callback?error=access_denied&state=${state}`
        assert.deepEqual(await get(browser, url), [400, { detail: 'OAUTH_PROVIDER_ERROR' }])
        const browser2 = new Browser()
        const { callback } = await authorize(browser2, account('kim').sub)
        const bad = new URL(callback)
        bad.searchParams.set('code', 'forged-code')
        assert.deepEqual(await get(browser2, bad.toString()), [400, { detail: 'OAUTH_PROVIDER_ERROR' }])
      })
    })

    describe('association', () => {
      it('a logged-in user links a provider account, then signs in with it', async () => {
        const email = `${unique('liam')}@example.com`
        const local = await localUser(email, false)
        const token = await api().token(email, PASSWORD)
        const idp = account('liam-idp', { email: 'liam-elsewhere@example.org' })
        const browser = new Browser()
        const { callback } = await authorize(browser, idp.sub, { prefix: '/auth/associate/test', token })
        assert.deepEqual(await get(browser, callback), [401, { detail: 'Unauthorized' }])
        const [status, body] = await get(browser, callback, token)
        assert.equal(status, 200, JSON.stringify(body))
        assert.equal((body as { id: string }).id, local.id)
        assert.ok(!JSON.stringify(body).includes('token'), 'UserRead never carries OAuth tokens')
        const rows = await accountsOf(local.id)
        assert.equal(rows.length, 1)
        assert.equal(rows[0]?.account_email, 'liam-elsewhere@example.org')
        const [loginStatus, login] = (await signIn(idp.sub)) as [number, { access_token: string }]
        assert.equal(loginStatus, 200)
        assert.equal((await me(login.access_token)).id, local.id)
      })

      it("refuses a provider account linked to another user, and another user's state", async () => {
        const owner = account('owner')
        assert.equal((await signIn(owner.sub))[0], 200)
        const email = `${unique('nina')}@example.com`
        await localUser(email, true)
        const token = await api().token(email, PASSWORD)
        const browser = new Browser()
        const { callback } = await authorize(browser, owner.sub, { prefix: '/auth/associate/test', token })
        assert.deepEqual(await get(browser, callback, token), [400, { detail: 'OAUTH_ACCOUNT_ALREADY_LINKED' }])

        // A state started by one user cannot be completed by another.
        const other = `${unique('oscar')}@example.com`
        await localUser(other, false)
        const otherToken = await api().token(other, PASSWORD)
        const free = account('free')
        const b2 = new Browser()
        const flow = await authorize(b2, free.sub, { prefix: '/auth/associate/test', token })
        assert.deepEqual(await get(b2, flow.callback, otherToken), INVALID_STATE)
      })

      it('authorize needs a logged-in user', async () => {
        const res = await new Browser().fetch(`${base}/auth/associate/test/authorize`)
        assert.equal(res.status, 401)
      })
    })
  })
}
