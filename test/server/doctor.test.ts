import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import { promisify } from 'node:util'
import SQLite from 'better-sqlite3'
import { buildApp } from '../../server/app.js'
import { runCli } from '../../server/cli.js'
import { loadConfig } from '../../server/config.js'
import { userFields } from '../../server/user.js'
import type { UserFields } from '../../src/core/user.js'
import {
  type ColumnInfo,
  type DoctorReport,
  declarationFor,
  familyOf,
  formatDoctorReport,
  type InspectOptions,
  inspectDatabase,
  openDatabaseReadOnly,
  redactUrl,
} from '../../src/stores/kysely/doctor.js'
import { client } from '../support/app.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import {
  createFastapiUsersDatabase,
  createIntIdsDatabase,
  fixture,
  fixtureUser,
  listTables,
  query,
  runStatements,
  snapshot,
  sqliteFile,
  table,
} from '../support/fastapi-users.js'

const SECRET = fixture.secret
const ALICE = fixtureUser('alice@example.com')

async function inspect(
  database: TestDatabase,
  fields: UserFields = userFields,
  model: Pick<InspectOptions, 'idType' | 'tables'> = {},
): Promise<DoctorReport> {
  const db = await openDatabaseReadOnly(database.url)
  try {
    return await inspectDatabase(db, { fields, url: database.url, ...model })
  } finally {
    await db.close()
  }
}

/** runCli with its output captured. */
async function doctor(url: string, env: Record<string, string> = {}) {
  const lines: string[] = []
  const out = { log: (s: string) => lines.push(s), error: (s: string) => lines.push(s) } as unknown as Console
  const code = await runCli(['doctor'], { DATABASE_URL: url, SECRET, ...env }, out)
  return { code, output: lines.join('\n') }
}

const fileDigest = (database: TestDatabase) =>
  createHash('sha256')
    .update(readFileSync(sqliteFile(database.url)))
    .digest('hex')

/** A fresh database per test, made by `create`; skipped (with the reason) where a local run has no such server. */
function withDatabase(
  kind: DatabaseKind,
  name: string,
  create: (kind: DatabaseKind) => Promise<TestDatabase | null>,
  body: (database: TestDatabase) => Promise<void>,
) {
  test(name, async (t: TestContext) => {
    const database = await create(kind)
    if (!database) return t.skip(`${kind} is not reachable locally`)
    try {
      await body(database)
    } finally {
      await database.drop()
    }
  })
}

const quoted = (kind: DatabaseKind) => table(kind)

