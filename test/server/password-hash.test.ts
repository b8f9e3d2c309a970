import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { verify as bcryptVerify } from '@node-rs/bcrypt'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { createFastapiUsersDatabase, fixture, fixtureUser, query, table } from '../support/fastapi-users.js'

// PASSWORD_HASH and the hashing parameters: new hashes follow the configuration, and a hash of another
// scheme or with other parameters is re-hashed to it at the next successful login.

const PASSWORD = 'a-long-enough-password'

for (const kind of databaseKinds()) {
  describe(`PASSWORD_HASH (${kind})`, () => {
    let argon2: TestApp | null = null
    let bcrypt: TestApp | null
    let cheapArgon2: TestApp | null
    before(async () => {
      argon2 = await startTestApp(kind)
      if (!argon2) return
      bcrypt = await startTestApp(kind, { PASSWORD_HASH: 'bcrypt' }, { database: argon2.database })
      cheapArgon2 = await startTestApp(
        kind,
        { ARGON2_MEMORY_COST: '8192', ARGON2_TIME_COST: '1' },
        { database: argon2.database },
      )
    })
    after(async () => {
      await bcrypt?.close()
      await cheapArgon2?.close()
      await argon2?.close()
    })
    const it = (name: string, body: (apps: Record<'argon2' | 'bcrypt' | 'cheapArgon2', TestApp>) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!argon2 || !bcrypt || !cheapArgon2) return t.skip(`${kind} is not reachable locally`)
        await body({ argon2, bcrypt, cheapArgon2 })
      })
    const storedHash = async (database: TestDatabase, email: string) => {
      const [row] = await query(database, `SELECT hashed_password FROM ${table(kind)} WHERE email = ?`, [email])
      return String(row?.hashed_password)
    }

    it('with PASSWORD_HASH=bcrypt a new user gets a passlib-style $2b$12$ hash that bcrypt verifies', async (apps) => {
      const email = newEmail('bcrypt')
      const api = client(apps.bcrypt.app)
      assert.equal((await api.register(email, PASSWORD)).statusCode, 201)
      const hash = await storedHash(apps.bcrypt.database, email)
      assert.match(hash, /^\$2b\$12\$[./A-Za-z0-9]{53}$/)
      assert.equal(await bcryptVerify(PASSWORD, hash), true)
      assert.equal((await api.login(email, PASSWORD)).statusCode, 200)
      assert.equal(await storedHash(apps.bcrypt.database, email), hash, 'a current hash is kept')
    })

    it('an argon2id user is re-hashed to bcrypt at the next login, and back to argon2id', async (apps) => {
      const email = newEmail('argon2')
      assert.equal((await client(apps.argon2.app).register(email, PASSWORD)).statusCode, 201)
      assert.match(await storedHash(apps.argon2.database, email), /^\$argon2id\$/)
      assert.equal((await client(apps.bcrypt.app).login(email, PASSWORD)).statusCode, 200)
      const bcryptHash = await storedHash(apps.bcrypt.database, email)
      assert.match(bcryptHash, /^\$2b\$12\$/)
      assert.equal(await bcryptVerify(PASSWORD, bcryptHash), true)
      assert.equal((await client(apps.argon2.app).login(email, PASSWORD)).statusCode, 200)
      assert.match(await storedHash(apps.argon2.database, email), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    })

    it('a wrong password re-hashes nothing', async (apps) => {
      const email = newEmail('wrong')
      assert.equal((await client(apps.argon2.app).register(email, PASSWORD)).statusCode, 201)
      const hash = await storedHash(apps.argon2.database, email)
      assert.equal((await client(apps.bcrypt.app).login(email, 'not-the-password')).statusCode, 400)
      assert.equal(await storedHash(apps.argon2.database, email), hash)
    })

    it('other argon2 parameters: new hashes use them, and a change re-hashes at the next login', async (apps) => {
      const email = newEmail('params')
      assert.equal((await client(apps.cheapArgon2.app).register(email, PASSWORD)).statusCode, 201)
      assert.match(await storedHash(apps.argon2.database, email), /^\$argon2id\$v=19\$m=8192,t=1,p=1\$/)
      assert.equal((await client(apps.argon2.app).login(email, PASSWORD)).statusCode, 200)
      assert.match(await storedHash(apps.argon2.database, email), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    })
  })

  describe(`PASSWORD_HASH=bcrypt on the fastapi-users fixture (${kind})`, () => {
    let app: TestApp | null = null
    let database: TestDatabase | null = null
    before(async () => {
      database = await createFastapiUsersDatabase(kind)
      if (!database) return
      app = await startTestApp(kind, { PASSWORD_HASH: 'bcrypt', SECRET: fixture.secret }, { database })
    })
    after(async () => {
      await app?.close()
      await database?.drop()
    })

    test("passlib's $2b$12$ hashes stay as they are, readable by the Python service", async (t) => {
      if (!app || !database) return t.skip(`${kind} is not reachable locally`)
      const alice = fixtureUser('alice@example.com')
      const [before] = await query(database, `SELECT hashed_password FROM ${table(kind)} WHERE id = ?`, [alice.id])
      assert.equal((await client(app.app).login(alice.email, alice.password)).statusCode, 200)
      const [afterLogin] = await query(database, `SELECT hashed_password FROM ${table(kind)} WHERE id = ?`, [alice.id])
      assert.match(String(before?.hashed_password), /^\$2b\$12\$/)
      assert.equal(afterLogin?.hashed_password, before?.hashed_password)
    })
  })
}
