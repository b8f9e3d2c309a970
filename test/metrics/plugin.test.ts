/**
 * metricsPlugin on a bare Fastify app, fed the sources directly: the database pool's gauge follows
 * queries held open (every database), the hash queue's depth and wait follow hashes held in line.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { createPasswordHasher, OWASP_ARGON2ID } from '../../src/index.js'
import { type Database, openDatabase } from '../../src/kysely.js'
import { metricsPlugin } from '../../src/metrics.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import { parsePrometheus, type Sample, sampleValue } from '../support/prometheus.js'

async function scrape(app: FastifyInstance): Promise<Sample[]> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  assert.equal(res.statusCode, 200, res.body)
  return parsePrometheus(res.body)
}

const pool = (samples: Sample[]) =>
  ['used', 'idle', 'waiting'].map((state) => sampleValue(samples, 'fastify_users_db_pool_connections', { state }))

/** A statement that holds its connection for a while, where the database has one (SQLite runs statements synchronously). */
const HOLD: Partial<Record<DatabaseKind, string>> = {
  postgres: 'select pg_sleep(0.6)',
  mariadb: 'select sleep(0.6)',
}

for (const kind of databaseKinds()) {
  describe(`${kind}: db_pool_connections`, () => {
    let testDatabase: TestDatabase | null = null
    let database: Database
    let app: FastifyInstance
    before(async () => {
      testDatabase = await createTestDatabase(kind)
      if (!testDatabase) return
      database = openDatabase(testDatabase.url, { poolSize: 1 })
      app = Fastify()
      await app.register(metricsPlugin, { database, defaultMetrics: false })
      await app.ready()
    })
    after(async () => {
      await app?.close()
      await database?.close()
      await testDatabase?.drop()
    })

    test('reports used, idle and waiting connections; a held query is used and the next one waits', async (t) => {
      if (!testDatabase) return t.skip(`${kind} is not reachable locally`)
      await sql`select 1`.execute(database.db)
      const hold = HOLD[kind]
      if (!hold) {
        assert.deepEqual(pool(await scrape(app)), [0, 1, 0]) // SQLite: its one connection, idle between statements
        return
      }
      assert.deepEqual(pool(await scrape(app)), [0, 1, 0])
      const held = [sql.raw(hold).execute(database.db), sql.raw(hold).execute(database.db)]
      let seen: (number | undefined)[] = []
      for (let i = 0; i < 40; i++) {
        seen = pool(await scrape(app))
        if (seen[0] === 1 && seen[2] === 1) break
        await new Promise((r) => setTimeout(r, 10))
      }
      assert.deepEqual(seen, [1, 0, 1])
      await Promise.all(held)
      assert.deepEqual(pool(await scrape(app)), [0, 1, 0])
    })
  })
}

describe('password_hash_queue_depth and password_hash_wait_seconds', () => {
  const passwords = createPasswordHasher({ ...OWASP_ARGON2ID, memoryCost: 4096 }, { concurrency: 1 })
  const app = Fastify()
  before(() => app.register(metricsPlugin, { passwords, defaultMetrics: false }))
  after(() => app.close())

  test('hashes past the concurrency wait in line, counted in the depth; each wait is observed', async () => {
    const hashes = [1, 2, 3].map((i) => passwords.hash(`password-${i}`))
    const during = await scrape(app)
    assert.equal(sampleValue(during, 'fastify_users_password_hash_queue_depth'), 2)
    await Promise.all(hashes)
    const done = await scrape(app)
    assert.equal(sampleValue(done, 'fastify_users_password_hash_queue_depth'), 0)
    assert.equal(sampleValue(done, 'fastify_users_password_hash_wait_seconds_count'), 3)
    // the first ran at once; the two others waited for at least one hash each
    assert.equal(sampleValue(done, 'fastify_users_password_hash_wait_seconds_bucket', { le: '0.001' }), 1)
    assert.ok((sampleValue(done, 'fastify_users_password_hash_wait_seconds_sum') ?? 0) > 0)
  })
})
