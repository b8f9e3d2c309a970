import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import { USAGE } from '../../src/cli/index.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'
import { columnNames, createIntIdsDatabase, query, table } from '../support/fastapi-users.js'
import { ALL_MIGRATIONS_APPLIED } from '../support/migrations.js'
import { freePort } from '../support/ports.js'
import { REPOSITORY, runNode } from '../support/processes.js'

// fastify-users' command line as a library user runs it (`npx fastify-users …`): from the user's own
// directory, on the user's own configuration, never the reference service's user model.

const BIN = join(REPOSITORY, 'bin/fastify-users.mjs')
const FIXTURES = join(REPOSITORY, 'test/fixtures/cli')
const BASE_COLUMNS = ['email', 'hashed_password', 'id', 'is_active', 'is_superuser', 'is_verified']
const ALL_MIGRATIONS = ALL_MIGRATIONS_APPLIED
const HINT = 'run "fastify-users --help" for usage'

let project: string
before(() => {
  project = mkdtempSync(join(tmpdir(), 'fastify-users-consumer-'))
})
after(() => rmSync(project, { recursive: true, force: true }))

/** The CLI run in a consumer's directory (no configuration file there unless a test writes one), no DATABASE_URL. */
const cli = (args: string[], env: Record<string, string | undefined> = {}, cwd = project) =>
  runNode([BIN, ...args], { cwd, env: { DATABASE_URL: undefined, SECRET: undefined, ...env } })

const sorted = (names: string[]) => [...names].sort()

