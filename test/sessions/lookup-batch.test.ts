/**
 * The look-ups of every authenticated request (a user by id, a database or Redis session token),
 * asked for together: on PostgreSQL and MariaDB they go out as one query per turn of the event loop
 * (src/core/batch.ts), in Redis as one MGET, on SQLite as one read on the read-only connection
 * (src/stores/kysely/read-batch.ts: at most 64 keys a statement). On every database, and for
 * both id models, each caller gets exactly its own answer, as its own object; a row deleted or aged
 * before the look-up is not found; a token differing only in case is no token (MariaDB's collation
 * would match it; the store does not).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, type TestContext, test } from 'node:test'
import { Redis } from 'ioredis'
import { defineUserFields, ServiceUnavailable, UserManager, type UserOf } from '../../src/index.js'
import { createKyselyAccessTokenStore, createKyselyUserStore, migrateToLatest, openDatabase } from '../../src/kysely.js'
import { RedisStrategy } from '../../src/redis.js'
import { createTestDatabase, databaseKinds } from '../support/databases.js'
import { openRedis, testRedisUrl } from '../support/redis.js'

const fields = defineUserFields({})

for (const kind of databaseKinds()) {
  for (const userIdType of ['uuid', 'integer'] as const) {
    describe(`look-ups asked for together (${kind}, ${userIdType} ids)`, () => {
      test('users and session tokens: each caller its own row, deleted and aged rows absent', async (t: TestContext) => {
        const testDb = await createTestDatabase(kind)
        if (!testDb) return t.skip(`${kind} is not reachable locally`)
        const database = openDatabase(testDb.url, { userIdType })
        // SQLite: the reads the stores make on the read-only connection, counted
        const reads: number[] = []
        const readRowsNow = database.readRowsNow
        if (readRowsNow)
          database.readRowsNow = (sql, parameters) => {
            reads.push(parameters.length)
            return readRowsNow(sql, parameters)
          }
        try {
          await migrateToLatest(database)
          type User = UserOf<typeof fields, typeof userIdType>
          const users = createKyselyUserStore<User>(database)
          const created: User[] = []
          for (let i = 0; i < 150; i++)
            created.push(
              await users.create({
                email: `batch-${i}@example.com`,
                hashed_password: 'x',
                is_active: true,
                is_superuser: false,
                is_verified: false,
              } as never),
            )
          const gone = created.pop()!
          await users.delete(gone)
          const unknown = userIdType === 'uuid' ? '00000000-0000-4000-8000-000000000000' : 999_999

          // more than one query's worth (100), each id asked for twice, plus ids no row has
          const asked = [...created, ...created].map((u) => u.id)
          const invalid = userIdType === 'uuid' ? 'not-a-uuid' : 1.5
          reads.length = 0
          const answers = await Promise.all([...asked, gone.id, unknown, invalid].map((id) => users.get(id as never)))
          // 151 distinct storable ids: 64 + 64 + 23 (padded to 32)
          if (readRowsNow) assert.deepEqual(reads, [64, 64, 32])
          for (const [i, id] of asked.entries()) {
            assert.equal(answers[i]?.id, id)
            assert.equal(answers[i]?.email, created[i % created.length]!.email)
          }
          assert.deepEqual(answers.slice(asked.length), [null, null, null])
          assert.notEqual(answers[0], answers[created.length], 'the same row, two objects')
          ;(answers[0] as { email: string }).email = 'changed@example.com'
          assert.equal(answers[created.length]?.email, created[0]!.email)

          const tokens = createKyselyAccessTokenStore(database)
          const values = created.slice(0, 40).map(() => randomBytes(32).toString('base64url').slice(0, 43))
          for (const [i, token] of values.entries())
            await tokens.create({ token, user_id: created[i]!.id, created_at: new Date(Date.now() - i * 60_000) })
          await tokens.delete(values[0]!)
          reads.length = 0
          const found = await Promise.all([
            ...values.map((token) => tokens.get(token, 30 * 60)), // tokens 30… are older than 30 minutes
            tokens.get(values[1]!.toUpperCase(), null),
            tokens.get(values[1]!.toLowerCase(), null),
            tokens.get('no-such-token', null),
          ])
          for (const [i, row] of found.slice(0, values.length).entries()) {
            if (i === 0 || i >= 30) assert.equal(row, null, `token ${i}`)
            else {
              assert.equal(row?.token, values[i])
              assert.equal(row?.user_id, created[i]!.id)
            }
          }
          // one read per lifetime asked for: 40 tokens (64 with the padding, and the oldest time), then 3 (4 and 1)
          if (readRowsNow) assert.deepEqual(reads, [65, 5])
          const variants = found.slice(values.length)
          assert.deepEqual(
            variants.map((row) => row?.token ?? null),
            [
              values[1]!.toUpperCase() === values[1] ? values[1] : null,
              values[1]!.toLowerCase() === values[1] ? values[1] : null,
              null,
            ],
          )
        } finally {
          await database.close()
          await testDb.drop()
        }
      })
    })
  }
}

for (const kind of databaseKinds()) {
  describe(`Redis tokens asked for together (users on ${kind})`, () => {
    test('each caller its own user; unknown, deleted and case-variant tokens refused; Redis down is a 503 for each', async (t: TestContext) => {
      const redisUrl = await testRedisUrl()
      if (!redisUrl) return t.skip('Redis is not reachable locally')
      const testDb = await createTestDatabase(kind)
      if (!testDb) return t.skip(`${kind} is not reachable locally`)
      const database = openDatabase(testDb.url, { userIdType: 'uuid' })
      const redis = openRedis(redisUrl)
      const keyPrefix = `batch-${randomBytes(6).toString('hex')}:token:`
      try {
        await migrateToLatest(database)
        type User = UserOf<typeof fields, 'uuid'>
        const users = createKyselyUserStore<User>(database)
        const manager = new UserManager<User>({ store: users, secret: randomBytes(32).toString('hex') })
        const strategy = new RedisStrategy<User>({ redis, lifetimeSeconds: 600, keyPrefix })
        const created: User[] = []
        for (let i = 0; i < 60; i++)
          created.push(
            await users.create({
              email: `redis-batch-${i}@example.com`,
              hashed_password: 'x',
              is_active: true,
              is_superuser: false,
              is_verified: false,
            } as never),
          )
        const tokens: string[] = []
        for (const user of [...created, ...created]) tokens.push(await strategy.writeToken(user))
        await strategy.destroyToken(tokens[0]!, created[0]!)

        // 120 tokens (two MGETs' worth), each asked for twice, with tokens Redis has never held
        const variant = tokens[1]!.toUpperCase() === tokens[1] ? tokens[1]!.toLowerCase() : tokens[1]!.toUpperCase()
        const asked = [...tokens, ...tokens, variant, 'x'.repeat(43), '']
        const answers = await Promise.all(asked.map((token) => strategy.readToken(token, manager)))
        for (const [i, user] of answers.slice(0, 2 * tokens.length).entries()) {
          const n = i % tokens.length
          if (n === 0) assert.equal(user, null, 'the logged-out token')
          else assert.equal(user?.email, created[n % created.length]!.email, `token ${n}`)
        }
        assert.deepEqual(answers.slice(2 * tokens.length), [null, null, null])
        assert.notEqual(answers[1], answers[1 + tokens.length], 'the same user, two objects')

        const down = new Redis('redis://127.0.0.1:1/0', {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
          enableOfflineQueue: false,
        })
        down.on('error', () => {})
        const offline = new RedisStrategy<User>({ redis: down, lifetimeSeconds: 600, keyPrefix })
        const failures = await Promise.allSettled(tokens.slice(1, 5).map((token) => offline.readToken(token, manager)))
        for (const failure of failures) {
          assert.equal(failure.status, 'rejected')
          assert.ok((failure as PromiseRejectedResult).reason instanceof ServiceUnavailable)
        }
        down.disconnect()
      } finally {
        const keys = await redis.keys(`${keyPrefix.replace(/token:$/, '')}*`)
        if (keys.length) await redis.del(...keys)
        redis.disconnect()
        await database.close()
        await testDb.drop()
      }
    })
  })
}
