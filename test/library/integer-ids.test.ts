/**
 * The library with an IntegerIDMixin model and tables of the app's own names, on every database: the
 * schema SQLAlchemy would create, ids the database numbers, the stores that refer to the user, and an
 * app's own parse_id.
 */
import assert from 'node:assert/strict'
import { describe, type TestContext, test } from 'node:test'
import { type BaseUser, defineUserFields, UserManager, type UserOf } from '../../src/index.js'
import {
  createKyselyAccessTokenStore,
  createKyselyOAuthAccountStore,
  createKyselyUserStore,
  migrateToLatest,
  openDatabase,
} from '../../src/kysely.js'
import { TEST_SECRET } from '../support/app.js'
import { createTestDatabase, databaseKinds } from '../support/databases.js'

const TABLES = { user: 'demo_users', accessToken: 'demo_tokens', oauthAccount: 'demo_oauth' }
const fields = defineUserFields({})
type User = UserOf<typeof fields, 'integer'>
const newUser = (email: string) => ({
  email,
  hashed_password: 'x',
  is_active: true,
  is_superuser: false,
  is_verified: false,
})

for (const kind of databaseKinds()) {
  describe(`integer ids and named tables through the library (${kind})`, () => {
    test('schema, ids, stores and parse_id', async (t: TestContext) => {
      const testDb = await createTestDatabase(kind)
      if (!testDb) return t.skip(`${kind} is not reachable locally`)
      const database = openDatabase(testDb.url, { userIdType: 'integer', tables: TABLES })
      try {
        await migrateToLatest(database)
        const tables = await database.db.introspection.getTables()
        const names = tables.map((table) => table.name)
        for (const name of [...Object.values(TABLES), 'refresh_token', 'email_identity'])
          assert.ok(names.includes(name), name)
        for (const name of ['user', 'accesstoken', 'oauth_account']) assert.ok(!names.includes(name), name)
        const column = (table: string, name: string) =>
          tables.find((x) => x.name === table)?.columns.find((c) => c.name === name)
        assert.match(String(column('demo_users', 'id')?.dataType), /^int/i)
        for (const table of ['demo_tokens', 'demo_oauth', 'refresh_token', 'email_identity'])
          assert.match(String(column(table, 'user_id')?.dataType), /^int/i, `${table}.user_id`)
        if (kind !== 'sqlite') assert.equal(column('demo_users', 'id')?.isAutoIncrementing, true)
        assert.deepEqual((await migrateToLatest(database)).applied, [], 'a second run finds nothing to do')

        const users = createKyselyUserStore<User>(database)
        assert.equal(users.idType, 'integer')
        const [first, second] = await Promise.all([
          users.create(newUser('a@example.com')),
          users.create(newUser('b@example.com')),
        ])
        assert.deepEqual([first, second].map((u) => u.id).sort(), [1, 2])
        assert.deepEqual(await users.get(first.id), first)
        assert.equal(await users.get(String(first.id)), null, 'a string is no integer id')
        assert.equal(await users.get(2 ** 53), null, 'beyond any column: no row, no error')
        assert.equal((await users.getByEmail('b@example.com'))?.id, second.id)

        const tokens = createKyselyAccessTokenStore(database)
        await tokens.create({ token: 'tok', user_id: first.id, created_at: new Date() })
        assert.equal((await tokens.get('tok', null))?.user_id, 1)

        const accounts = createKyselyOAuthAccountStore(database)
        const data = {
          oauth_name: 'github',
          access_token: 'a',
          expires_at: null,
          refresh_token: null,
          account_id: '42',
          account_email: 'a@example.com',
          email_verified: true,
        }
        const linked = await accounts.add(first.id, data)
        assert.equal(linked.user_id, 1)
        assert.match(linked.id, /^\d+$/)
        assert.deepEqual(await accounts.find('github', '42'), linked)
        assert.deepEqual(await accounts.listForUser(1), [linked])

        // The default parse_id is int(); an app may read ids its own way (fastapi-users' overridable parse_id).
        const manager = new UserManager<User>({ store: users, secret: TEST_SECRET })
        assert.deepEqual([await manager.get(' 01 '), await manager.get('abc')], [first, null])
        const own = new UserManager<BaseUser>({
          store: users as never,
          secret: TEST_SECRET,
          parseId: (value) => (/^u\d+$/.test(value) ? Number(value.slice(1)) : null),
        })
        assert.deepEqual([(await own.get('u2'))?.id, await own.get('2')], [2, null])
        // a stored id (a token row's user_id) is no text to parse: it is looked up as it is
        assert.equal((await own.get(2))?.id, 2)

        await users.delete(first)
        assert.equal(await tokens.get('tok', null), null, 'the token cascades with its user')
        assert.deepEqual(await accounts.listForUser(1), [])
      } finally {
        await database.close()
        await testDb.drop()
      }
    })
  })
}