for (const kind of databaseKinds()) {
  describe(`migrate on the consumer's configuration (${kind})`, () => {
    let database: TestDatabase | null = null
    const skip = (t: TestContext) => {
      if (!database) t.skip(`${kind} is not reachable`)
      return !database
    }
    before(async () => {
      database = await createTestDatabase(kind)
    })
    after(() => database?.drop())

    test('a configuration with no custom field: the user table has exactly the base columns, no first_name', async (t) => {
      if (skip(t) || !database) return
      const config = join(FIXTURES, 'no-fields.config.mjs')
      const result = await cli(['migrate', '--config', config], { APP_DATABASE_URL: database.url })
      assert.deepEqual(result, { code: 0, stdout: `${ALL_MIGRATIONS}; columns added: none\n`, stderr: '' })
      assert.deepEqual(sorted(await columnNames(database)), BASE_COLUMNS)
    })

    test('a TypeScript configuration declaring nickname adds exactly that column, and create-superuser fills it', async (t) => {
      if (skip(t) || !database) return
      const config = join(FIXTURES, 'nickname.config.ts')
      const migrated = await cli(['migrate', '--config', config], { DATABASE_URL: database.url })
      assert.deepEqual(migrated, {
        code: 0,
        stdout: 'migrations applied: none; columns added: nickname\n',
        stderr: '',
      })
      assert.deepEqual(sorted(await columnNames(database)), sorted([...BASE_COLUMNS, 'nickname']))

      const refused = await cli(
        ['create-superuser', '--config', config, '--email', 'ada@example.com', '--password', 'too-short'],
        { DATABASE_URL: database.url },
      )
      assert.deepEqual([refused.code, refused.stderr], [1, 'failed: Password should be at least 12 characters\n'])

      const created = await cli(
        ['create-superuser', '--config', config, '--email', 'Ada@Example.com', '--nickname', 'Countess'],
        { DATABASE_URL: database.url, FIRST_SUPERUSER_PASSWORD: 'analytical-engine' },
      )
      assert.equal(created.code, 0, created.stderr)
      assert.match(
        created.stdout,
        /^migrations applied: none; columns added: none\nsuperuser created: Ada@example\.com \(/,
      )
      const [row] = await query(database, `SELECT * FROM ${table(kind)} WHERE email = ?`, ['Ada@example.com'])
      assert.deepEqual(
        [row?.nickname, Boolean(row?.is_superuser), Boolean(row?.is_verified), Boolean(row?.is_active)],
        ['Countess', true, true, true],
      )
    })
  })
}

describe('where the configuration comes from', () => {
  test('DATABASE_URL alone, no file: no custom fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastify-users-consumer-'))
    try {
      const result = await cli(['migrate'], { DATABASE_URL: `sqlite:${join(dir, 'app.sqlite')}` }, dir)
      assert.deepEqual(result, { code: 0, stdout: `${ALL_MIGRATIONS}; columns added: none\n`, stderr: '' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('fastify-users.config.mjs in the working directory, found without --config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastify-users-consumer-'))
    try {
      writeFileSync(
        join(dir, 'fastify-users.config.mjs'),
        `export default { databaseUrl: 'sqlite:./app.sqlite', fields: { plan: { schema: { type: 'string' }, column: 'varchar(255)' } } }\n`,
      )
      const result = await cli(['migrate'], {}, dir)
      assert.deepEqual(result, { code: 0, stdout: `${ALL_MIGRATIONS}; columns added: plan\n`, stderr: '' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('usage and bad arguments: exit 2, and nothing touches the database', () => {
  test('--help prints the usage on stdout, exit 0', async () => {
    assert.deepEqual(await cli(['--help']), { code: 0, stdout: `${USAGE}\n`, stderr: '' })
    assert.deepEqual(await cli(['migrate', '-h']), { code: 0, stdout: `${USAGE}\n`, stderr: '' })
    assert.match(USAGE, /^usage: fastify-users <command> \[--config <file>\] \[options\]\n/)
  })

  test('no command: the usage on stderr, exit 2', async () => {
    assert.deepEqual(await cli([]), { code: 2, stdout: '', stderr: `${USAGE}\n` })
  })

  test('an unknown command, an unknown option, a stray argument, a missing value', async () => {
    const url = `sqlite:${join(project, 'untouched.sqlite')}`
    const cases: [string[], string][] = [
      [['serve'], 'fastify-users: unknown command "serve"'],
      [['migrate', '--force'], 'fastify-users: unknown option --force'],
      [['migrate', 'now'], 'fastify-users: unexpected argument "now"'],
      [['doctor', '--email', 'a@example.com'], 'fastify-users: unknown option --email'],
      [['migrate', '--config'], 'fastify-users: option --config needs a value'],
      [
        ['create-superuser', '--email', 'a@example.com', '--first-name', 'Ada'],
        'fastify-users: unknown option --first-name',
      ],
      [
        ['create-superuser', '--email', 'a@example.com'],
        'fastify-users: create-superuser needs --email and --password (or FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD)',
      ],
    ]
    for (const [args, message] of cases) {
      assert.deepEqual(await cli(args, { DATABASE_URL: url }), { code: 2, stdout: '', stderr: `${message}\n${HINT}\n` })
    }
    assert.equal(existsSync(join(project, 'untouched.sqlite')), false)
  })

  test('no configuration at all, a missing file, a file with bad settings', async () => {
    assert.deepEqual(await cli(['migrate']), {
      code: 2,
      stdout: '',
      stderr:
        'no configuration: pass --config <file>, add fastify-users.config.js to this directory, or set DATABASE_URL\n',
    })
    assert.deepEqual(await cli(['migrate', '--config', './nope.mjs']), {
      code: 2,
      stdout: '',
      stderr: 'no configuration file ./nope.mjs\n',
    })
    const bad = join(project, 'bad.config.mjs')
    writeFileSync(bad, `export default { databaseURL: 'sqlite:x', fields: { nick: {} }, databaseTimeoutMs: -1 }\n`)
    assert.deepEqual(await cli(['migrate', '--config', bad]), {
      code: 2,
      stdout: '',
      stderr: `${bad}:\n  - unknown setting "databaseURL"\n  - fields.nick must have a schema\n  - databaseTimeoutMs must be a whole number of milliseconds\n`,
    })
    assert.deepEqual(await cli(['migrate'], { DATABASE_URL: 'oracle://db/x' }), {
      code: 2,
      stdout: '',
      stderr: 'the database URL must start with sqlite:, postgres:, postgresql:, mysql:, mariadb:\n',
    })
  })
})

describe('a database out of reach: one line naming it and the cause, exit 1', () => {
  for (const [scheme, command] of [
    ['postgres', 'migrate'],
    ['mysql', 'create-superuser'],
    ['postgres', 'doctor'],
  ] as const) {
    test(`${command} on ${scheme}`, async () => {
      const port = await freePort()
      const result = await cli([command], {
        DATABASE_URL: `${scheme}://user@127.0.0.1:${port}/app`,
        FIRST_SUPERUSER_EMAIL: 'root@example.com',
        FIRST_SUPERUSER_PASSWORD: 'root-password-123',
      })
      assert.deepEqual(result, {
        code: 1,
        stdout: '',
        stderr: `cannot reach the database at 127.0.0.1:${port}: connection refused\n`,
      })
    })
  }
})

for (const kind of databaseKinds()) {
  describe(`the user model from the environment alone, no configuration file (${kind})`, () => {
    let database: TestDatabase | null = null
    before(async () => {
      database = await createIntIdsDatabase(kind)
    })
    after(() => database?.drop())
    const model = { USER_ID_TYPE: 'integer', USER_TABLE: 'users', ACCESS_TOKEN_TABLE: 'access_tokens' }

    test('doctor reads the integer-id fixture as it is, then migrate adopts it and leaves its rows', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const plain = await cli(['doctor'], { DATABASE_URL: database.url })
      assert.equal(plain.code, 1)
      assert.match(plain.stdout, /USER_TABLE=users USER_ID_TYPE=integer ACCESS_TOKEN_TABLE=access_tokens/)
      const adopted = await cli(['doctor'], { DATABASE_URL: database.url, ...model })
      assert.equal(adopted.code, 0, adopted.stdout + adopted.stderr)
      assert.match(adopted.stdout, /Table "users": 5 user\(s\), integer ids/)
      assert.match(adopted.stdout, /Ready: yes/)
      const migrated = await cli(['migrate'], { DATABASE_URL: database.url, ...model })
      assert.equal(migrated.code, 0, migrated.stderr)
      const rows = await query(database, 'select count(*) as n from users')
      assert.equal(Number(rows[0]?.n), 5)
      assert.equal(await cli(['doctor'], { DATABASE_URL: database.url, ...model }).then((r) => r.code), 0)
    })

    test('a bad USER_ID_TYPE or table name is a configuration problem (exit 2), before any connection', async () => {
      const bad = await cli(['doctor'], { DATABASE_URL: 'postgres://u@127.0.0.1:1/x', USER_ID_TYPE: 'int' })
      assert.deepEqual([bad.code, bad.stdout], [2, ''])
      assert.match(bad.stderr, /userIdType must be "uuid" or "integer"/)
      const table = await cli(['migrate'], { DATABASE_URL: 'postgres://u@127.0.0.1:1/x', USER_TABLE: 'users; drop' })
      assert.deepEqual([table.code, table.stdout], [2, ''])
      assert.match(table.stderr, /tables.user must be a table name/)
    })
  })
}