for (const kind of databaseKinds()) {
  describe(`doctor on the fastapi-users 12.1.2 database (${kind})`, () => {
    let database: TestDatabase | null = null
    before(async () => {
      database = await createFastapiUsersDatabase(kind)
    })
    after(() => database?.drop())
    const it = (name: string, body: (database: TestDatabase) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!database) return t.skip(`${kind} is not reachable locally`)
        await body(database)
      })

    it('reports it ready to adopt, and changes nothing', async (database) => {
      const before = await snapshot(database)
      const digest = kind === 'sqlite' ? fileDigest(database) : null
      const report = await inspect(database)

      assert.equal(report.ready, true)
      assert.deepEqual(report.table, { name: 'user', exists: true, rows: 5, idType: 'uuid' })
      assert.deepEqual(
        report.columns.map((c) => [c.name, c.role, c.severity]),
        [
          ['email', 'base', 'ok'],
          ['hashed_password', 'base', 'ok'],
          ['is_active', 'base', 'ok'],
          ['is_superuser', 'base', 'ok'],
          ['is_verified', 'base', 'ok'],
          ['id', 'base', 'ok'],
          ['first_name', 'field', 'ok'],
        ],
      )
      const id = report.columns.find((c) => c.name === 'id')
      assert.equal(id?.found?.type, kind === 'postgres' ? 'uuid' : 'char(36)')
      assert.deepEqual(report.users, {
        total: 5,
        active: 4,
        superusers: 1,
        verified: 2,
        hashes: { current: 0, bcrypt: 5, argon2Other: 0, unrecognised: 0 },
        legacy: 5,
        emailsDifferingInCase: 0,
        nonCanonicalIds: 0,
      })
      const email = report.indexes.find((i) => i.name === 'ix_user_email')
      assert.deepEqual([email?.severity, email?.found?.unique, email?.found?.columns], ['ok', true, ['email']])
      if (kind === 'mariadb') {
        assert.equal(report.indexes.find((i) => i.name === 'email collation')?.severity, 'ok')
      } else {
        assert.equal(report.indexes.find((i) => i.name === 'ix_user_email_lower')?.severity, 'note')
      }
      const { migrations } = report
      assert.deepEqual([migrations.tableExists, migrations.applied, migrations.unknown], [false, [], []])
      assert.equal(migrations.pending[0], '0001-user')
      assert.deepEqual(migrations.wouldDo.slice(0, kind === 'mariadb' ? 2 : 3), [
        'create the tables kysely_migration and kysely_migration_lock',
        ...(kind === 'mariadb' ? [] : ['create the unique index ix_user_email_lower on lower(email)']),
        'record 0001-user in kysely_migration',
      ])
      assert.ok(!migrations.wouldDo.some((change) => /create the table "user"|add the column/.test(change)))
      assert.ok(report.findings.some((f) => f.severity === 'note' && /5 of 5 user\(s\) have legacy/.test(f.message)))
      assert.ok(!report.findings.some((f) => f.severity === 'blocker' || f.severity === 'warning'), 'no warnings')

      assert.deepEqual(await snapshot(database), before)
      if (digest) {
        assert.equal(fileDigest(database), digest, 'the SQLite file is byte for byte the same')
        assert.equal(existsSync(`${sqliteFile(database.url)}-wal`), false)
      }
    })

    it('without the app’s fields, first_name is a custom column to declare, with its defineUserFields entry', async (database) => {
      const report = await inspect(database, {})
      const firstName = report.columns.find((c) => c.name === 'first_name')
      assert.deepEqual(
        [firstName?.role, firstName?.severity, firstName?.declaration],
        ['undeclared', 'warning', "first_name: { schema: Type.String(), nullable: true, column: 'text' }"],
      )
      assert.equal(report.ready, true, 'an undeclared nullable column does not block')
    })

    it('integer ids declared on its UUID ids: the id column is a blocker naming USER_ID_TYPE=uuid', async (database) => {
      const report = await inspect(database, userFields, { idType: 'integer' })
      assert.deepEqual([report.ready, report.idType, report.table.idType], [false, 'integer', 'uuid'])
      const found = kind === 'postgres' ? 'uuid' : 'char\\(36\\)'
      const blockers = report.findings.filter((f) => f.severity === 'blocker')
      assert.deepEqual(
        blockers.map((f) => f.subject),
        ['column id'],
      )
      assert.match(
        blockers[0]?.message ?? '',
        new RegExp(
          `^is ${found}, expected integer NOT NULL: UUID ids \\(fastapi-users’ default\\), while the app declares ` +
            `integer ones\\. Set USER_ID_TYPE=uuid \\(idType: 'uuid'\\)$`,
        ),
      )
    })

    it('the CLI prints the report and exits 0', async (database) => {
      const { code, output } = await doctor(database.url)
      assert.equal(code, 0, output)
      assert.match(output, /Table "user": 5 user\(s\)/)
      assert.match(output, /ok\s+first_name\s+text NULL\s+custom field, declared/)
      assert.match(output, /defineUserFields entry: first_name: \{ schema: Type\.String\(\), nullable: true/)
      assert.match(output, /password hashes: 0 argon2id \(current\), 5 legacy \(5 bcrypt/)
      assert.match(output, /Migrations: kysely_migration absent; pending 0001-user\b/)
      assert.match(output, /Ready: yes/)
      assert.doesNotMatch(output, /SECRET/, 'SECRET is set')
      const unset = await doctor(database.url, { SECRET: '' })
      assert.match(unset.output, /WARNING\s+SECRET:\s+is not set: keep the SECRET your fastapi-users app used/)
      assert.equal(unset.code, 0)
    })

    it('after the service adopted it and one user logged in: nothing pending, one hash upgraded', async (database) => {
      const app = await buildApp(loadConfig({ DATABASE_URL: database.url, SECRET, LOG_LEVEL: 'silent' }), {
        logger: false,
      })
      try {
        assert.equal((await client(app).login(ALICE.email, ALICE.password)).statusCode, 200)
      } finally {
        await app.close()
      }
      const report = await inspect(database)
      assert.equal(report.ready, true)
      const { migrations } = report
      assert.deepEqual([migrations.tableExists, migrations.pending, migrations.unknown], [true, [], []])
      assert.equal(migrations.applied[0], '0001-user')
      assert.deepEqual(migrations.wouldDo, [])
      assert.deepEqual(report.users?.hashes, { current: 1, bcrypt: 4, argon2Other: 0, unrecognised: 0 })
      assert.ok(report.indexes.every((i) => i.severity === 'ok'))
      assert.deepEqual(
        report.findings.map((f) => f.subject),
        ['users'],
      )
      assert.match(formatDoctorReport(report), /running them would change nothing/)
    })
  })

  describe(`doctor on the fastapi-users 12.1.2 database with integer ids and its own table names (${kind})`, () => {
    let database: TestDatabase | null = null
    before(async () => {
      database = await createIntIdsDatabase(kind)
    })
    after(() => database?.drop())
    const it = (name: string, body: (database: TestDatabase) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!database) return t.skip(`${kind} is not reachable locally`)
        await body(database)
      })
    const INTEGER = kind === 'mariadb' ? 'int(11)' : 'integer'
    const ITS_MODEL = { idType: 'integer', tables: { user: 'users', accessToken: 'access_tokens' } } as const
    const contents = async (database: TestDatabase) => ({
      tables: await listTables(database),
      users: await query(database, 'SELECT * FROM users ORDER BY id'),
      tokens: await query(database, 'SELECT * FROM access_tokens ORDER BY token'),
    })

    it('with its settings (integer ids, users, access_tokens): ready to adopt, what it found, and nothing changed', async (database) => {
      const before = await contents(database)
      const digest = kind === 'sqlite' ? fileDigest(database) : null
      const report = await inspect(database, userFields, ITS_MODEL)

      assert.equal(report.ready, true)
      assert.equal(report.idType, 'integer')
      assert.deepEqual(report.table, { name: 'users', exists: true, rows: 5, idType: 'integer' })
      assert.deepEqual(
        report.columns.map((c) => [c.name, c.role, c.severity, c.found?.type]),
        [
          ['email', 'base', 'ok', 'varchar(320)'],
          ['hashed_password', 'base', 'ok', 'varchar(1024)'],
          ['is_active', 'base', 'ok', kind === 'mariadb' ? 'tinyint(1)' : 'boolean'],
          ['is_superuser', 'base', 'ok', kind === 'mariadb' ? 'tinyint(1)' : 'boolean'],
          ['is_verified', 'base', 'ok', kind === 'mariadb' ? 'tinyint(1)' : 'boolean'],
          ['id', 'base', 'ok', INTEGER],
          ['first_name', 'field', 'ok', 'text'],
        ],
      )
      assert.deepEqual(report.users, {
        total: 5,
        active: 4,
        superusers: 1,
        verified: 3,
        hashes: { current: 0, bcrypt: 5, argon2Other: 0, unrecognised: 0 },
        legacy: 5,
        emailsDifferingInCase: 0,
        nonCanonicalIds: 0,
      })
      assert.deepEqual(report.linkedTables, {
        accessToken: { name: 'access_tokens', exists: true, rows: 4, userIdType: INTEGER },
        oauthAccount: { name: 'oauth_account', exists: false, rows: null, userIdType: null },
      })
      assert.equal(report.indexes.find((i) => i.name === 'ix_users_email')?.severity, 'ok')
      assert.deepEqual(report.otherTables, {
        alembic: false,
        lookalikes: [],
        accessTokenLookalikes: [],
        oauthAccountLookalikes: [],
      })

      const { wouldDo } = report.migrations
      for (const change of [
        'record 0001-user in kysely_migration',
        'keep the table "access_tokens" and its 4 row(s) as they are',
        'create the table refresh_token (user_id integer)',
        'create the table "oauth_account" (user_id integer)',
        'create the table rate_limit',
        'create the tables totp_secret, recovery_code, login_ticket and step_up (user_id integer)',
        'create the tables passkey and passkey_challenge (user_id integer)',
        'create the table login_identity (field, identity_key, user_id integer): the keys of the login identifiers ' +
          'besides the e-mail (a username), empty until the app names some',
      ]) {
        assert.ok(wouldDo.includes(change), change)
      }
      assert.ok(!wouldDo.some((change) => /create the table "users"|add the column/.test(change)))

      assert.deepEqual(
        report.findings.filter((f) => f.severity !== 'note'),
        [],
      )
      const notes = report.findings.map((f) => [f.subject, f.message])
      assert.ok(
        notes.some(
          ([subject, message]) =>
            subject === 'users' &&
            /^5 of 5 user\(s\) have legacy password hashes \(5 bcrypt, 0 argon2 with other parameters\): they log in with them as they are, and each is replaced by an argon2id hash at that user’s next successful login$/.test(
              message ?? '',
            ),
        ),
      )
      assert.ok(
        notes.some(
          ([subject, message]) =>
            subject === 'table access_tokens' &&
            message ===
              `4 token(s) fastapi-users’ database strategy wrote (user_id ${INTEGER}): the table is adopted as it ` +
                'is, and they keep working on a database-strategy backend',
        ),
      )
      const printed = formatDoctorReport(report)
      assert.match(printed, /Table "users": 5 user\(s\), integer ids/)
      assert.match(
        printed,
        new RegExp(`Table "access_tokens": 4 row\\(s\\), user_id ${INTEGER.replace(/[()]/g, '\\$&')}`),
      )
      assert.match(printed, /Ready: yes/)

      assert.deepEqual(await contents(database), before)
      if (digest) assert.equal(fileDigest(database), digest, 'the SQLite file is byte for byte the same')
    })

    it('with the default settings: not just "no user table", a blocker naming the settings that adopt it', async (database) => {
      const report = await inspect(database)
      assert.equal(report.ready, false)
      assert.deepEqual(report.table, { name: 'user', exists: false, rows: null, idType: null })
      assert.deepEqual(report.otherTables, {
        alembic: false,
        lookalikes: ['users'],
        accessTokenLookalikes: ['access_tokens'],
        oauthAccountLookalikes: [],
      })
      const blockers = report.findings.filter((f) => f.severity === 'blocker')
      assert.deepEqual(
        blockers.map((f) => f.subject),
        ['table user'],
      )
      assert.equal(
        blockers[0]?.message,
        'there is no table "user", but "users" has fastapi-users\' columns (its user table, with integer ids, as ' +
          'IntegerIDMixin makes them), and "access_tokens" is shaped like its access-token table (database ' +
          'strategy, integer user_id): fastify-users reads the table named "user" and would create a second, empty ' +
          'one beside it. Adopt them as they are with USER_TABLE=users USER_ID_TYPE=integer ' +
          "ACCESS_TOKEN_TABLE=access_tokens (in the library: tables: { user: 'users', accessToken: 'access_tokens' }, " +
          "idType: 'integer'), or point DATABASE_URL at the right database.",
      )

      const { code, output } = await doctor(database.url)
      assert.equal(code, 1)
      assert.match(output, /BLOCKER\s+table user:\s+there is no table "user", but "users" has fastapi-users' columns/)
      assert.match(output, /USER_TABLE=users USER_ID_TYPE=integer ACCESS_TOKEN_TABLE=access_tokens/)
    })

    it('its tables named but uuid ids declared: the id column and access_tokens.user_id name USER_ID_TYPE=integer', async (database) => {
      const report = await inspect(database, userFields, { tables: ITS_MODEL.tables })
      assert.deepEqual([report.ready, report.idType, report.table.idType], [false, 'uuid', 'integer'])
      assert.equal(report.users?.nonCanonicalIds, 0, 'integers are not UUIDs to canonicalise')
      const expected = kind === 'postgres' ? 'uuid' : 'char(36)'
      assert.deepEqual(
        report.findings.filter((f) => f.severity === 'blocker').map((f) => [f.subject, f.message]),
        [
          [
            'column id',
            `is ${INTEGER}, expected ${expected} NOT NULL: integer ids (fastapi-users’ IntegerIDMixin), while the app ` +
              "declares uuid ones. Set USER_ID_TYPE=integer (idType: 'integer')",
          ],
          [
            'table access_tokens',
            `user_id is ${INTEGER}, while the app declares uuid ids: set USER_ID_TYPE=integer (idType: 'integer') ` +
              'if the user table’s ids are integer too.',
          ],
        ],
      )
    })

    it('the user table named but not the access-token table: a warning naming ACCESS_TOKEN_TABLE', async (database) => {
      const report = await inspect(database, userFields, { idType: 'integer', tables: { user: 'users' } })
      assert.equal(report.ready, true)
      assert.deepEqual(report.otherTables.accessTokenLookalikes, ['access_tokens'])
      const warnings = report.findings.filter((f) => f.severity === 'warning')
      assert.deepEqual(
        warnings.map((f) => [f.subject, f.message]),
        [
          [
            'table accesstoken',
            'there is no table "accesstoken", but "access_tokens" is shaped like fastapi-users’ access-token table (database ' +
              "strategy, integer user_id): with ACCESS_TOKEN_TABLE=access_tokens (tables: { accessToken: 'access_tokens' }) " +
              'its tokens keep working on a database-strategy backend; without it the migrations create an empty ' +
              '"accesstoken" and those sessions end',
          ],
        ],
      )
      assert.ok(report.migrations.wouldDo.includes('create the table "accesstoken" (user_id integer)'))
    })
  })

  describe(`doctor on other databases (${kind})`, () => {
    withDatabase(
      kind,
      'an OAuth-account table of its own name (oauth_accounts): named in the blocker, a warning, then adopted',
      createIntIdsDatabase,
      async (database) => {
        // SQLAlchemyBaseOAuthAccountTable[int], as SQLAlchemy creates it there.
        const id = kind === 'postgres' ? 'SERIAL' : kind === 'mariadb' ? 'INTEGER NOT NULL AUTO_INCREMENT' : 'INTEGER'
        await runStatements(database, [
          `CREATE TABLE oauth_accounts (id ${id}, oauth_name VARCHAR(100) NOT NULL, access_token VARCHAR(1024) NOT NULL,
            expires_at INTEGER, refresh_token VARCHAR(1024), account_id VARCHAR(320) NOT NULL,
            account_email VARCHAR(320) NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (id),
            FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE cascade)`,
        ])
        const INTEGER = kind === 'mariadb' ? 'int(11)' : 'integer'
        const defaults = await inspect(database)
        assert.deepEqual(defaults.otherTables.oauthAccountLookalikes, ['oauth_accounts'])
        assert.match(
          defaults.findings.find((f) => f.severity === 'blocker')?.message ?? '',
          /, and "oauth_accounts" is shaped like its OAuth-account table \(integer user_id\): .* with USER_TABLE=users USER_ID_TYPE=integer ACCESS_TOKEN_TABLE=access_tokens OAUTH_ACCOUNT_TABLE=oauth_accounts \(in the library: tables: \{ user: 'users', accessToken: 'access_tokens', oauthAccount: 'oauth_accounts' \}, idType: 'integer'\)/,
        )

        const tables = { user: 'users', accessToken: 'access_tokens' }
        const unnamed = await inspect(database, userFields, { idType: 'integer', tables })
        assert.equal(unnamed.ready, true)
        assert.deepEqual(
          unnamed.findings.filter((f) => f.severity === 'warning').map((f) => [f.subject, f.message]),
          [
            [
              'table oauth_account',
              'there is no table "oauth_account", but "oauth_accounts" is shaped like fastapi-users’ OAuth-account ' +
                "table (integer user_id): with OAUTH_ACCOUNT_TABLE=oauth_accounts (tables: { oauthAccount: 'oauth_accounts' }) " +
                'its users keep signing in with their providers; without it the migrations create an empty ' +
                '"oauth_account" and those links are lost',
            ],
          ],
        )

        const named = await inspect(database, userFields, {
          idType: 'integer',
          tables: { ...tables, oauthAccount: 'oauth_accounts' },
        })
        assert.equal(named.ready, true)
        assert.deepEqual(named.linkedTables.oauthAccount, {
          name: 'oauth_accounts',
          exists: true,
          rows: 0,
          userIdType: INTEGER,
        })
        assert.deepEqual(
          named.findings.filter((f) => f.severity !== 'note'),
          [],
        )
        assert.ok(named.migrations.wouldDo.includes('keep the table "oauth_accounts" and its 0 row(s) as they are'))
      },
    )

    withDatabase(
      kind,
      'an empty database: the table missing, 0001-user pending, ready (with a warning)',
      async (kind) => {
        const database = await createTestDatabase(kind)
        if (database?.kind === 'sqlite') new SQLite(sqliteFile(database.url)).close()
        return database
      },
      async (database) => {
        const report = await inspect(database)
        assert.deepEqual(report.table, { name: 'user', exists: false, rows: null, idType: null })
        assert.deepEqual([report.columns, report.indexes, report.users], [[], [], null])
        assert.equal(report.migrations.pending[0], '0001-user')
        assert.equal(report.migrations.tableExists, false)
        assert.ok(
          report.migrations.wouldDo.includes(
            `create the table "user" (id ${kind === 'postgres' ? 'uuid' : 'char(36)'})`,
          ),
        )
        assert.ok(report.migrations.wouldDo.includes('add the column first_name text NULL'))
        assert.deepEqual(
          report.findings.map((f) => [f.severity, f.subject]),
          [
            ['warning', 'table user'],
            ['note', 'migrations'],
          ],
        )
        assert.equal(report.ready, true)
        const { code, output } = await doctor(database.url)
        assert.equal(code, 0)
        assert.match(output, /Table "user": missing/)
        assert.deepEqual(await listTables(database), [], 'still empty')
      },
    )

    withDatabase(
      kind,
      'blockers: a missing base column, e-mails differing only in case; hashes it cannot verify; exit 1',
      createFastapiUsersDatabase,
      async (database) => {
        const t = quoted(kind)
        const statements = [
          `ALTER TABLE ${t} DROP COLUMN is_verified`,
          `UPDATE ${t} SET hashed_password = ? WHERE email = 'dave@example.com'`,
          `UPDATE ${t} SET hashed_password = ? WHERE email = 'carol@example.com'`,
        ]
        const params: unknown[][] = [
          [],
          ['$pbkdf2-sha256$29000$N2bMuTcmxJgzRsjZm9P6Xw$6kHUqLz1Y0ZVhP2bF1yP0dd4bHb9x5K5n9JZgfJ0sXk'],
          ['$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$0000000000000000000000000000000000000000000'],
        ]
        // MariaDB's case-insensitive ix_user_email refuses such a duplicate; the others store it.
        if (kind !== 'mariadb') {
          statements.push(
            `INSERT INTO ${t} (email, hashed_password, is_active, is_superuser, id) VALUES (?, ?, ?, ?, ?)`,
          )
          params.push([
            'ALICE@example.com',
            '$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0',
            kind === 'postgres' ? true : 1,
            kind === 'postgres' ? false : 0,
            '0f0e0d0c-0b0a-4909-8807-060504030201',
          ])
        }
        await runStatements(database, statements, params)
        const before = await snapshot(database)

        const report = await inspect(database)
        assert.equal(report.ready, false)
        const verified = report.columns.find((c) => c.name === 'is_verified')
        assert.deepEqual([verified?.severity, verified?.found], ['blocker', null])
        assert.deepEqual(report.users?.hashes, {
          current: 0,
          bcrypt: kind === 'mariadb' ? 3 : 4,
          argon2Other: 1,
          unrecognised: 1,
        })
        assert.equal(report.users?.emailsDifferingInCase, kind === 'mariadb' ? 0 : 1)
        assert.ok(
          report.findings.some((f) => f.severity === 'warning' && /1 user\(s\) have password hashes/.test(f.message)),
        )
        const blockers = report.findings.filter((f) => f.severity === 'blocker').map((f) => f.subject)
        assert.deepEqual(blockers, kind === 'mariadb' ? ['column is_verified'] : ['column is_verified', 'users'])

        const { code, output } = await doctor(database.url)
        assert.equal(code, 1)
        assert.match(output, /BLOCKER\s+is_verified\s+missing/)
        assert.match(output, /Ready: no, \d blocker\(s\) to fix first/)
        assert.deepEqual(await snapshot(database), before, 'nothing changed')
      },
    )

    withDatabase(
      kind,
      'a user table renamed (fastapi-users’ __tablename__ = "users") blocks: the service would start on an empty one',
      createFastapiUsersDatabase,
      async (database) => {
        await runStatements(database, [
          `ALTER TABLE ${quoted(kind)} RENAME TO users`,
          'CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)',
        ])
        const report = await inspect(database)
        assert.deepEqual(
          [report.table.exists, report.otherTables, report.ready],
          [
            false,
            { alembic: true, lookalikes: ['users'], accessTokenLookalikes: [], oauthAccountLookalikes: [] },
            false,
          ],
        )
        assert.ok(report.findings.some((f) => f.severity === 'note' && f.subject === 'alembic_version'))
        assert.match(report.findings.find((f) => f.severity === 'blocker')?.message ?? '', /"users" has fastapi-users/)
      },
    )

    withDatabase(
      kind,
      'issue #13: doctor explains 0005-identity and lists users sharing one e-mail identity; the migration keeps them',
      createFastapiUsersDatabase,
      async (database) => {
        // Ü and ü: one identity, which SQLite's ASCII lower() and ix_user_email both missed. MariaDB's
        // case-insensitive ix_user_email refuses the pair, so there the table holds no such rows.
        const ids = ['0a000000-0000-4000-8000-000000000001', '0b000000-0000-4000-8000-000000000002']
        if (kind !== 'mariadb') {
          const insert = `INSERT INTO ${quoted(kind)} (email, hashed_password, is_active, is_superuser, is_verified, id) VALUES (?, ?, ?, ?, ?, ?)`
          const flag = (v: boolean) => (kind === 'postgres' ? v : Number(v))
          await runStatements(
            database,
            [insert, insert],
            ids.map((id, i) => [
              i === 0 ? 'Ünal@example.com' : 'ünal@example.com',
              '$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0',
              flag(true),
              flag(false),
              flag(false),
              id,
            ]),
          )
        }
        const report = await inspect(database)
        const wouldDo = report.migrations.wouldDo.join('\n')
        assert.match(wouldDo, /create the table email_identity \(email_key varchar\(64\) primary key, user_id unique\)/)
        assert.match(wouldDo, /the user table’s rows and columns stay as they are/)
        if (kind === 'mariadb') assert.match(wouldDo, /change the collation of user\.email, .* to utf8mb4_nopad_bin/)
        else assert.match(wouldDo, /drop the index ix_user_email_lower/)
        assert.match(formatDoctorReport(report), /would create the table email_identity/)
        if (kind === 'mariadb') return assert.deepEqual(report.identity, { collisions: [], unkeyed: null })

        assert.deepEqual(report.identity, { collisions: [ids], unkeyed: null })
        const shared = report.findings.find((f) => /e-mail identity is shared/.test(f.message))
        assert.equal(shared?.severity, 'warning')
        assert.match(shared?.message ?? '', new RegExp(`${ids[0]} = ${ids[1]}`))

        // PostgreSQL's lower() folds Ü too: 0001's ix_user_email_lower cannot be created, the blocker it was.
        if (kind === 'postgres') return assert.equal(report.users?.emailsDifferingInCase, 1)
        // Migrated: the first by id keeps the identity, the other is reported as having none.
        const app = await buildApp(loadConfig({ DATABASE_URL: database.url, SECRET, LOG_LEVEL: 'silent' }), {
          logger: false,
        })
        await app.close()
        const after = await inspect(database)
        assert.deepEqual(after.identity, { collisions: [ids], unkeyed: 1 })
        assert.ok(
          after.findings.some(
            (f) => f.severity === 'warning' && /1 user\(s\) have no row in email_identity/.test(f.message),
          ),
        )

        // A user another program wrote since (fastapi-users after a rollback) gets its identity at the next start.
        const late = '0c000000-0000-4000-8000-000000000003'
        await runStatements(
          database,
          [
            `INSERT INTO ${quoted(kind)} (email, hashed_password, is_active, is_superuser, is_verified, id) VALUES (?, ?, ?, ?, ?, ?)`,
          ],
          [['Late@example.com', '$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0', 1, 0, 0, late]],
        )
        assert.equal((await inspect(database)).identity.unkeyed, 2)
        const again = await buildApp(loadConfig({ DATABASE_URL: database.url, SECRET, LOG_LEVEL: 'silent' }), {
          logger: false,
        })
        await again.close()
        assert.deepEqual((await inspect(database)).identity, { collisions: [ids], unkeyed: 1 })
      },
    )
  })
}

