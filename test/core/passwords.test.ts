import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { bounded, createPasswordHasher, passwordLength } from '../../src/core/passwords.js'

// Hashes written by passlib's bcrypt (cost 12) for fastapi-users 12.1.2: test/fixtures/fastapi-users.
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/fastapi-users/fastapi-users-12.1.2.json', import.meta.url), 'utf8'),
)
const LEGACY: Record<string, string> = {
  'alice@example.com': '$2b$12$4pbPmK0EPkVdTLjruQnRKeSElsW5DnahFsnsIEtDayBXLl2sEGSv6',
  'carol@example.com': '$2b$12$yu/.ZzRBI8sd1kHQhQHx7.0POVzhKMZ1gBjNToLnov0IGeqGUDQOi',
}
const passwordOf = (email: string): string => fixture.users.find((u: { email: string }) => u.email === email).password

const hasher = createPasswordHasher()

test('new hashes are argon2id with OWASP parameters', async () => {
  const hash = await hasher.hash('correct horse battery staple')
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
  assert.deepEqual(await hasher.verify('correct horse battery staple', hash), { valid: true })
  assert.deepEqual(await hasher.verify('wrong horse', hash), { valid: false })
})

test('passlib bcrypt hashes verify, including a non-ASCII password, and are upgraded', async () => {
  for (const [email, hash] of Object.entries(LEGACY)) {
    const check = await hasher.verify(passwordOf(email), hash)
    assert.equal(check.valid, true, email)
    assert.match(check.upgradedHash ?? '', /^\$argon2id\$/)
    assert.deepEqual(await hasher.verify(passwordOf(email), check.upgradedHash ?? ''), { valid: true })
    assert.deepEqual(await hasher.verify('not-the-password', hash), { valid: false })
  }
})

test('$2a$ and $2y$ spellings of a bcrypt hash verify too', async () => {
  const hash = LEGACY['alice@example.com']!
  for (const prefix of ['$2a$', '$2y$']) {
    assert.equal((await hasher.verify(passwordOf('alice@example.com'), prefix + hash.slice(4))).valid, true, prefix)
  }
})

test('argon2 hashes with other parameters verify and are upgraded to the current ones', async () => {
  const old = createPasswordHasher({ memoryCost: 65536, timeCost: 3, parallelism: 4 }) // pwdlib's defaults
  const hash = await old.hash('long-enough-password')
  const check = await hasher.verify('long-enough-password', hash)
  assert.equal(check.valid, true)
  assert.match(check.upgradedHash ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
})

test('unknown or malformed hashes never verify', async () => {
  for (const hash of ['', 'plain-text', '$argon2id$broken', '$1$md5crypt$xyz', '$2b$12$short']) {
    assert.deepEqual(await hasher.verify('anything', hash), { valid: false }, hash)
  }
})

test('hashing does not block the event loop', async () => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  await Promise.all(Array.from({ length: 8 }, (_, i) => hasher.hash(`password-${i}`)))
  clearInterval(timer)
  assert.ok(ticks > 0, 'timers ran while eight hashes were computed')
})

test('password length counts code points, as Python does', () => {
  assert.equal(passwordLength('😀'.repeat(7)), 7)
  assert.equal(passwordLength('ünïcödé'), 7)
})

test('password hashing runs at most `concurrency` tasks at once, the rest in arrival order', async () => {
  const limit = bounded(2)
  let running = 0
  let most = 0
  const started: number[] = []
  const releases: (() => void)[] = []
  const tasks = [0, 1, 2, 3, 4, 5].map((i) =>
    limit(async () => {
      started.push(i)
      running++
      most = Math.max(most, running)
      await new Promise<void>((resolve) => releases.push(resolve))
      running--
      return i
    }),
  )
  for (let done = 0; done < 6; done++) {
    await new Promise((r) => setImmediate(r))
    assert.equal(running, Math.min(2, 6 - done))
    releases.shift()?.()
  }
  assert.deepEqual(await Promise.all(tasks), [0, 1, 2, 3, 4, 5])
  assert.equal(most, 2)
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5])
  // a newcomer arriving while a slot is handed over waits its turn
  const order: string[] = []
  const one = bounded(1)
  let release!: () => void
  const a = one(() => new Promise<void>((r) => (release = r)).then(() => order.push('a')))
  const b = one(async () => order.push('b'))
  release()
  const c = one(async () => order.push('c'))
  await Promise.all([a, b, c])
  assert.deepEqual(order, ['a', 'b', 'c'])
  assert.throws(() => bounded(0), RangeError)
})
