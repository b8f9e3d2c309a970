/**
 * Migration 0006 on a database migrated before it, on every database: provider accounts linked by
 * several oauth_account rows are reported by the doctor (a blocker) and stop the migration with a
 * message naming them, never a raw SQL error; once they are settled, the unique key is byte-exact.
 */
import assert from 'node:assert/strict'
import { describe, type TestContext, test } from 'node:test'
import { Migrator, sql } from 'kysely'
import { runCli } from '../../server/cli.js'
import { openDatabase } from '../../src/stores/kysely/database.js'
import { inspectDatabase, openDatabaseReadOnly } from '../../src/stores/kysely/doctor.js'
import { builtInMigrations, MigrationFailed, migrateToLatest } from '../../src/stores/kysely/migrate.js'
import { TEST_SECRET } from '../support/app.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'

const USER = '7c1f6f0a-5a4e-4d2b-9a61-0f6e2f1d9a01'

async function inspect(database: TestDatabase) {
  const db = await openDatabaseReadOnly(database.url)
  try {
    return await inspectDatabase(db, { url: database.url })
  } finally {
    await db.close()
  }
}

async function migrateCli(url: string) {
  const lines: string[] = []
  const out = { log: (s: string) => lines.push(s), error: (s: string) => lines.push(s) } as unknown as Console
  const code = await runCli(['migrate'], { DATABASE_URL: url, SECRET: TEST_SECRET }, out)
  return { code, output: lines.join('\n') }
}

for (const kind of databaseKinds()) {
  describe(`migration 0006 and duplicate OAuth links (${kind})`, () => {
    test('the doctor reports them, the migration stops with a clear message, then succeeds once settled', async (t: TestContext) => {
      const database = await createTestDatabase(kind)
      if (!database) return t.skip(`${kind} is not reachable locally`)
      const db = openDatabase(database.url)
      try {
        // The schema as it was before 0006.
        const before = Object.fromEntries(Object.entries(builtInMigrations(db)).filter(([name]) => name < '0005'))
        const migrated = await new Migrator({
          db: db.db,
          provider: { getMigrations: async () => before },
        }).migrateToLatest()
        assert.equal(migrated.error, undefined)
        const flag = db.capabilities.bindsBooleans ? sql`true` : sql`1`
        await sql`insert into ${sql.table('user')} (id, email, hashed_password, is_active, is_superuser, is_verified)
          values (${USER}, ${'dup@example.com'}, ${'x'}, ${flag}, ${flag}, ${flag})`.execute(db.db)
        const link = (id: string, name: string, accountId: string) =>
          sql`insert into oauth_account (id, oauth_name, access_token, account_id, account_email, user_id)
            values (${id}, ${name}, ${'token'}, ${accountId}, ${'dup@example.com'}, ${USER})`.execute(db.db)
        await link('00000000-0000-4000-8000-000000000001', 'google', 'sub-1')
        await link('00000000-0000-4000-8000-000000000002', 'google', 'sub-1')
        await link('00000000-0000-4000-8000-000000000003', 'google', 'SUB-1') // another subject: case matters
        await link('00000000-0000-4000-8000-000000000004', 'github', 'sub-1') // another provider

        const report = await inspect(database)
        assert.equal(report.oauthDuplicates, 1)
        assert.equal(report.ready, false)
        const finding = report.findings.find((f) => f.subject === 'oauth_account')
        assert.equal(finding?.severity, 'blocker')
        assert.match(
          finding?.message ?? '',
          /^1 provider account\(s\) are linked by several rows \(google\/sub-1: 2 rows\)/,
        )

        await assert.rejects(migrateToLatest(db), (error: unknown) => {
          assert.ok(error instanceof MigrationFailed)
          assert.match(
            error.message,
            /^migration failed: 0006-oauth-unique-and-state: oauth_account links 1 provider account\(s\) to several rows: google\/sub-1 \(2 rows\)\. Keep one row/,
          )
          return true
        })
        const cli = await migrateCli(database.url)
        assert.equal(cli.code, 1, cli.output)
        assert.match(
          cli.output,
          /failed: migration failed: 0006-oauth-unique-and-state: oauth_account links 1 provider/,
        )

        await sql`delete from oauth_account where id = ${'00000000-0000-4000-8000-000000000002'}`.execute(db.db)
        const settled = await migrateToLatest(db)
        // 0005 too where the failed run was rolled back whole (transactional DDL); later ones in any case
        assert.ok(settled.applied.includes('0006-oauth-unique-and-state'), settled.applied.join(', '))
        assert.deepEqual((await migrateToLatest(db)).applied, [])
        const after = await inspect(database)
        assert.equal(after.oauthDuplicates, 0)
        assert.equal(
          after.findings.find((f) => f.subject === 'oauth_account'),
          undefined,
        )
        const { rows } = await sql<{ email_verified: unknown }>`select email_verified from oauth_account`.execute(db.db)
        assert.deepEqual(
          rows.map((r) => Number(r.email_verified)),
          [0, 0, 0],
          'links made before 0006 are not known to be vouched for',
        )
        await assert.rejects(link('00000000-0000-4000-8000-000000000005', 'google', 'sub-1'))
        await link('00000000-0000-4000-8000-000000000006', 'google', 'Sub-1')
      } finally {
        await db.close()
        await database.drop()
      }
    })
  })
}