describe('doctor, the pieces', () => {
  const column = (name: string, type: string, nullable: boolean, hasDefault = false): ColumnInfo => ({
    name,
    type,
    family: familyOf(type),
    maxLength: /char/.test(type) ? Number(/\((\d+)\)/.exec(type)?.[1]) : null,
    nullable,
    hasDefault,
    collation: null,
  })

  test('rough types, as each database spells them', () => {
    const cases = {
      uuid: 'uuid',
      'char(36)': 'string',
      'varchar(320)': 'string',
      text: 'string',
      longtext: 'string',
      boolean: 'boolean',
      bool: 'boolean',
      'tinyint(1)': 'boolean',
      'tinyint(4)': 'integer',
      integer: 'integer',
      bigint: 'integer',
      'int(11)': 'integer',
      'double precision': 'number',
      'numeric(10,2)': 'number',
      'timestamp with time zone': 'datetime',
      'datetime(6)': 'datetime',
      jsonb: 'json',
      bytea: 'other',
    }
    for (const [type, family] of Object.entries(cases)) assert.equal(familyOf(type), family, type)
  })

  test('the defineUserFields entry for a column', () => {
    assert.equal(
      declarationFor(column('first_name', 'text', true)),
      "first_name: { schema: Type.String(), nullable: true, column: 'text' }",
    )
    assert.equal(
      declarationFor(column('nickname', 'varchar(100)', false)),
      "nickname: { schema: Type.String({ maxLength: 100 }), onCreate: 'required' }",
    )
    assert.equal(
      declarationFor(column('newsletter', 'tinyint(1)', false, true)),
      "newsletter: { schema: Type.Boolean(), column: 'boolean' }",
    )
    assert.equal(
      declarationFor(column('age', 'integer', true)),
      "age: { schema: Type.Integer(), nullable: true, column: 'integer' }",
    )
    assert.equal(
      declarationFor(column('zip-code', 'varchar(255)', true)),
      "'zip-code': { schema: Type.String({ maxLength: 255 }), nullable: true, column: 'varchar(255)' }",
    )
  })
})

