/**
 * The manager's confirmed e-mail change without Fastify (issue #17 item 3): which updates ask
 * instead of writing, the hooks and their arguments, the token's claims and lifetime setting.
 * The routes, mails and sessions are in test/routes/email-change.test.ts.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { emailChangeFingerprint, emailChangeFingerprintMatches } from '../../src/core/email-change.js'
import { type BaseUser, EmailAlreadyExists, InvalidEmailChangeToken, UserManager } from '../../src/index.js'
import { createKyselyUserStore, type Database, migrateToLatest, openDatabase } from '../../src/kysely.js'

const SECRET = 'email-change-test-secret-0123456789abcdef'

test('the fingerprint binds the address and the password hash', () => {
  const fp = emailChangeFingerprint('a@example.com', '$argon2id$hash', SECRET)
  assert.ok(fp.startsWith('hmac-sha256:'))
  assert.equal(emailChangeFingerprintMatches(fp, 'a@example.com', '$argon2id$hash', SECRET), true)
  assert.equal(emailChangeFingerprintMatches(fp, 'b@example.com', '$argon2id$hash', SECRET), false)
  assert.equal(emailChangeFingerprintMatches(fp, 'a@example.com', '$argon2id$other', SECRET), false)
  assert.equal(emailChangeFingerprintMatches(fp, 'a@example.com', '$argon2id$hash', `${SECRET}x`), false)
  assert.equal(emailChangeFingerprintMatches('short', 'a@example.com', '$argon2id$hash', SECRET), false)
  // the parts cannot be shifted into one another
  assert.notEqual(fp, emailChangeFingerprint('a@example.com$argon2id', '$hash', SECRET))
})

test('emailChange must be immediate or confirm', () => {
  const store = createKyselyUserStore(openDatabase('sqlite::memory:'))
  assert.throws(
    () => new UserManager({ store, secret: SECRET, emailChange: 'later' as 'confirm' }),
    /`emailChange` must be one of immediate, confirm/,
  )
  assert.equal(new UserManager({ store, secret: SECRET }).emailChange, 'immediate')
})

describe('UserManager with emailChange: confirm', () => {
  let database: Database
  let manager: UserManager<BaseUser>
  const calls: unknown[][] = []

  before(async () => {
    database = openDatabase('sqlite::memory:')
    await migrateToLatest(database)
    manager = new UserManager<BaseUser>({
      store: createKyselyUserStore(database),
      secret: SECRET,
      emailChange: 'confirm',
      emailChangeToken: { lifetimeSeconds: 120 },
      hooks: {
        onAfterUpdate: (user, changes, ctx) => void calls.push(['update', user.email, changes, ctx.previousEmail]),
        onAfterRequestEmailChange: (user, newEmail, token) => void calls.push(['request', user.email, newEmail, token]),
      },
    })
  })
  after(() => database.close())

  test('a safe update asks for the new address; the token confirms it, verified; onAfterUpdate tells the old one', async () => {
    const user = await manager.create({ email: 'one@example.com', password: 'long-enough-pw' })
    calls.length = 0
    const kept = await manager.update(user, { email: 'One.New@Example.com' })
    assert.equal(kept.email, 'one@example.com')
    const [update, request] = calls
    assert.deepEqual(update, ['update', 'one@example.com', {}, undefined], 'the address is no change yet')
    assert.deepEqual(request?.slice(0, 3), ['request', 'one@example.com', 'One.New@example.com'])
    const token = request?.[3] as string
    const claims = decodeJwt(token)
    assert.equal(claims.aud, 'fastify-users:email-change')
    assert.equal((claims.exp as number) - Math.floor(Date.now() / 1000) <= 120, true)

    calls.length = 0
    const moved = await manager.confirmEmailChange(token)
    assert.deepEqual([moved.email, moved.is_verified], ['One.New@example.com', true])
    assert.deepEqual(calls, [['update', 'One.New@example.com', { email: 'One.New@example.com' }, 'one@example.com']])
    await assert.rejects(manager.confirmEmailChange(token), InvalidEmailChangeToken)
  })

  test('a superuser’s update (safe: false) writes the address at once', async () => {
    const user = await manager.create({ email: 'two@example.com', password: 'long-enough-pw' })
    calls.length = 0
    const moved = await manager.update(user, { email: 'two-new@example.com' }, { safe: false })
    assert.equal(moved.email, 'two-new@example.com')
    assert.deepEqual(calls, [['update', 'two-new@example.com', { email: 'two-new@example.com' }, 'two@example.com']])
  })

  test('a taken address is refused up front, with nothing written or mailed', async () => {
    const user = await manager.create({ email: 'three@example.com', password: 'long-enough-pw' })
    await manager.create({ email: 'taken@example.com', password: 'long-enough-pw' })
    calls.length = 0
    await assert.rejects(manager.update(user, { email: 'TAKEN@example.com' }), EmailAlreadyExists)
    assert.deepEqual(calls, [])
  })
})
