/**
 * Issue #13: every value is checked before the database sees it. A NUL (PostgreSQL refuses it), an
 * unpaired surrogate (no UTF-8 form: drivers would store U+FFFD), a string longer than its column
 * holds on the strictest database (MariaDB's TEXT: 65,535 bytes) is a 422 or the route's contract
 * error, never a 500; and a write the database refuses is logged without the statement's values.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import fc from 'fast-check'
import { createConnection } from 'mysql2/promise'
import pg from 'pg'
import { client, json, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds, type TestDatabase } from '../support/databases.js'

const PASSWORD = 'unstorable-password-1234'
const SEED = Number(process.env.FUZZ_SEED ?? 1313)
const UNSTORABLE = ['a\u0000b', '\u0000', 'x\ud800', '\udc00y', 'a\udbff\udbffb']
const TOO_LONG = ['é'.repeat(32_768), 'a'.repeat(65_536), '😀'.repeat(16_384)] // 65,536 bytes each

const unicode = (loc: (string | number)[], input: string) => ({
  detail: [
    { type: 'string_unicode', loc, msg: 'String should not contain NUL characters or unpaired surrogates', input },
  ],
})
const tooLong = (loc: (string | number)[], input: string) => ({
  detail: [{ type: 'string_too_long', loc, msg: 'String should have at most 65535 bytes in UTF-8', input }],
})

/** Strings mixing the unstorable with the ordinary: NUL, lone surrogates, astral pairs, long runs. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('a', '\u0000', '\ud800', '\udfff', '😀', 'é', ' '), maxLength: 40 }),
  fc.constantFrom(...UNSTORABLE, 'a'.repeat(65_535), 'é'.repeat(32_767)),
)

for (const kind of databaseKinds()) {
  describe(`values a database cannot store (${kind})`, () => {
    let started: TestApp | null = null
    let api: ReturnType<typeof client>
    let token: string
    const logs: string[] = []

    before(async () => {
      started = await startTestApp(kind, { LOG_LEVEL: 'info' }, { logStream: { write: (line) => logs.push(line) } })
      if (!started) return
      api = client(started.app)
      assert.equal((await api.register('unstorable@example.com', PASSWORD)).statusCode, 201)
      token = await api.token('unstorable@example.com', PASSWORD)
    })
    after(async () => {
      await started?.close()
    })
    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body()
      })

    it('register and PATCH /users/me: first_name with NUL or an unpaired surrogate is a 422', async () => {
      for (const value of UNSTORABLE) {
        const registered = await api.register(`nul-${Math.random()}@example.com`, PASSWORD, value)
        assert.deepEqual(json(registered), [422, unicode(['body', 'first_name'], value)], JSON.stringify(value))
        const patched = await api.patch('/users/me', { first_name: value }, token)
        assert.deepEqual(json(patched), [422, unicode(['body', 'first_name'], value)], JSON.stringify(value))
      }
    })

    it('register and PATCH /users/me: first_name over what TEXT holds everywhere (65,535 bytes) is a 422', async () => {
      for (const value of TOO_LONG) {
        const registered = await api.register(`long-${Math.random()}@example.com`, PASSWORD, value)
        assert.deepEqual(json(registered), [422, tooLong(['body', 'first_name'], value)])
        assert.deepEqual(json(await api.patch('/users/me', { first_name: value }, token)), [
          422,
          tooLong(['body', 'first_name'], value),
        ])
      }
      const longest = 'é'.repeat(32_767) // 65,534 bytes
      const res = await api.patch('/users/me', { first_name: longest }, token)
      assert.equal(res.statusCode, 200)
      assert.equal(res.json().first_name, longest)
    })

    it('e-mail addresses with NUL or unpaired surrogates are 422 on register, forgot-password, request-verify-token and PATCH', async () => {
      for (const email of ['a\u0000@example.com', 'a\ud800@example.com', 'ok@exa\u0000mple.com']) {
        assert.equal((await api.register(email, PASSWORD)).statusCode, 422, JSON.stringify(email))
        assert.equal((await api.post('/auth/forgot-password', { email })).statusCode, 422)
        assert.equal((await api.post('/auth/request-verify-token', { email })).statusCode, 422)
        assert.equal((await api.patch('/users/me', { email }, token)).statusCode, 422)
      }
    })

    it('login: a username or password with NUL or unpaired surrogates is LOGIN_BAD_CREDENTIALS', async () => {
      for (const value of [...UNSTORABLE, 'unstorable@example.com\u0000', 'x'.repeat(70_000)]) {
        const bad = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]
        assert.deepEqual(json(await api.login(value, PASSWORD)), bad, JSON.stringify(value))
        assert.deepEqual(json(await api.login('unstorable@example.com', `${PASSWORD}${value}`)), bad)
      }
    })

    it('a session cookie or bearer token with NUL, an unpaired surrogate or too long is a 401', async () => {
      for (const value of ['%00', 'abc%00def', `${'A'.repeat(42)}%00`, '%ED%A0%80', 'A'.repeat(44), 'A'.repeat(5000)]) {
        const res = await api.send({
          method: 'GET',
          url: '/users/me',
          headers: { cookie: `fastapiusersauth=${value}` },
        })
        assert.deepEqual(json(res), [401, { detail: 'Unauthorized' }], value)
      }
      for (const value of ['\ud800', 'a'.repeat(10_000), 'é\u00ff']) {
        const res = await api.send({
          method: 'GET',
          url: '/users/me',
          headers: { authorization: `Bearer ${Buffer.from(value).toString('latin1')}` },
        })
        assert.deepEqual(json(res), [401, { detail: 'Unauthorized' }], value)
      }
    })

    it('reset and verify tokens with NUL or unpaired surrogates are the routes’ bad-token errors', async () => {
      for (const value of UNSTORABLE) {
        const reset = await api.post('/auth/reset-password', { token: value, password: 'another-password-123' })
        assert.deepEqual(json(reset), [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }])
        assert.deepEqual(json(await api.post('/auth/verify', { token: value })), [
          400,
          { detail: 'VERIFY_USER_BAD_TOKEN' },
        ])
      }
    })

    it('generated hostile strings in every string field: 2xx or 4xx, never 5xx, and stored as sent', async () => {
      await fc.assert(
        fc.asyncProperty(hostileString, hostileString, async (firstName, username) => {
          const patched = await api.patch('/users/me', { first_name: firstName }, token)
          assert.ok([200, 422].includes(patched.statusCode), `${patched.statusCode} ${JSON.stringify(firstName)}`)
          if (patched.statusCode === 200) assert.equal(patched.json().first_name, firstName, 'stored as sent')
          const login = await api.login(username, firstName)
          assert.ok(login.statusCode < 500, `login ${login.statusCode}`)
          const forgot = await api.post('/auth/forgot-password', { email: `${username}@example.com` })
          assert.ok([202, 422].includes(forgot.statusCode), `forgot ${forgot.statusCode}`)
          const cookie = [...Buffer.from(username)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
          const me = await api.send({
            method: 'GET',
            url: '/users/me',
            headers: { cookie: `fastapiusersauth=${cookie}` },
          })
          assert.equal(me.statusCode, 401)
        }),
        { seed: SEED, numRuns: 40, endOnFailure: true, includeErrorInReport: true },
      )
    })

    it('a write the database refuses is a 500 whose log holds neither the password nor its hash', async () => {
      await refuseInserts(started?.database as TestDatabase)
      logs.length = 0
      const secret = 'secret-password-in-no-log-9876'
      const res = await api.register('refused-write@example.com', secret, 'Refused')
      assert.equal(res.statusCode, 500)
      const logged = logs.join('\n')
      assert.match(logged, /"level":50.*refused/, 'the failure is logged')
      assert.doesNotMatch(logged, /\$argon2/, 'no password hash')
      assert.doesNotMatch(logged, new RegExp(secret))
      assert.doesNotMatch(logged, /refused-write@example\.com/, 'no value of the statement')
      assert.doesNotMatch(logged, /insert into/i, 'no statement')
    })
  })
}

/** A trigger that refuses every INSERT into "user" behind the service's back: its next write fails. */
async function refuseInserts(database: TestDatabase): Promise<void> {
  if (database.kind === 'postgres') {
    const c = new pg.Client({ connectionString: database.url })
    await c.connect()
    await c.query(
      `CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql`,
    )
    await c.query('CREATE TRIGGER refuse BEFORE INSERT ON "user" FOR EACH ROW EXECUTE FUNCTION refuse()')
    await c.end()
  } else if (database.kind === 'mariadb') {
    const c = await createConnection({ uri: database.url })
    await c.query(
      "CREATE TRIGGER refuse BEFORE INSERT ON `user` FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'",
    )
    await c.end()
  } else {
    const { default: SQLite } = await import('better-sqlite3')
    const db = new SQLite(database.url.replace(/^sqlite:/, ''))
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON "user" BEGIN SELECT RAISE(ABORT, 'refused'); END`)
    db.close()
  }
}
