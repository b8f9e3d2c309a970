import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { hash as bcryptHash } from '@node-rs/bcrypt'
import type { FastifyInstance } from 'fastify'
import { SignJWT } from 'jose'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { client } from '../support/app.js'
import { databaseKinds, type TestDatabase } from '../support/databases.js'
import {
  createFastapiUsersDatabase,
  fixture,
  query,
  refreshed,
  type Snapshot,
  snapshot,
  table,
  fixtureUser as user,
} from '../support/fastapi-users.js'

// A database written by the real fastapi-users 12.1.2 (test/fixtures/fastapi-users): the file itself on SQLite, and on
// PostgreSQL and MariaDB the table fastapi-users-db-sqlalchemy creates there, holding the same rows.

const ACTIVE = ['alice@example.com', 'Bob.Mixed@Example.com', 'carol@example.com', 'admin@example.com']
const ADMIN = 'admin@example.com'

/** The reference service started on the fixture's database of that kind, with fastapi-users' SECRET. */
function adopted(kind: ReturnType<typeof databaseKinds>[number]) {
  const state: { database: TestDatabase | null; app?: FastifyInstance; api: ReturnType<typeof client> } = {
    database: null,
    api: undefined as never,
  }
  let beforeStart: Snapshot
  let afterStart: Snapshot
  before(async () => {
    state.database = await createFastapiUsersDatabase(kind)
    if (!state.database) return
    beforeStart = await snapshot(state.database)
    state.app = await buildApp(
      loadConfig({ DATABASE_URL: state.database.url, SECRET: fixture.secret, LOG_LEVEL: 'silent' }),
      { logger: false },
    )
    afterStart = await snapshot(state.database)
    state.api = client(state.app)
  })
  after(async () => {
    await state.app?.close()
    await state.database?.drop()
  })
  const it = (name: string, body: (database: TestDatabase) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!state.database) return t.skip(`${kind} is not reachable locally`)
      await body(state.database)
    })
  const storedHash = async (database: TestDatabase, id: string) => {
    const [row] = await query(database, `SELECT hashed_password FROM ${table(kind)} WHERE id = ?`, [id])
    return String(row?.hashed_password)
  }
  return { state, it, storedHash, snapshots: () => ({ beforeStart, afterStart }) }
}

