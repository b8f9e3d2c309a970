/**
 * Who may own an address and a provider account, against a real OpenID provider on every database:
 * pre-account hijacking (Sudhodanan and Paverd, USENIX Security 2022) through an address the
 * provider does not vouch for, and one provider account linked to one user even under concurrency.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { SignJWT } from 'jose'
import { sql } from 'kysely'
import { openDatabase } from '../../src/stores/kysely/database.js'
import { client, TEST_SECRET, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import {
  Browser,
  freePort,
  OIDC_CLIENT,
  type OidcProvider,
  oidcFlows,
  startListeningApp,
  startOidcProvider,
} from '../support/oauth.js'
import { startSmtpServer } from '../support/smtp.js'

const PASSWORD = 'correct-horse-battery'
const NEW_PASSWORD = 'another-horse-battery'
const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }

type Login = { access_token: string; refresh_token: string }

for (const kind of databaseKinds()) {
  describe(`OAuth links: pre-account hijacking and one provider account per user (${kind})`, () => {
    let provider: OidcProvider
    let smtp: Awaited<ReturnType<typeof startSmtpServer>>
    /** Default configuration: no account for an address the provider does not vouch for. */
    let strict: (TestApp & { url: string }) | null = null
    /** OAUTH_ALLOW_UNVERIFIED_EMAIL=true: such an account is made, and loses its link when the owner proves the address. */
    let lenient: (TestApp & { url: string }) | null = null

    before(async () => {
      const [p1, p2] = [await freePort(), await freePort()]
      const uris = [p1, p2].flatMap((p) => [
        `http://127.0.0.1:${p}/auth/test/callback`,
        `http://127.0.0.1:${p}/auth/associate/test/callback`,
      ])
      provider = await startOidcProvider(uris)
      smtp = await startSmtpServer()
      const env = {
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
        OAUTH_TEST_CLIENT_ID: OIDC_CLIENT.id,
        OAUTH_TEST_CLIENT_SECRET: OIDC_CLIENT.secret,
        OAUTH_TEST_ISSUER: provider.issuer,
        SMTP_URL: smtp.url,
      }
      strict = await startListeningApp(kind, p1, env)
      lenient = await startListeningApp(kind, p2, { ...env, OAUTH_ALLOW_UNVERIFIED_EMAIL: 'true' })
    })
    after(async () => {
      await strict?.close()
      await lenient?.close()
      await provider?.close()
      await smtp?.close()
    })

    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!strict || !lenient) return t.skip(`${kind} is not reachable locally`)
        await body()
      })

    const service = (app: TestApp & { url: string }) => {
      const api = client(app.app)
      const flows = oidcFlows(app.url, provider)
      return {
        api,
        ...flows,
        async me(token: string) {
          const res = await api.get('/users/me', token)
          return [res.statusCode, res.json()] as [number, { id: string; email: string; is_verified: boolean }]
        },
        async refresh(refreshToken: string) {
          const res = await api.send({
            method: 'POST',
            url: '/auth/jwt/refresh',
            payload: { refresh_token: refreshToken },
          })
          return res.statusCode
        },
        async links(userId: string) {
          const db = openDatabase(app.database.url)
          try {
            const { rows } = await sql<
              Record<string, unknown>
            >`select * from oauth_account where user_id = ${userId}`.execute(db.db)
            return rows
          } finally {
            await db.close()
          }
        },
        async linksOf(oauthName: string, accountId: string) {
          const db = openDatabase(app.database.url)
          try {
            const { rows } = await sql<Record<string, unknown>>`select * from oauth_account
              where oauth_name = ${oauthName} and account_id = ${accountId}`.execute(db.db)
            return rows
          } finally {
            await db.close()
          }
        },
        /** A verification token, as the mail carries it (same claims, same secret). */
        verifyToken: (user: { id: string; email: string }) =>
          new SignJWT({ sub: user.id, email: user.email, aud: 'fastapi-users:verify' })
            .setProtectedHeader({ alg: 'HS256' })
            .setExpirationTime('1h')
            .sign(new TextEncoder().encode(TEST_SECRET)),
        /** forgot-password, and the token of the mail it sends. */
        async resetToken(email: string) {
          const res = await api.post('/auth/forgot-password', { email })
          assert.equal(res.statusCode, 202, res.body)
          const mail = await smtp.waitForMail((m) => m.to.includes(email) && /reset-password\?token=/.test(m.text))
          const link = mail.text.match(/reset-password\?token=(\S+)/)?.[1] as string
          return decodeURIComponent(link)
        },
      }
    }

    describe('an address the provider does not vouch for', () => {
      it('by default: no account, no link; the owner registers and verifies, the provider login never opens it', async () => {
        const s = service(strict as TestApp & { url: string })
        const victim = `victim-${Date.now()}@example.com`
        const attacker = s.account('attacker', { email: victim, email_verified: false })
        assert.deepEqual(await s.signIn(attacker.sub), [400, { detail: 'OAUTH_NOT_AVAILABLE_EMAIL' }])
        assert.equal((await s.linksOf('test', attacker.sub)).length, 0, 'no foothold')

        const registered = await s.api.register(victim, PASSWORD)
        assert.equal(registered.statusCode, 201, registered.body)
        const owner = registered.json() as { id: string; email: string }
        assert.equal((await s.api.post('/auth/verify', { token: await s.verifyToken(owner) })).statusCode, 200)
        assert.deepEqual(await s.signIn(attacker.sub), [400, { detail: 'OAUTH_USER_ALREADY_EXISTS' }])
        assert.equal((await s.links(owner.id)).length, 0)
      })

      it('allowed: the account is made unverified; the owner verifies the address: the link and the sessions go', async () => {
        const s = service(lenient as TestApp & { url: string })
        const victim = `victim-${Date.now()}@example.com`
        const attacker = s.account('attacker', { email: victim, email_verified: false })
        const [status, login] = (await s.signIn(attacker.sub)) as [number, Login]
        assert.equal(status, 200, JSON.stringify(login))
        const [, user] = await s.me(login.access_token)
        assert.equal(user.is_verified, false)
        const [link] = await s.links(user.id)
        assert.equal(Number(link?.email_verified), 0, 'the link records that the provider did not vouch')

        // The owner asks for a verification mail and follows it.
        assert.equal((await s.api.post('/auth/verify', { token: await s.verifyToken(user) })).statusCode, 200)
        assert.equal((await s.links(user.id)).length, 0, 'the unvouched link is removed')
        assert.equal(await s.refresh(login.refresh_token), 401, "the attacker's session ended")
        assert.deepEqual(await s.signIn(attacker.sub), [400, { detail: 'OAUTH_USER_ALREADY_EXISTS' }])
      })

      it('allowed: the owner resets the password (proves the mailbox): the attacker is out', async () => {
        const s = service(lenient as TestApp & { url: string })
        const victim = `victim-${Date.now()}@example.com`
        const attacker = s.account('attacker', { email: victim, email_verified: false })
        const [status, login] = (await s.signIn(attacker.sub)) as [number, Login]
        assert.equal(status, 200)
        const [, user] = await s.me(login.access_token)

        const token = await s.resetToken(victim)
        const reset = await s.api.post('/auth/reset-password', { token, password: NEW_PASSWORD })
        assert.equal(reset.statusCode, 200, reset.body)
        assert.equal((await s.links(user.id)).length, 0)
        assert.equal(await s.refresh(login.refresh_token), 401)
        assert.deepEqual(await s.signIn(attacker.sub), [400, { detail: 'OAUTH_USER_ALREADY_EXISTS' }])
        const owner = await s.api.token(victim, NEW_PASSWORD)
        assert.equal((await s.me(owner))[1].id, user.id, 'the owner has the account')
      })

      it("a password sign-up with the victim's address linking the attacker's own provider account: removed on reset", async () => {
        const s = service(strict as TestApp & { url: string })
        const victim = `victim-${Date.now()}@example.com`
        const registered = await s.api.register(victim, PASSWORD)
        const user = registered.json() as { id: string }
        const token = await s.api.token(victim, PASSWORD)
        const own = s.account('attacker-own') // vouched for, but for the attacker's own address
        const browser = new Browser()
        const { callback } = await s.authorize(browser, own.sub, { prefix: '/auth/associate/test', token })
        assert.equal((await s.get(browser, callback, token))[0], 200)
        assert.equal((await s.links(user.id)).length, 1)

        const reset = await s.api.post('/auth/reset-password', {
          token: await s.resetToken(victim),
          password: NEW_PASSWORD,
        })
        assert.equal(reset.statusCode, 200, reset.body)
        assert.equal((await s.links(user.id)).length, 0)
        const [status, login] = (await s.signIn(own.sub)) as [number, Login]
        assert.equal(status, 200, 'the provider account now signs in to an account of its own address')
        assert.notEqual((await s.me(login.access_token))[1].id, user.id)
      })

      it('a link the provider vouched for, to the same address, stays when its user verifies', async () => {
        const s = service(strict as TestApp & { url: string })
        const alice = s.account('alice')
        const [status, login] = (await s.signIn(alice.sub)) as [number, Login]
        assert.equal(status, 200)
        const [, user] = await s.me(login.access_token)
        assert.equal(user.is_verified, false, 'OAUTH_IS_VERIFIED_BY_DEFAULT is off')
        assert.equal((await s.api.post('/auth/verify', { token: await s.verifyToken(user) })).statusCode, 200)
        assert.equal((await s.links(user.id)).length, 1)
        assert.equal(await s.refresh(login.refresh_token), 200, 'sessions are kept when nothing was removed')
        const [again, second] = (await s.signIn(alice.sub)) as [number, Login]
        assert.equal(again, 200)
        assert.equal((await s.me(second.access_token))[1].id, user.id)
      })
    })

    describe('one provider account, one user', () => {
      it('10 users associate one provider account at once: exactly one 200, later logins always open its user', async () => {
        const s = service(strict as TestApp & { url: string })
        const shared = s.account('shared')
        const contenders = await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const email = `contender-${i}-${Date.now()}@example.com`
            const res = await s.api.register(email, PASSWORD)
            assert.equal(res.statusCode, 201, res.body)
            const token = await s.api.token(email, PASSWORD)
            const browser = new Browser()
            const { callback } = await s.authorize(browser, shared.sub, { prefix: '/auth/associate/test', token })
            return { id: (res.json() as { id: string }).id, token, browser, callback }
          }),
        )
        const results = await Promise.all(contenders.map((c) => s.get(c.browser, c.callback, c.token)))
        const won = results.filter(([status]) => status === 200)
        assert.equal(won.length, 1, JSON.stringify(results))
        for (const [status, body] of results.filter(([status]) => status !== 200)) {
          assert.deepEqual([status, body], [400, { detail: 'OAUTH_ACCOUNT_ALREADY_LINKED' }])
        }
        const winner = ((won[0] as [number, unknown])[1] as { id: string }).id
        const rows = await s.linksOf('test', shared.sub)
        assert.equal(rows.length, 1)
        assert.equal(String(rows[0]?.user_id).toLowerCase(), winner)
        for (let i = 0; i < 3; i++) {
          const [status, login] = (await s.signIn(shared.sub)) as [number, Login]
          assert.equal(status, 200)
          assert.equal((await s.me(login.access_token))[1].id, winner)
        }
      })

      it('5 first sign-ins with one new provider account at once: one user, one link, every 200 for that user', async () => {
        const s = service(strict as TestApp & { url: string })
        const fresh = s.account('fresh')
        const flows = await Promise.all(
          Array.from({ length: 5 }, async () => {
            const browser = new Browser()
            return { browser, ...(await s.authorize(browser, fresh.sub)) }
          }),
        )
        const results = await Promise.all(flows.map((f) => s.get(f.browser, f.callback)))
        const ids = new Set<string>()
        for (const [status, body] of results) {
          if (status === 200) ids.add((await s.me((body as Login).access_token))[1].id)
          else assert.deepEqual([status, body], [400, { detail: 'OAUTH_USER_ALREADY_EXISTS' }])
        }
        assert.equal(ids.size, 1, JSON.stringify(results))
        const rows = await s.linksOf('test', fresh.sub)
        assert.equal(rows.length, 1)
        assert.equal(String(rows[0]?.user_id).toLowerCase(), [...ids][0])
        const [status, login] = (await s.signIn(fresh.sub)) as [number, Login]
        assert.equal(status, 200)
        assert.equal((await s.me(login.access_token))[1].id, [...ids][0])
      })

      it('the database refuses a second row for one provider account (the unique key)', async () => {
        const s = service(strict as TestApp & { url: string })
        const one = s.account('one')
        const [, login] = (await s.signIn(one.sub)) as [number, Login]
        const [, user] = await s.me(login.access_token)
        const db = openDatabase((strict as TestApp).database.url)
        try {
          const [row] = await s.links(user.id)
          await assert.rejects(
            sql`insert into oauth_account (id, oauth_name, access_token, account_id, account_email, user_id)
              values (${'00000000-0000-4000-8000-000000000001'}, ${'test'}, ${'x'}, ${one.sub}, ${'x@example.com'}, ${user.id})`.execute(
              db.db,
            ),
          )
          // Provider subjects are case-sensitive: another case is another account (byte-exact key).
          await sql`insert into oauth_account (id, oauth_name, access_token, account_id, account_email, user_id)
            values (${'00000000-0000-4000-8000-000000000002'}, ${'test'}, ${'x'}, ${one.sub.toUpperCase()}, ${'x@example.com'}, ${user.id})`.execute(
            db.db,
          )
          assert.ok(row)
        } finally {
          await db.close()
        }
      })
    })
  })
}
