import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest, openDatabase } from 'fastify-users/kysely'
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../support/databases.js'
import { query, table } from '../support/fastapi-users.js'
import { startInstances, stopInstances } from '../support/instance.js'

const ROUNDS = Number(process.env.CLUSTER_START_ROUNDS ?? 20)
const ADMIN = { FIRST_SUPERUSER_EMAIL: 'admin@example.com', FIRST_SUPERUSER_PASSWORD: 'admin-password-1' }

/** An older schema: every migration of ours, but not the reference service's `first_name` column. */
async function olderSchema(database: TestDatabase): Promise<void> {
  const db = openDatabase(database.url)
  try {
    const report = await migrateToLatest(db)
    assert.deepEqual(report.addedColumns, [])
  } finally {
    await db.close()
  }
}

/** Three instances at once on one database, every round; each comes up and the schema is whole. */
async function concurrentStarts(
  kind: DatabaseKind,
  rounds: number,
  prepare?: (database: TestDatabase) => Promise<void>,
) {
  for (let round = 0; round < rounds; round++) {
    const database = await createTestDatabase(kind)
    if (!database) return console.warn(`SKIPPED: ${kind} is not reachable`)
    try {
      await prepare?.(database)
      const instances = await startInstances(3, { DATABASE_URL: database.url, ...ADMIN })
      await stopInstances(instances)
      const admins = await query(database, `select email, first_name from ${table(kind)}`)
      assert.deepEqual(admins, [{ email: 'admin@example.com', first_name: null }], `round ${round}`)
    } finally {
      await database.drop()
    }
  }
}

test(`three instances started at once on a fresh PostgreSQL database all come up (${ROUNDS} rounds)`, async () => {
  await concurrentStarts('postgres', ROUNDS)
})

test(`three instances started at once on an older PostgreSQL schema (no first_name) all come up (${ROUNDS} rounds)`, async () => {
  await concurrentStarts('postgres', ROUNDS, olderSchema)
})

// SQLite's lock is its single writer (BEGIN IMMEDIATE): fewer rounds, the same race.
const SQLITE_ROUNDS = Math.max(1, Math.ceil(ROUNDS / 4))

test(`three instances started at once on a fresh SQLite file all come up (${SQLITE_ROUNDS} rounds)`, async () => {
  await concurrentStarts('sqlite', SQLITE_ROUNDS)
})

test(`three instances started at once on an older SQLite schema (no first_name) all come up (${SQLITE_ROUNDS} rounds)`, async () => {
  await concurrentStarts('sqlite', SQLITE_ROUNDS, olderSchema)
})
