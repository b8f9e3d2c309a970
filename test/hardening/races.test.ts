/**
 * Races, on every database: many requests at once over real sockets (the reference service
 * listening on 127.0.0.1, one fetch connection per request in flight), and interleavings forced
 * with a gate in front of the user store where a race window is too narrow to hit reliably.
 */
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, describe, type TestContext, test } from 'node:test'
import { InvalidVerifyToken, type UserChanges, UserManager, type UserStore } from 'fastify-users'
import { createKyselyUserStore, type Database, openDatabase } from 'fastify-users/kysely'
import { sql } from 'kysely'
import { type User, userFields } from '../../server/user.js'
import { startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const PASSWORD = 'correct-horse-battery'
const ROUNDS = 5

interface Reply {
  status: number
  body: unknown
}

/** HTTP over real sockets: fetch keeps one connection per request in flight. */
function http(base: string) {
  const call = async (method: string, path: string, init: { json?: unknown; form?: object; token?: string } = {}) => {
    const headers: Record<string, string> = {}
    let body: string | undefined
    if (init.token) headers.authorization = `Bearer ${init.token}`
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(init.json)
    }
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(init.form as Record<string, string>).toString()
    }
    const res = await fetch(base + path, { method, headers, body })
    const text = await res.text()
    return { status: res.status, body: text === '' ? '' : JSON.parse(text) } as Reply
  }
  const self = {
    call,
    register: (email: string, password = PASSWORD) =>
      call('POST', '/auth/register', { json: { email, password, first_name: 'Racer' } }),
    login: (username: string, password = PASSWORD) => call('POST', '/auth/jwt/login', { form: { username, password } }),
    async tokens(email: string, password = PASSWORD) {
      const res = await self.login(email, password)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return res.body as { access_token: string; refresh_token: string }
    },
    async registered(email = newEmail()): Promise<User> {
      const res = await self.register(email)
      assert.equal(res.status, 201, JSON.stringify(res.body))
      return res.body as User
    },
    patch: (path: string, json: object, token: string) => call('PATCH', path, { json, token }),
  }
  return self
}

/** Status and body of each reply, as counts: {"200 null": 1, "400 {…}": 49}. */
function tally(replies: Reply[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of replies) {
    const key = `${r.status} ${JSON.stringify(r.body)}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

const detail = (code: string) => JSON.stringify({ detail: code })

/**
 * A user store whose `update` waits at a gate when `stop(changes)` says so: the test runs
 * another change meanwhile, then opens the gate. The interleaving is forced, not hoped for.
 */
function gatedStore(inner: UserStore<User>, stop: (changes: UserChanges<User>) => boolean) {
  let reached: () => void = () => {}
  let open: () => void = () => {}
  const arrived = new Promise<void>((resolve) => (reached = resolve))
  const gate = new Promise<void>((resolve) => (open = resolve))
  let armed = true
  const store: UserStore<User> = {
    ...inner,
    async update(user, changes, options) {
      if (armed && stop(changes)) {
        armed = false
        reached()
        await gate
      }
      return inner.update(user, changes, options)
    },
  }
  return { store, arrived, open }
}

interface Suite {
  started: TestApp
  database: Database
  api: ReturnType<typeof http>
  /** A manager on the same database and secret: it signs tokens the service accepts. */
  manager: (store?: UserStore<User>) => UserManager<User>
  store: UserStore<User>
  adminToken: () => Promise<string>
  /** Rows whose e-mail is `email` in any letter case. */
  rowsByEmail: (email: string) => Promise<Record<string, unknown>[]>
}

function suite(kind: DatabaseKind) {
  let current: Suite | null = null
  before(async () => {
    const started = await startTestApp(kind, {
      FIRST_SUPERUSER_EMAIL: ADMIN.email,
      FIRST_SUPERUSER_PASSWORD: ADMIN.password,
      DATABASE_POOL_SIZE: '20',
    })
    if (!started) return
    await started.app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = started.app.server.address() as AddressInfo
    const database = openDatabase(started.database.url)
    const store = createKyselyUserStore<User>(database, userFields)
    const api = http(`http://127.0.0.1:${port}`)
    current = {
      started,
      database,
      api,
      store,
      manager: (s = store) => new UserManager<User>({ store: s, secret: TEST_SECRET }),
      adminToken: async () => (await api.tokens(ADMIN.email, ADMIN.password)).access_token,
      rowsByEmail: (email) =>
        database.db.selectFrom('user').selectAll().where(sql`lower(email)`, '=', email.toLowerCase()).execute(),
    }
  })
  after(async () => {
    await current?.database.close()
    await current?.started.close()
  })
  return (name: string, body: (s: Suite) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!current) return t.skip(`${kind} is not reachable locally`)
      await body(current)
    })
}