for (const kind of databaseKinds()) {
  describe(`a database written by fastapi-users 12.1.2 (${kind})`, () => {
    const { state, it, storedHash, snapshots } = adopted(kind)

    it('the migrations leave its rows, the table’s definition and ix_user_email as they were', async () => {
      const { beforeStart, afterStart } = snapshots()
      assert.equal(beforeStart.rows.length, fixture.users.length)
      assert.deepEqual(afterStart.rows, beforeStart.rows)
      // The one documented change of the table (0005-identity, on MariaDB only): e-mails compare byte for byte.
      const exactEmail = (definition: unknown) =>
        String(definition).replace(
          '`email` varchar(320) NOT NULL',
          '`email` varchar(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL',
        )
      assert.deepEqual(
        afterStart.definition,
        kind === 'mariadb' ? exactEmail(beforeStart.definition) : beforeStart.definition,
      )
      assert.ok(beforeStart.indexes.ix_user_email, 'the fixture has ix_user_email')
      for (const [name, index] of Object.entries(beforeStart.indexes)) assert.deepEqual(afterStart.indexes[name], index)
      // What the migrations add beside it: their bookkeeping (and tables of their own), never in place of one.
      for (const name of beforeStart.tables) assert.ok(afterStart.tables.includes(name), name)
      assert.ok(afterStart.tables.includes('kysely_migration'))
      // 0001 adds ix_user_email_lower where there is lower(), and 0005-identity drops it again: identity is
      // the table email_identity's, decided in code.
      const added = Object.keys(afterStart.indexes).filter((name) => !(name in beforeStart.indexes))
      assert.deepEqual(added, [])
    })

    it('every active user logs in (any letter case, the non-ASCII password too); bcrypt is then argon2id', async (database) => {
      for (const email of ACTIVE) {
        const { id, password } = user(email)
        assert.match(await storedHash(database, id), /^\$2b\$12\$/)
        for (const spelling of [email.toUpperCase(), email.toLowerCase()]) {
          const res = await state.api.login(spelling, password)
          assert.equal(res.statusCode, 200, `${spelling}: ${res.body}`)
          assert.equal(res.json().token_type, 'bearer')
        }
        assert.match(await storedHash(database, id), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, email)
        assert.equal((await state.api.login(email, `${password}x`)).statusCode, 400, `${email}: a wrong password`)
      }
    })

    it('the deactivated user (dave) is refused with LOGIN_BAD_CREDENTIALS', async () => {
      const dave = user('dave@example.com')
      const res = await state.api.login(dave.email, dave.password)
      assert.deepEqual([res.statusCode, res.json()], [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
    })

    it('GET /users/me answers each active user with its fields unchanged', async () => {
      for (const email of ACTIVE) {
        const u = user(email)
        const me = await state.api.get('/users/me', await state.api.token(email, u.password))
        assert.deepEqual(me.json(), {
          id: u.id,
          email: u.stored_email,
          is_active: true,
          is_superuser: u.is_superuser,
          is_verified: u.is_verified,
          first_name: u.first_name,
        })
      }
    })

    it('superuser GET /users/{id} reads every user back with its flags and first_name unchanged', async () => {
      const token = await state.api.token(ADMIN, user(ADMIN).password)
      for (const u of fixture.users) {
        const res = await state.api.get(`/users/${u.id}`, token)
        assert.deepEqual(
          [res.statusCode, res.json()],
          [
            200,
            {
              id: u.id,
              email: u.stored_email,
              is_active: u.is_active,
              is_superuser: u.is_superuser,
              is_verified: u.is_verified,
              first_name: u.first_name,
            },
          ],
        )
      }
    })

    it('an access token with fastapi-users’ claims and SECRET authenticates (the original, expired, does not)', async () => {
      const res = await state.api.get('/users/me', await refreshed(fixture.tokens.access_alice))
      assert.deepEqual([res.statusCode, res.json().id], [200, user('alice@example.com').id])
      const expired = await state.api.get('/users/me', fixture.tokens.access_alice)
      assert.deepEqual([expired.statusCode, expired.json()], [401, { detail: 'Unauthorized' }])
    })

    it('a verification token fastapi-users issued verifies carol', async () => {
      const token = await refreshed(fixture.tokens.verify_carol)
      const res = await state.api.post('/auth/verify', { token })
      assert.deepEqual([res.statusCode, res.json().is_verified], [200, true])
      const again = await state.api.post('/auth/verify', { token })
      assert.deepEqual([again.statusCode, again.json()], [400, { detail: 'VERIFY_USER_ALREADY_VERIFIED' }])
    })

    it('a reset token fastapi-users issued is dead once the password hash changed (here: by the upgrade)', async () => {
      const res = await state.api.post('/auth/reset-password', {
        token: await refreshed(fixture.tokens.reset_alice),
        password: 'another-long-pw',
      })
      assert.deepEqual([res.statusCode, res.json()], [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }])
    })
  })

  describe(`a fastapi-users reset token where the password is untouched (${kind})`, () => {
    const { state, it, storedHash } = adopted(kind)

    it('is accepted (its fingerprint is a passlib hash of the stored hash), once', async (database) => {
      const alice = user('alice@example.com')
      const token = await refreshed(fixture.tokens.reset_alice)
      const res = await state.api.post('/auth/reset-password', { token, password: 'alice-new-password' })
      assert.deepEqual([res.statusCode, res.body], [200, 'null'])
      assert.match(await storedHash(database, alice.id), /^\$argon2id\$/)
      assert.equal((await state.api.login(alice.email, alice.password)).statusCode, 400, 'the old password')
      assert.equal((await state.api.login(alice.email, 'alice-new-password')).statusCode, 200)
      // The password changed: the token fastapi-users issued is dead.
      const again = await state.api.post('/auth/reset-password', { token, password: 'alice-third-password' })
      assert.deepEqual([again.statusCode, again.json()], [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }])
    })

    it('is refused for a refused new password, and stays usable', async (database) => {
      const token = await fastapiUsersResetToken(database, user('Bob.Mixed@Example.com').id)
      const short = await state.api.post('/auth/reset-password', { token, password: 'short' })
      assert.deepEqual(
        [short.statusCode, short.json()],
        [
          400,
          { detail: { code: 'RESET_PASSWORD_INVALID_PASSWORD', reason: 'Password should be at least 8 characters' } },
        ],
      )
      const ok = await state.api.post('/auth/reset-password', { token, password: 'bob-new-password' })
      assert.equal(ok.statusCode, 200)
    })
  })
}

/**
 * A reset token as fastapi-users 12.1 made it: `password_fgpt` is passlib's bcrypt hash of the stored hash
 * (made here with @node-rs/bcrypt, the same $2b$ format), since the fixture holds only alice's.
 */
async function fastapiUsersResetToken(database: TestDatabase, id: string): Promise<string> {
  const [row] = await query(database, `SELECT hashed_password FROM ${table(database.kind)} WHERE id = ?`, [id])
  const fingerprint = await bcryptHash(String(row?.hashed_password), { cost: 4 })
  return new SignJWT({ sub: id, password_fgpt: fingerprint, aud: 'fastapi-users:reset' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(fixture.secret))
}
