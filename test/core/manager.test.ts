import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import { type BaseUser, InvalidPasswordError, UserManager } from '../../src/index.js'
import { createKyselyUserStore, type Database, migrateToLatest, openDatabase } from '../../src/kysely.js'

type Call = [string, ...unknown[]]

describe('UserManager hooks', () => {
  let database: Database
  let manager: UserManager<BaseUser>
  const calls: Call[] = []
  const errors: object[] = []
  let failUpdates = false

  before(async () => {
    database = openDatabase('sqlite::memory:')
    await migrateToLatest(database)
    manager = new UserManager<BaseUser>({
      store: createKyselyUserStore(database),
      secret: 'manager-test-secret-0123456789abcdef',
      logger: { error: (obj) => void errors.push(obj) },
      validatePassword: (password, user) => {
        if (password.includes(user.email)) throw new InvalidPasswordError('Password should not contain e-mail')
      },
      hooks: {
        onAfterRegister: (user, ctx) => void calls.push(['register', user.email, ctx]),
        onAfterUpdate: (user, changes) => {
          calls.push(['update', user.email, changes])
          if (failUpdates) throw new Error('hook failed')
        },
        onAfterForgotPassword: (user, token) => void calls.push(['forgot', user.id, token]),
        onAfterResetPassword: (user) => void calls.push(['reset', user.id]),
        onAfterRequestVerify: (user, token) => void calls.push(['request-verify', user.id, token]),
        onAfterVerify: (user) => void calls.push(['verify', user.id, user.is_verified]),
        onBeforeDelete: (user) => {
          calls.push(['before-delete', user.email])
          if (user.email.startsWith('keep')) throw new Error('this user stays')
        },
        onAfterDelete: (user) => void calls.push(['after-delete', user.email]),
      },
    })
  })
  after(() => database.close())

  const last = () => calls.at(-1)

  test('create calls onAfterRegister with the stored user and the context', async () => {
    const user = await manager.create(
      { email: 'hook@Example.com', password: 'long-enough-pw' },
      { ctx: { ip: '203.0.113.9' } },
    )
    assert.equal(user.email, 'hook@example.com')
    assert.deepEqual(last(), ['register', 'hook@example.com', { ip: '203.0.113.9' }])
  })

  test('safe create ignores the flags; unsafe create honours them', async () => {
    const safe = await manager.create({
      email: 'safe@example.com',
      password: 'long-enough-pw',
      is_superuser: true,
      is_verified: true,
    })
    assert.deepEqual([safe.is_superuser, safe.is_verified, safe.is_active], [false, false, true])
    const unsafe = await manager.create(
      { email: 'unsafe@example.com', password: 'long-enough-pw', is_superuser: true, is_verified: true },
      { safe: false },
    )
    assert.deepEqual([unsafe.is_superuser, unsafe.is_verified], [true, true])
  })

  test('the validator sees the registration data and its refusal carries the context code', async () => {
    await assert.rejects(
      manager.create({ email: 'val@example.com', password: 'xxval@example.comxx' }),
      (error: InvalidPasswordError) =>
        error.code === 'REGISTER_INVALID_PASSWORD' && error.reason === 'Password should not contain e-mail',
    )
  })

  test('onAfterUpdate gets the changes, with a new password reported only as true', async () => {
    const user = (await manager.getByEmail('hook@example.com'))!
    await manager.update(user, { password: 'another-long-pw', is_superuser: true } as never)
    assert.deepEqual(last(), ['update', 'hook@example.com', { password: true }])
    assert.equal((await manager.getByEmail('HOOK@example.com'))?.is_superuser, false)
  })

  test('a failing after-hook is logged and does not undo the change', async () => {
    failUpdates = true
    try {
      const user = (await manager.getByEmail('hook@example.com'))!
      const updated = await manager.update(user, { email: 'hook2@example.com' })
      assert.equal(updated.email, 'hook2@example.com')
      assert.equal((await manager.getByEmail('hook2@example.com'))?.id, user.id)
      assert.equal(errors.length, 1)
      assert.equal((errors[0] as { hook: string }).hook, 'onAfterUpdate')
    } finally {
      failUpdates = false
    }
  })

  test('forgot → reset through the hooks; the token dies with the password it was made for', async () => {
    const user = (await manager.getByEmail('hook2@example.com'))!
    await manager.forgotPassword(user)
    const [name, id, token] = last() as [string, string, string]
    assert.deepEqual([name, id], ['forgot', user.id])
    assert.equal(decodeJwt(token).aud, 'fastapi-users:reset')
    await manager.resetPassword(token, 'brand-new-password')
    assert.deepEqual(last(), ['reset', user.id])
    await assert.rejects(manager.resetPassword(token, 'yet-another-password'), { code: 'RESET_PASSWORD_BAD_TOKEN' })
    assert.ok(await manager.authenticate({ username: 'hook2@example.com', password: 'brand-new-password' }))
  })

  test('request-verify → verify through the hooks', async () => {
    const user = (await manager.getByEmail('hook2@example.com'))!
    await manager.requestVerify(user)
    const [, , token] = last() as [string, string, string]
    const verified = await manager.verify(token)
    assert.equal(verified.is_verified, true)
    assert.deepEqual(last(), ['verify', user.id, true])
    const before = calls.length
    await manager.requestVerify(verified)
    assert.equal(calls.length, before, 'a verified user is sent nothing')
  })

  test('onBeforeDelete can veto a deletion; otherwise both hooks run', async () => {
    const keep = await manager.create({ email: 'keep@example.com', password: 'long-enough-pw' })
    await assert.rejects(manager.delete(keep), /this user stays/)
    assert.ok(await manager.get(keep.id))
    const gone = await manager.create({ email: 'gone@example.com', password: 'long-enough-pw' })
    await manager.delete(gone)
    assert.equal(await manager.get(gone.id), null)
    assert.deepEqual(calls.slice(-2), [
      ['before-delete', 'gone@example.com'],
      ['after-delete', 'gone@example.com'],
    ])
  })

  test('misuse of the API is a TypeError at construction', () => {
    assert.throws(() => new UserManager({ store: undefined as never, secret: 'x' }), TypeError)
    assert.throws(() => new UserManager({ store: createKyselyUserStore(database), secret: '' }), TypeError)
  })
})