/** The reset token forgot-password would mail to `user`. */
async function resetToken(manager: UserManager<User>, user: User): Promise<string> {
  let token = ''
  manager.hooks.onAfterForgotPassword = (_u, t) => {
    token = t
  }
  await manager.forgotPassword(user)
  return token
}

/** The verification token request-verify-token would mail to `user`. */
async function verifyToken(manager: UserManager<User>, user: User): Promise<string> {
  let token = ''
  manager.hooks.onAfterRequestVerify = (_u, t) => {
    token = t
  }
  await manager.requestVerify(user)
  return token
}

for (const kind of databaseKinds()) {
  describe(`${kind}: races`, () => {
    const it = suite(kind)

    it('50 concurrent registrations of one e-mail in mixed letter case: one 201, 49 × 400, one row', async (s) => {
      for (let round = 0; round < ROUNDS; round++) {
        const email = newEmail('race')
        const [local, domain] = email.split('@') as [string, string]
        const spellings = Array.from(
          { length: 50 },
          (_, i) =>
            [email, `${local.toUpperCase()}@${domain}`, `${local}@${domain.toUpperCase()}`, email.toUpperCase()][i % 4],
        ) as string[]
        const replies = await Promise.all(spellings.map((spelling) => s.api.register(spelling)))
        assert.deepEqual(
          Object.values(tally(replies.filter((r) => r.status !== 201))),
          [49],
          JSON.stringify(tally(replies)),
        )
        assert.deepEqual(tally(replies.filter((r) => r.status === 400)), {
          [`400 ${detail('REGISTER_USER_ALREADY_EXISTS')}`]: 49,
        })
        const rows = await s.rowsByEmail(email)
        assert.equal(rows.length, 1)
        const winner = replies.find((r) => r.status === 201)?.body as User
        assert.equal(rows[0]?.email, winner.email)
        assert.equal((await s.api.login(email.toUpperCase())).status, 200)
      }
    })

    it('concurrent PATCHes of different fields of one user (own and superuser routes): no field is lost', async (s) => {
      const admin = await s.adminToken()
      for (let round = 0; round < ROUNDS; round++) {
        const user = await s.api.registered()
        const { access_token: own } = await s.api.tokens(user.email)
        const email = newEmail('renamed')
        const newPassword = `new-password-${round}`
        const replies = await Promise.all([
          s.api.patch('/users/me', { first_name: `First ${round}` }, own),
          s.api.patch('/users/me', { password: newPassword }, own),
          s.api.patch(`/users/${user.id}`, { email, is_verified: true }, admin),
          s.api.patch(`/users/${user.id}`, { is_superuser: true }, admin),
        ])
        assert.deepEqual(
          replies.map((r) => r.status),
          [200, 200, 200, 200],
          JSON.stringify(replies),
        )
        const final = (await s.api.call('GET', `/users/${user.id}`, { token: admin })).body
        assert.deepEqual(final, {
          id: user.id,
          email,
          is_active: true,
          is_superuser: true,
          is_verified: true,
          first_name: `First ${round}`,
        })
        assert.equal((await s.api.login(email, newPassword)).status, 200, 'the new password is stored')
      }
    })

    it('20 concurrent PATCHes each setting first_name and another field: every response is a state the row passed through', async (s) => {
      const admin = await s.adminToken()
      const user = await s.api.registered()
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s.api.patch(`/users/${user.id}`, i % 2 ? { first_name: `n${i}` } : { is_superuser: i % 4 === 0 }, admin),
        ),
      )
      assert.deepEqual(tally(replies.map((r) => ({ status: r.status, body: '' }))), { '200 ""': 20 })
      const final = (await s.api.call('GET', `/users/${user.id}`, { token: admin })).body as User
      // Each field holds a value one of its writers sent: no write reset another's field.
      assert.match(String(final.first_name), /^n\d+$/)
      assert.equal(final.email, user.email)
      assert.equal(final.is_active, true)
    })

    it('two users change their e-mail to one new address at once: one 200, one 400, one row', async (s) => {
      for (let round = 0; round < ROUNDS; round++) {
        const [a, b] = [await s.api.registered(), await s.api.registered()]
        const [ta, tb] = [(await s.api.tokens(a.email)).access_token, (await s.api.tokens(b.email)).access_token]
        const target = newEmail('taken')
        const replies = await Promise.all([
          s.api.patch('/users/me', { email: target }, ta),
          s.api.patch('/users/me', { email: target.toUpperCase() }, tb),
        ])
        assert.deepEqual(replies.map((r) => r.status).sort(), [200, 400], JSON.stringify(replies))
        const loser = replies.find((r) => r.status === 400) as Reply
        assert.deepEqual(loser.body, { detail: 'UPDATE_USER_EMAIL_ALREADY_EXISTS' })
        assert.equal((await s.rowsByEmail(target)).length, 1)
        const winner = replies.find((r) => r.status === 200)?.body as User
        assert.equal(winner.is_verified, false)
      }
    })

    it('an e-mail change that read the row before a superuser changed and verified it does not un-verify it', async (s) => {
      // Row: old address. The PATCH {email: X} reads it, then a superuser sets {email: X, is_verified: true},
      // then the PATCH writes. In either serial order the user ends verified at X.
      const user = await s.store.get((await s.api.registered()).id)
      assert.ok(user)
      const target = newEmail('moved')
      const gated = gatedStore(s.store, (changes) => changes.email !== undefined)
      const patch = s.manager(gated.store).update(user, { email: target })
      await gated.arrived
      await s.manager().update(user, { email: target, is_verified: true }, { safe: false })
      gated.open()
      const result = await patch
      assert.deepEqual([result.email, result.is_verified], [target, true])
      assert.deepEqual([(await s.store.get(user.id))?.email, (await s.store.get(user.id))?.is_verified], [target, true])
    })

    it('a PATCH that keeps the e-mail it read still sets it when the row moved meanwhile', async (s) => {
      const user = await s.store.get((await s.api.registered()).id)
      assert.ok(user)
      const gated = gatedStore(s.store, (changes) => changes.first_name === 'Kept')
      const patch = s.manager(gated.store).update(user, { email: user.email, first_name: 'Kept' })
      await gated.arrived
      await s.manager().update(user, { email: newEmail('elsewhere'), is_verified: true }, { safe: false })
      gated.open()
      const result = await patch
      // Serially after the move, {email: the old address} is a real change: it is written and un-verifies.
      assert.deepEqual([result.email, result.is_verified, result.first_name], [user.email, false, 'Kept'])
    })

    it('concurrent refresh of one refresh token over 20 connections: twenty 200 with one successor (REFRESH_REUSE_INTERVAL)', async (s) => {
      for (let round = 0; round < ROUNDS; round++) {
        const user = await s.api.registered()
        const { refresh_token } = await s.api.tokens(user.email)
        const replies = await Promise.all(
          Array.from({ length: 20 }, () => s.api.call('POST', '/auth/jwt/refresh', { json: { refresh_token } })),
        )
        const counts = tally(replies.map((r) => ({ status: r.status, body: '' })))
        assert.deepEqual(counts, { '200 ""': 20 })
        const successors = new Set(replies.map((r) => (r.body as { refresh_token: string }).refresh_token))
        assert.equal(successors.size, 1, 'every racer got the same successor')
        const [successor] = [...successors] as [string]
        const next = await s.api.call('POST', '/auth/jwt/refresh', { json: { refresh_token: successor } })
        assert.equal(next.status, 200)
      }
    })

    it('10 concurrent resets with one token and different passwords: one 200, nine 400, the winner’s password works', async (s) => {
      const manager = s.manager()
      for (let round = 0; round < 2; round++) {
        const user = (await s.store.get((await s.api.registered()).id)) as User
        const token = await resetToken(manager, user)
        const passwords = Array.from({ length: 10 }, (_, i) => `reset-racer-${round}-${i}`)
        const replies = await Promise.all(
          passwords.map((password) => s.api.call('POST', '/auth/reset-password', { json: { token, password } })),
        )
        assert.deepEqual(tally(replies), { '200 null': 1, [`400 ${detail('RESET_PASSWORD_BAD_TOKEN')}`]: 9 })
        const winner = passwords[replies.findIndex((r) => r.status === 200)] as string
        const logins = await Promise.all(passwords.map((password) => s.api.login(user.email, password)))
        assert.deepEqual(
          logins.map((r) => r.status),
          passwords.map((p) => (p === winner ? 200 : 400)),
        )
      }
    })

    it('20 concurrent verifications with one token: one 200, nineteen VERIFY_USER_ALREADY_VERIFIED', async (s) => {
      const manager = s.manager()
      for (let round = 0; round < ROUNDS; round++) {
        const user = (await s.store.get((await s.api.registered()).id)) as User
        const token = await verifyToken(manager, user)
        const replies = await Promise.all(
          Array.from({ length: 20 }, () => s.api.call('POST', '/auth/verify', { json: { token } })),
        )
        const counts = tally(replies.map((r) => ({ status: r.status, body: r.status === 200 ? '' : r.body })))
        assert.deepEqual(counts, { '200 ""': 1, [`400 ${detail('VERIFY_USER_ALREADY_VERIFIED')}`]: 19 })
        assert.equal((await s.store.get(user.id))?.is_verified, true)
      }
    })

    it('a verification racing an e-mail change never verifies the new address', async (s) => {
      // verify reads the user at the old address; the address changes; then verify writes.
      const user = (await s.store.get((await s.api.registered()).id)) as User
      const token = await verifyToken(s.manager(), user)
      const gated = gatedStore(s.store, (changes) => changes.is_verified === true)
      const verifying = s.manager(gated.store).verify(token)
      await gated.arrived
      const moved = newEmail('moved')
      await s.manager().update(user, { email: moved })
      gated.open()
      await assert.rejects(verifying, InvalidVerifyToken)
      assert.deepEqual([(await s.store.get(user.id))?.email, (await s.store.get(user.id))?.is_verified], [moved, false])
    })

    it('verification and e-mail change at once over sockets: the new address is never left verified', async (s) => {
      const manager = s.manager()
      for (let round = 0; round < ROUNDS; round++) {
        const user = (await s.store.get((await s.api.registered()).id)) as User
        const { access_token } = await s.api.tokens(user.email)
        const token = await verifyToken(manager, user)
        const moved = newEmail('moved')
        const [verified, changed] = await Promise.all([
          s.api.call('POST', '/auth/verify', { json: { token } }),
          s.api.patch('/users/me', { email: moved }, access_token),
        ])
        assert.equal(changed.status, 200, JSON.stringify(changed.body))
        assert.ok(
          verified.status === 200 || JSON.stringify(verified.body) === detail('VERIFY_USER_BAD_TOKEN'),
          JSON.stringify(verified),
        )
        const row = await s.store.get(user.id)
        assert.deepEqual([row?.email, row?.is_verified], [moved, false])
      }
    })

    it('a user deactivated while logging in 10 times at once keeps no usable session', async (s) => {
      const admin = await s.adminToken()
      const user = await s.api.registered()
      const [deactivated, ...logins] = await Promise.all([
        s.api.patch(`/users/${user.id}`, { is_active: false }, admin),
        ...Array.from({ length: 10 }, () => s.api.login(user.email)),
      ])
      assert.equal(deactivated?.status, 200)
      for (const login of logins) {
        if (login.status !== 200) {
          assert.deepEqual(login.body, { detail: 'LOGIN_BAD_CREDENTIALS' })
          continue
        }
        const { access_token, refresh_token } = login.body as { access_token: string; refresh_token: string }
        assert.equal((await s.api.call('GET', '/users/me', { token: access_token })).status, 401)
        const refreshed = await s.api.call('POST', '/auth/jwt/refresh', { json: { refresh_token } })
        assert.equal(refreshed.status, 401)
      }
    })

    it('a user deleted while logging in and patching at once is gone, and no token of it works', async (s) => {
      const admin = await s.adminToken()
      const user = await s.api.registered()
      const { access_token } = await s.api.tokens(user.email)
      const [deleted, ...others] = await Promise.all([
        s.api.call('DELETE', `/users/${user.id}`, { token: admin }),
        ...Array.from({ length: 5 }, () => s.api.login(user.email)),
        ...Array.from({ length: 5 }, (_, i) => s.api.patch('/users/me', { first_name: `late ${i}` }, access_token)),
      ])
      assert.equal(deleted?.status, 204)
      // Before the deletion a login or PATCH succeeds; after it, a login is a bad credential and a PATCH a 401.
      for (const r of others.slice(0, 5)) {
        if (r.status !== 200) assert.deepEqual(r, { status: 400, body: { detail: 'LOGIN_BAD_CREDENTIALS' } })
      }
      for (const r of others.slice(5)) {
        if (r.status !== 200) assert.deepEqual(r, { status: 401, body: { detail: 'Unauthorized' } })
      }
      assert.equal((await s.rowsByEmail(user.email)).length, 0, 'a late PATCH never re-creates the row')
      for (const r of others.filter((o) => o.status === 200 && (o.body as { access_token?: string }).access_token)) {
        const token = (r.body as { access_token: string }).access_token
        assert.equal((await s.api.call('GET', '/users/me', { token })).status, 401)
      }
      assert.equal((await s.api.call('GET', '/users/me', { token: access_token })).status, 401)
    })
  })
}
