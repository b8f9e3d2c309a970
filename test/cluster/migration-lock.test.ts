/**
 * The migration lock, in one process: several connections (each its own session, as several
 * instances are) migrate one MariaDB database at once, fresh and on an older schema that lacks a
 * custom field's column. Every one succeeds, and each change is made exactly once. (PostgreSQL's
 * race needs separate processes to show: test/cluster/startup.test.ts; SQLite's too.)
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Database, migrateToLatest, openDatabase } from 'fastify-users/kysely'
import { userFields } from '../../server/user.js'
import { createTestDatabase, type DatabaseKind } from '../support/databases.js'
import { BUILT_IN_MIGRATIONS } from '../support/migrations.js'

const ROUNDS = 10
const AT_ONCE = 4

async function raceOnce(kind: DatabaseKind, older: boolean) {
  const database = await createTestDatabase(kind)
  if (!database) return false
  const handles: Database[] = []
  try {
    if (older) {
      const setup = openDatabase(database.url)
      await migrateToLatest(setup)
      await setup.close()
    }
    for (let i = 0; i < AT_ONCE; i++) handles.push(openDatabase(database.url, { poolSize: 2 }))
    const reports = await Promise.all(handles.map((db) => migrateToLatest(db, { fields: userFields })))
    assert.deepEqual(
      reports.flatMap((r) => r.applied),
      older ? [] : BUILT_IN_MIGRATIONS,
      'each migration ran once',
    )
    assert.deepEqual(
      reports.flatMap((r) => r.addedColumns),
      ['first_name'],
      'the column was added once',
    )
  } finally {
    await Promise.all(handles.map((db) => db.close()))
    await database.drop()
  }
  return true
}

for (const kind of ['mariadb'] as const) {
  for (const older of [false, true]) {
    test(`${AT_ONCE} connections migrate one ${older ? 'older' : 'fresh'} ${kind} database at once, ${ROUNDS} times`, async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        if (!(await raceOnce(kind, older))) return t.skip(`${kind} is not reachable`)
      }
    })
  }
}
