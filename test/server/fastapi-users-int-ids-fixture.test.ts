import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { client } from '../support/app.js'
import { databaseKinds, type TestDatabase } from '../support/databases.js'
import {
  createIntIdsDatabase,
  type IntFixtureUser,
  intFixture,
  listTables,
  query,
  refreshed,
} from '../support/fastapi-users.js'

// The second database the real fastapi-users 12.1.2 wrote (test/fixtures/fastapi-users/README.md): IntegerIDMixin,
// tables `users` and `access_tokens`. The service adopts it with exactly the settings the migration guide gives.
const ADOPT = { USER_ID_TYPE: 'integer', USER_TABLE: 'users', ACCESS_TOKEN_TABLE: 'access_tokens' }

const user = (email: string): IntFixtureUser => {
  const found = intFixture.users.find((u) => u.email_stored === email)
  if (!found) throw new Error(`no fixture user ${email}`)
  return found
}
const ACTIVE = intFixture.users.filter((u) => u.is_active)
const ROOT = user('root@example.com')
const read = (u: IntFixtureUser) => ({
  id: u.id,
  email: u.email_stored,
  is_active: u.is_active,
  is_superuser: u.is_superuser,
  is_verified: u.is_verified,
  first_name: u.first_name,
})

/** A timestamp as each database takes it in a statement: now, in UTC. */
function now(kind: TestDatabase['kind']): string {
  const text = new Date().toISOString().replace('T', ' ').replace('Z', '')
  return kind === 'postgres' ? `${text}+00` : text
}

for (const kind of databaseKinds()) {
  describe(`a database fastapi-users 12.1.2 wrote with integer ids and its own table names (${kind})`, () => {
    let database: TestDatabase | null = null
    let app: FastifyInstance | undefined
    let api: ReturnType<typeof client>
    let rowsBefore: Record<string, unknown>[][] = []
    const rows = async (db: TestDatabase) => [
      await query(db, 'SELECT id, email, is_active, is_superuser, is_verified, first_name FROM users ORDER BY id'),
      await query(db, 'SELECT token, user_id FROM access_tokens ORDER BY user_id'),
    ]
    before(async () => {
      database = await createIntIdsDatabase(kind)
      if (!database) return
      // The database tokens were written when the fixture was: issued anew now, as the JWTs are forged anew.
      await query(database, 'UPDATE access_tokens SET created_at = ?', [now(kind)])
      rowsBefore = await rows(database)
      app = await buildApp(
        loadConfig({ DATABASE_URL: database.url, SECRET: intFixture.secret, LOG_LEVEL: 'silent', ...ADOPT }),
        { logger: false },
      )
      api = client(app)
    })
    after(async () => {
      await app?.close()
      await database?.drop()
    })
    const it = (name: string, body: (db: TestDatabase) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!database) return t.skip(`${kind} is not reachable locally`)
        await body(database)
      })

    it('the migrations keep its tables and rows, and add only tables of their own', async (db) => {
      assert.deepEqual(await rows(db), rowsBefore)
      const tables = await listTables(db)
      for (const name of ['users', 'access_tokens', 'email_identity', 'refresh_token', 'oauth_account'])
        assert.ok(tables.includes(name), name)
      assert.ok(!tables.includes('user') && !tables.includes('accesstoken'), `no table of the default names: ${tables}`)
    })

    it('every active user logs in with its password; its bcrypt hash is then argon2id', async (db) => {
      for (const u of ACTIVE) {
        const res = await api.login(u.email_typed, u.password)
        assert.deepEqual([res.statusCode, res.json().token_type], [200, 'bearer'], u.email_typed)
        const [row] = await query(db, 'SELECT hashed_password FROM users WHERE id = ?', [u.id])
        assert.match(String(row?.hashed_password), /^\$argon2id\$/, u.email_typed)
      }
    })

    it('the inactive user (hank) is refused', async () => {
      const hank = user('hank@example.com')
      const res = await api.login(hank.email_typed, hank.password)
      assert.deepEqual([res.statusCode, res.json()], [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
    })

    it('a JWT with fastapi-users’ claims (sub the decimal id) and SECRET authenticates; ids are JSON numbers', async () => {
      for (const u of ACTIVE) {
        const res = await api.get('/users/me', await refreshed(u.jwt as string, intFixture.secret))
        assert.deepEqual([res.statusCode, res.json()], [200, read(u)])
      }
    })

    it('its database-strategy tokens authenticate on the database backend (/auth/cookie)', async () => {
      for (const u of ACTIVE) {
        const res = await app?.inject({
          method: 'GET',
          url: '/users/me',
          headers: { cookie: `fastapiusersauth=${u.database_token}` },
        })
        assert.deepEqual([res?.statusCode, res?.json()], [200, read(u)], u.email_typed)
      }
    })

    it('the superuser reads GET /users/2; a non-integer id is 404, as fastapi-users’ parse_id', async () => {
      const token = await api.token(ROOT.email_typed, ROOT.password)
      const frank = user('Frank.Mixed@example.com')
      for (const spelling of ['2', '02', '+2', '%202']) {
        const res = await api.get(`/users/${spelling}`, token)
        assert.deepEqual([res.statusCode, res.json()], [200, read(frank)], spelling)
      }
      for (const spelling of ['abc', '2.0', '0x2', '99', '99999999999', '9'.repeat(40), '-1']) {
        const res = await api.get(`/users/${spelling}`, token)
        assert.deepEqual([res.statusCode, res.json()], [404, { detail: 'Not Found' }], spelling)
      }
    })

    it('new users get the next integer ids', async () => {
      const first = await api.register('ivy@example.com', 'ivy-long-password', 'Ivy')
      const second = await api.register('jack@example.com', 'jack-long-password', 'Jack')
      assert.deepEqual([first.statusCode, first.json().id], [201, 6])
      assert.deepEqual([second.statusCode, second.json().id], [201, 7])
    })
  })
}