describe('doctor, the command', () => {
  test('exits 1 from the shell on a blocker, and reports a SQLite file that does not exist without creating it', async (t) => {
    const database = await createFastapiUsersDatabase('sqlite')
    if (!database) return t.skip('no SQLite')
    try {
      await runStatements(database, ['ALTER TABLE user DROP COLUMN hashed_password'])
      const run = promisify(execFile)
      await assert.rejects(
        run('node', ['bin/fastify-users.mjs', 'doctor'], {
          env: { ...process.env, DATABASE_URL: database.url, SECRET },
        }),
        (error: { code: number; stdout: string }) => {
          assert.equal(error.code, 1)
          assert.match(error.stdout, /BLOCKER\s+hashed_password\s+missing/)
          return true
        },
      )
      const missing = join(dirname(sqliteFile(database.url)), 'nowhere', 'users.sqlite')
      const { code, output } = await doctor(`sqlite:${missing}`)
      assert.equal(code, 1)
      assert.match(output, /does not exist/)
      assert.equal(existsSync(missing), false)
      assert.equal(existsSync(dirname(missing)), false)
    } finally {
      await database.drop()
    }
  })

  test('never prints a database password', async () => {
    assert.equal(
      redactUrl('postgres://app:s3cret@db.example.com:5432/users'),
      'postgres://app:***@db.example.com:5432/users',
    )
    const { code, output } = await doctor('postgres://app:s3cret@127.0.0.1:1/users', { DATABASE_TIMEOUT_MS: '500' })
    assert.equal(code, 1)
    assert.doesNotMatch(output, /s3cret/)
    // an unreachable database is one line naming its host and port, never its URL
    assert.equal(output, 'cannot reach the database at 127.0.0.1:1: connection refused')
  })
})
