import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import Database from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { decodeJwt, SignJWT } from 'jose'
import { buildApp } from '../../server/app'
import { loadConfig } from '../../server/config'
import { client } from '../support/app'

// A database written by the real fastapi-users 12.1.2, and what is inside it.
const FIXTURES = new URL('../../../shared/fixtures/', import.meta.url)
const fixture = JSON.parse(readFileSync(new URL('fastapi-users-12.1.2.json', FIXTURES), 'utf8'))
type FixtureUser = { email: string; password: string; id: string; stored_email: string; first_name: string | null }
const user = (email: string): FixtureUser => fixture.users.find((u: FixtureUser) => u.email === email)

/** A token with the claims fastapi-users put in the fixture's, re-signed with the same secret and a fresh expiry. */
async function refreshed(token: string): Promise<string> {
  const { exp: _, ...claims } = decodeJwt(token)
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(fixture.secret))
}

describe('a database written by fastapi-users 12.1.2 (SQLite)', () => {
  let dir: string
  let file: string
  let app: FastifyInstance
  let api: ReturnType<typeof client>

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fastify-users-fixture-'))
    file = join(dir, 'fastapi-users.sqlite')
    copyFileSync(new URL('fastapi-users-12.1.2.sqlite', FIXTURES), file)
    app = await buildApp(loadConfig({ DATABASE_URL: `sqlite:${file}`, SECRET: fixture.secret, LOG_LEVEL: 'silent' }), {
      logger: false,
    })
    api = client(app)
  })
  after(async () => {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const storedHash = (id: string) =>
    (
      new Database(file, { readonly: true }).prepare('select hashed_password from user where id = ?').get(id) as {
        hashed_password: string
      }
    ).hashed_password

  test('every active user logs in with its passlib bcrypt hash, which is then upgraded to argon2id', async () => {
    for (const email of ['alice@example.com', 'Bob.Mixed@Example.com', 'carol@example.com', 'admin@example.com']) {
      const { id, password } = user(email)
      assert.match(storedHash(id), /^\$2b\$12\$/)
      const res = await api.login(email.toUpperCase(), password)
      assert.equal(res.statusCode, 200, email)
      assert.match(storedHash(id), /^\$argon2id\$/, email)
      assert.equal((await api.login(email, password)).statusCode, 200, `${email} after the upgrade`)
    }
  })

  test('the deactivated user is refused', async () => {
    const res = await api.login('dave@example.com', user('dave@example.com').password)
    assert.deepEqual([res.statusCode, res.json()], [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
  })

  test('users read back with their flags and first_name unchanged', async () => {
    const bob = user('Bob.Mixed@Example.com')
    const token = await api.token('bob.mixed@example.com', bob.password)
    const me = await api.get('/users/me', token)
    assert.deepEqual(me.json(), {
      id: bob.id,
      email: 'Bob.Mixed@example.com',
      is_active: true,
      is_superuser: false,
      is_verified: false,
      first_name: 'Bob',
    })
  })

  test('an access token with fastapi-users’ claims authenticates', async () => {
    const res = await api.get('/users/me', await refreshed(fixture.tokens.access_alice))
    assert.deepEqual([res.statusCode, res.json().id], [200, user('alice@example.com').id])
  })

  test('a verification token fastapi-users issued verifies carol', async () => {
    const res = await api.post('/auth/verify', { token: await refreshed(fixture.tokens.verify_carol) })
    assert.deepEqual([res.statusCode, res.json().is_verified], [200, true])
  })

  test('a reset token fastapi-users issued is dead once the password hash changed (here: by the upgrade)', async () => {
    const res = await api.post('/auth/reset-password', {
      token: await refreshed(fixture.tokens.reset_alice),
      password: 'another-long-pw',
    })
    assert.deepEqual([res.statusCode, res.json()], [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }])
  })
})

describe('a fastapi-users reset token on a database where the password is untouched', () => {
  test('is accepted: its fingerprint is a passlib hash of the stored hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastify-users-fixture-'))
    const file = join(dir, 'fastapi-users.sqlite')
    copyFileSync(new URL('fastapi-users-12.1.2.sqlite', FIXTURES), file)
    const app = await buildApp(
      loadConfig({ DATABASE_URL: `sqlite:${file}`, SECRET: fixture.secret, LOG_LEVEL: 'silent' }),
      { logger: false },
    )
    try {
      const api = client(app)
      const token = await refreshed(fixture.tokens.reset_alice)
      const res = await api.post('/auth/reset-password', { token, password: 'alice-new-password' })
      assert.deepEqual([res.statusCode, res.body], [200, 'null'])
      assert.equal((await api.login('alice@example.com', 'alice-new-password')).statusCode, 200)
      const again = await api.post('/auth/reset-password', { token, password: 'alice-third-password' })
      assert.deepEqual([again.statusCode, again.json()], [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }])
    } finally {
      await app.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
