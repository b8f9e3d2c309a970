import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { ALL_MIGRATIONS_APPLIED } from '../support/migrations.js'
import { freePort } from '../support/ports.js'

const run = promisify(execFile)
let dir: string
let url: string

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fastify-users-cli-'))
  url = `sqlite:${join(dir, 'cli.sqlite')}`
})
after(() => rmSync(dir, { recursive: true, force: true }))

const cli = (args: string[], env: Record<string, string> = {}) =>
  run('node', ['bin/fastify-users.mjs', ...args], { env: { ...process.env, DATABASE_URL: url, ...env } })

test('migrate creates the fastapi-users table with the custom column', async () => {
  const { stdout } = await cli(['migrate'])
  assert.equal(stdout.split('\n')[0], `${ALL_MIGRATIONS_APPLIED}; columns added: first_name`)
  const db = new Database(join(dir, 'cli.sqlite'), { readonly: true })
  const columns = (db.prepare('pragma table_info(user)').all() as { name: string }[]).map((c) => c.name)
  db.close()
  assert.deepEqual(columns, [
    'email',
    'hashed_password',
    'is_active',
    'is_superuser',
    'is_verified',
    'id',
    'first_name',
  ])
  assert.match((await cli(['migrate'])).stdout, /migrations applied: none; columns added: none/)
})

test('create-superuser makes a verified superuser from the environment', async () => {
  const { stdout } = await cli(['create-superuser', '--first-name', 'Root'], {
    FIRST_SUPERUSER_EMAIL: 'Root@Example.com',
    FIRST_SUPERUSER_PASSWORD: 'root-password-123',
  })
  assert.match(stdout, /superuser created: Root@example.com/)
  const db = new Database(join(dir, 'cli.sqlite'), { readonly: true })
  const row = db.prepare('select * from user where email = ?').get('Root@example.com') as Record<string, unknown>
  db.close()
  assert.deepEqual([row.is_superuser, row.is_verified, row.is_active, row.first_name], [1, 1, 1, 'Root'])
  assert.match(String(row.hashed_password), /^\$argon2id\$/)
})

test('create-superuser hashes with PASSWORD_HASH: bcrypt $2b$ at BCRYPT_ROUNDS', async () => {
  const email = 'bcrypt-root@example.com'
  await cli(['create-superuser', '--email', email, '--password', 'root-password-123'], {
    PASSWORD_HASH: 'bcrypt',
    BCRYPT_ROUNDS: '10',
  })
  const db = new Database(join(dir, 'cli.sqlite'), { readonly: true })
  const row = db.prepare('select hashed_password from user where email = ?').get(email) as Record<string, unknown>
  db.close()
  assert.match(String(row.hashed_password), /^\$2b\$10\$/)
})

test('create-superuser reports a refused password and a duplicate, with a failing exit code', async () => {
  await assert.rejects(
    cli(['create-superuser', '--email', 'x@example.com', '--password', 'short']),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1)
      assert.match(error.stderr, /Password should be at least 8 characters/)
      return true
    },
  )
  await assert.rejects(
    cli(['create-superuser', '--email', 'root@example.com', '--password', 'another-root-pw']),
    (error: { stderr: string }) => /REGISTER_USER_ALREADY_EXISTS/.test(error.stderr),
  )
})

test('a bad configuration exits 2 with every problem listed', async () => {
  await assert.rejects(
    cli(['migrate'], { NODE_ENV: 'production', DATABASE_URL: 'oracle://x' }),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2)
      assert.match(error.stderr, /SECRET is required/)
      assert.match(error.stderr, /DATABASE_URL must start with/)
      return true
    },
  )
})

test('an unreachable database: one line naming it and the cause, exit 1', async () => {
  const port = await freePort()
  await assert.rejects(
    cli(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test` }),
    (error: { code: number; stdout: string; stderr: string }) => {
      assert.deepEqual(
        [error.code, error.stdout, error.stderr],
        [1, '', `cannot reach the database at 127.0.0.1:${port}: connection refused\n`],
      )
      return true
    },
  )
})

test('usage and unknown commands exit 2 before the configuration is read', async () => {
  const { stdout } = await cli(['--help'], { NODE_ENV: 'production' })
  assert.match(stdout, /^usage: fastify-users <command>/)
  await assert.rejects(cli(['serve'], { NODE_ENV: 'production' }), (error: { code: number; stderr: string }) => {
    assert.deepEqual(
      [error.code, error.stderr],
      [2, 'fastify-users: unknown command "serve"\nrun "fastify-users --help" for usage\n'],
    )
    return true
  })
})
