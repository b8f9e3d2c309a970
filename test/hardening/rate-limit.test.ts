/**
 * Rate limits and brute-force lock-out (SECURITY.md "Brute force"), against the reference
 * service: per-address limits with 429 {"detail":"TOO_MANY_REQUESTS"} and an exact Retry-After,
 * per-account limits and the login lock-out across backends and addresses (progressive, capped,
 * temporary), normalised keys (e-mail variants, IPv6 /64, X-Forwarded-For only from a trusted
 * proxy, path variants), counters shared through Redis, and login failing closed without it.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import { after, before, describe, type TestContext, test } from 'node:test'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { AuthRateLimiter, accountKey, clientKey } from 'fastify-users'
import { buildApp } from '../../server/app.js'
import { ConfigError, loadConfig } from '../../server/config.js'
import { startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { testRedisUrl } from '../support/redis.js'

const PASSWORD = 'correct-horse-battery'
const WRONG = 'wrong-horse-battery'
const TOO_MANY = { detail: 'TOO_MANY_REQUESTS' }
const BAD_CREDENTIALS = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]
/** Limits high enough to stay out of the way of the one a test is about. */
const ROOMY = {
  RATE_LIMIT: 'true',
  RATE_LIMIT_IP_REQUESTS: '1000',
  RATE_LIMIT_ACCOUNT_REQUESTS: '1000',
  LOGIN_FREE_ATTEMPTS: '1000',
  LOGIN_IP_FAILURES: '1000',
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const random = () => randomBytes(4).readUInt32BE()
/** A fresh client address per test: counters in a shared Redis outlive a run. */
const newIp = () => `10.${random() % 250}.${random() % 250}.${(random() % 250) + 1}`

const reply = (res: LightMyRequestResponse) => [res.statusCode, res.body === '' ? '' : res.json()]
const refused = (res: LightMyRequestResponse, retryAfter: string) =>
  assert.deepEqual([res.statusCode, res.json(), res.headers['retry-after']], [429, TOO_MANY, retryAfter], res.body)

interface Attempt {
  path?: string
  username: string
  password: string
  ip: string
  headers?: Record<string, string>
}

function login(app: FastifyInstance, { path = '/auth/jwt/login', username, password, ip, headers = {} }: Attempt) {
  return app.inject({
    method: 'POST',
    url: path,
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams({ username, password }).toString(),
  })
}

function post(app: FastifyInstance, url: string, payload: unknown, ip: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url, payload: payload as InjectOptions['payload'], remoteAddress: ip, headers })
}

/** A user created through the manager, so that creating it counts against no limit. */
async function newUser(app: FastifyInstance, email = newEmail()) {
  await app.users.manager.create({ email, password: PASSWORD, first_name: null }, { safe: false })
  return email
}

const loggedIn = (res: LightMyRequestResponse) => res.statusCode === 200 || res.statusCode === 204

/** The reference service with these settings for a describe block; skipped where its database or Redis is missing. */
function service(kind: DatabaseKind, env: Record<string, string>, options: { redis?: boolean } = {}) {
  let started: TestApp | null = null
  let redisUrl: string | null = null
  let skipReason = `${kind} is not reachable locally`
  before(async () => {
    if (options.redis) {
      redisUrl = await testRedisUrl()
      if (!redisUrl) {
        skipReason = 'Redis is not reachable locally'
        return
      }
    }
    started = await startTestApp(kind, { ...env, ...(redisUrl ? { REDIS_URL: redisUrl } : {}) })
  })
  after(async () => {
    await started?.close()
  })
  const it = (name: string, body: (app: FastifyInstance, s: TestApp & { redisUrl: string | null }) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!started) return t.skip(skipReason)
      await body(started.app, { ...started, redisUrl })
    })
  return { it }
}

// ---------------------------------------------------------------------------------------------

describe('rate-limit keys', () => {
  test('IPv6 addresses are grouped by /64; IPv4 (also IPv4-mapped) is kept whole', () => {
    const key = clientKey('2001:db8:1:2::1')
    assert.equal(key, '2001:db8:1:2::/64')
    assert.equal(clientKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), key)
    assert.equal(clientKey('2001:db8:1:2:0:0:0:1%eth0'), key)
    assert.notEqual(clientKey('2001:db8:1:3::1'), key)
    assert.equal(clientKey('::1'), '0:0:0:0::/64')
    assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7')
    assert.equal(clientKey('192.0.2.7'), '192.0.2.7')
    assert.equal(clientKey('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64')
  })

  test('an account is its normalised, lower-cased e-mail address', () => {
    const key = accountKey('alice@example.com')
    for (const variant of [
      'Alice@Example.COM',
      '  alice@example.com\t',
      'ALICE@EXAMPLE.COM ',
      'Alice <alice@example.com>',
    ])
      assert.equal(accountKey(variant), key, variant)
    assert.notEqual(accountKey('alice2@example.com'), key)
    assert.equal(accountKey(' Not An Email '), accountKey('not an email'))
  })

  test('limits that would never limit are refused at construction', () => {
    assert.throws(() => new AuthRateLimiter({ limits: { perAccount: { points: 0, durationSeconds: 60 } } }), TypeError)
    assert.throws(() => new AuthRateLimiter({ limits: { lockout: { freeAttempts: 0 } } }), TypeError)
    assert.throws(() => new AuthRateLimiter({ limits: { lockout: { maxDelaySeconds: 0.5 } } }), TypeError)
  })
})

describe('the reference service turns the limits on by default', () => {
  test('config: RATE_LIMIT defaults on with documented limits; TRUST_PROXY defaults off', () => {
    const config = loadConfig({})
    assert.deepEqual(config.rateLimit, {
      ipRequests: 30,
      ipWindowSeconds: 60,
      accountRequests: 5,
      accountWindowSeconds: 3600,
      loginFreeAttempts: 5,
      loginLockoutMaxSeconds: 900,
      loginIpFailures: 100,
      loginIpFailureWindowSeconds: 900,
      loginFailureWindowSeconds: 86400,
      redisKeyPrefix: 'fastify-users:rate-limit',
    })
    assert.equal(config.trustProxy, false)
    assert.equal(loadConfig({ RATE_LIMIT: 'false' }).rateLimit, undefined)
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2)
    assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, ::1' }).trustProxy, ['10.0.0.0/8', '::1'])
    assert.throws(() => loadConfig({ TRUST_PROXY: 'proxy.internal' }), ConfigError)
    assert.throws(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' }), ConfigError)
    assert.throws(() => loadConfig({ LOGIN_FREE_ATTEMPTS: '0' }), ConfigError)
  })

  test('built from an empty environment: the 31st request a minute from one address is a 429, and OpenAPI says so', async () => {
    const app = await buildApp(
      loadConfig({ SECRET: TEST_SECRET, DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }),
      {
        logger: false,
      },
    )
    try {
      const ip = newIp()
      for (let i = 0; i < 30; i++) {
        assert.equal((await post(app, '/auth/forgot-password', { email: newEmail() }, ip)).statusCode, 202)
      }
      refused(await post(app, '/auth/forgot-password', { email: newEmail() }, ip), '60')
      const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
      for (const path of ['/auth/jwt/login', '/auth/cookie/login', '/auth/register', '/auth/verify'])
        assert.ok(doc.paths[path].post.responses['429'], path)
      assert.equal(doc.paths['/users/me'].get.responses['429'], undefined)
    } finally {
      await app.close()
    }
  })
})

describe('sqlite: per-address limits', () => {
  const { it } = service('sqlite', { ...ROOMY, RATE_LIMIT_IP_REQUESTS: '3', RATE_LIMIT_IP_WINDOW: '60' })

  it('every limited route: the 4th request from one address is a 429 with Retry-After 60; another address goes on', async (app) => {
    const email = await newUser(app)
    const routes: [string, () => unknown][] = [
      ['/auth/jwt/login', () => null],
      ['/auth/cookie/login', () => null],
      ['/auth/jwt/refresh', () => ({})],
      ['/auth/register', () => ({ email: newEmail(), password: PASSWORD, first_name: 'A' })],
      ['/auth/forgot-password', () => ({ email: newEmail() })],
      ['/auth/request-verify-token', () => ({ email: newEmail() })],
      ['/auth/reset-password', () => ({ token: 'not-a-token', password: PASSWORD })],
      ['/auth/verify', () => ({ token: 'not-a-token' })],
    ]
    for (const [path, body] of routes) {
      const ip = newIp()
      const send = (from: string) =>
        body() === null
          ? login(app, { path, username: email, password: PASSWORD, ip: from })
          : post(app, path, body(), from)
      for (let i = 0; i < 3; i++) assert.notEqual((await send(ip)).statusCode, 429, path)
      refused(await send(ip), '60')
      assert.notEqual((await send(newIp())).statusCode, 429, path)
    }
  })

  it('IPv6 clients are counted by /64', async (app) => {
    const send = (ip: string) => post(app, '/auth/forgot-password', { email: newEmail() }, ip)
    const prefix = `2001:db8:${(random() % 0xffff).toString(16)}:${(random() % 0xffff).toString(16)}`
    assert.equal((await send(`${prefix}::1`)).statusCode, 202)
    assert.equal((await send(`${prefix}:ffff:ffff:ffff:fffe`)).statusCode, 202)
    assert.equal((await send(`${prefix}:1:2:3:4`)).statusCode, 202)
    refused(await send(`${prefix}:dead:beef::99`), '60')
    assert.equal((await send(`2001:db8:1234:${(random() % 0xffff).toString(16)}::1`)).statusCode, 202)
  })

  it('X-Forwarded-For is ignored without TRUST_PROXY', async (app) => {
    const ip = newIp()
    for (let i = 0; i < 3; i++) {
      const res = await post(app, '/auth/forgot-password', { email: newEmail() }, ip, { 'x-forwarded-for': newIp() })
      assert.equal(res.statusCode, 202)
    }
    refused(await post(app, '/auth/forgot-password', { email: newEmail() }, ip, { 'x-forwarded-for': newIp() }), '60')
  })

  it('path variants of a limited route are limited too, or never reach a password check', async (app) => {
    const email = await newUser(app)
    const ip = newIp()
    const attempt = (path: string) => login(app, { path, username: email, password: PASSWORD, ip })
    for (let i = 0; i < 3; i++) assert.equal((await attempt('/auth/jwt/login')).statusCode, 200)
    const variants = {
      '/auth/jwt/login': 429,
      '/auth/jwt/login?next=/': 429,
      '/auth/jwt/%6Cogin': 429,
      '/auth/jwt/login/': 307, // to /auth/jwt/login, limited
      '/auth//jwt/login': 404,
      '/AUTH/jwt/login': 404,
      '/auth/jwt/LOGIN': 404,
      '/auth/jwt/./login': 429, // dot segments are resolved
    }
    const seen = Object.fromEntries(
      await Promise.all(Object.keys(variants).map(async (path) => [path, (await attempt(path)).statusCode])),
    )
    assert.deepEqual(seen, variants)
  })
})

describe('sqlite: TRUST_PROXY', () => {
  const { it } = service('sqlite', { ...ROOMY, RATE_LIMIT_IP_REQUESTS: '2', TRUST_PROXY: '10.200.0.0/16' })

  it('X-Forwarded-For from a trusted proxy sets the address; from anyone else it is ignored', async (app) => {
    const proxy = `10.200.${random() % 250}.1`
    const send = (from: string, client: string) =>
      post(app, '/auth/forgot-password', { email: newEmail() }, from, { 'x-forwarded-for': client })
    const client = newIp()
    assert.equal((await send(proxy, client)).statusCode, 202)
    assert.equal((await send(proxy, client)).statusCode, 202)
    refused(await send(proxy, client), '60')
    assert.equal((await send(proxy, newIp())).statusCode, 202) // another client behind the same proxy
    const untrusted = newIp()
    assert.equal((await send(untrusted, newIp())).statusCode, 202)
    assert.equal((await send(untrusted, newIp())).statusCode, 202)
    refused(await send(untrusted, newIp()), '60')
  })
})

describe('sqlite: per-account limits', () => {
  const { it } = service('sqlite', { ...ROOMY, RATE_LIMIT_ACCOUNT_REQUESTS: '2', RATE_LIMIT_ACCOUNT_WINDOW: '600' })

  it('forgot-password for one address from any client: the 3rd is a 429, whatever its case or spaces', async (app) => {
    const email = newEmail('alice')
    assert.equal((await post(app, '/auth/forgot-password', { email }, newIp())).statusCode, 202)
    assert.equal((await post(app, '/auth/forgot-password', { email: email.toUpperCase() }, newIp())).statusCode, 202)
    refused(
      await post(app, '/auth/forgot-password', { email: `  ${email.replace('alice', 'Alice')} ` }, newIp()),
      '600',
    )
    assert.equal((await post(app, '/auth/forgot-password', { email: newEmail() }, newIp())).statusCode, 202)
    // Counted per route: request-verify-token has its own budget.
    assert.equal((await post(app, '/auth/request-verify-token', { email }, newIp())).statusCode, 202)
  })

  it('register counts attempts per address too', async (app) => {
    const email = newEmail()
    const body = { email, password: PASSWORD, first_name: 'Alice' }
    assert.equal((await post(app, '/auth/register', body, newIp())).statusCode, 201)
    const again = await post(app, '/auth/register', { ...body, email: email.toUpperCase() }, newIp())
    assert.deepEqual(reply(again), [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
    refused(await post(app, '/auth/register', body, newIp()), '600')
  })
})

describe('sqlite: failed logins per address', () => {
  const { it } = service('sqlite', { ...ROOMY, LOGIN_IP_FAILURES: '3', LOGIN_IP_FAILURE_WINDOW: '600' })

  it('a successful login does not clear the address’s failures', async (app) => {
    const mine = await newUser(app)
    const ip = newIp()
    assert.deepEqual(reply(await login(app, { username: newEmail(), password: WRONG, ip })), BAD_CREDENTIALS)
    assert.deepEqual(reply(await login(app, { username: newEmail(), password: WRONG, ip })), BAD_CREDENTIALS)
    assert.equal((await login(app, { username: mine, password: PASSWORD, ip })).statusCode, 200)
    assert.deepEqual(reply(await login(app, { username: newEmail(), password: WRONG, ip })), BAD_CREDENTIALS)
    refused(await login(app, { username: mine, password: PASSWORD, ip }), '600')
    refused(await login(app, { path: '/auth/cookie/login', username: mine, password: PASSWORD, ip }), '600')
    assert.equal((await login(app, { username: mine, password: PASSWORD, ip: newIp() })).statusCode, 200)
  })
})

/**
 * The lock-out of one account: 2 free failures, then 1 s, 2 s, 2 s (capped) between attempts;
 * the attempts alternate between backends and each comes from a new address.
 */
function lockoutSuite(kind: DatabaseKind, redis: boolean) {
  describe(`${kind}${redis ? ' + redis store' : ''}: login lock-out per account`, () => {
    const env = { ...ROOMY, LOGIN_FREE_ATTEMPTS: '2', LOGIN_LOCKOUT_MAX: '2', LOGIN_FAILURE_WINDOW: '60' }
    const { it } = service(kind, env, { redis })
    const paths = redis
      ? ['/auth/jwt/login', '/auth/cookie/login', '/auth/redis/login']
      : ['/auth/jwt/login', '/auth/cookie/login']
    let turn = 0
    const next = () => paths[turn++ % paths.length] as string

    it('across backends and addresses: progressive, capped, and over when the delay has passed', async (app) => {
      const email = await newUser(app)
      const attempt = (password: string, username = email) =>
        login(app, { path: next(), username, password, ip: newIp() })
      assert.deepEqual(reply(await attempt(WRONG)), BAD_CREDENTIALS)
      assert.deepEqual(reply(await attempt(WRONG)), BAD_CREDENTIALS)
      refused(await attempt(PASSWORD), '1') // even the right password: nothing is checked while locked
      refused(await attempt(WRONG, ` ${email.toUpperCase()}`), '1')
      await sleep(1100)
      assert.deepEqual(reply(await attempt(WRONG)), BAD_CREDENTIALS)
      refused(await attempt(PASSWORD), '2') // doubled
      await sleep(2100)
      assert.deepEqual(reply(await attempt(WRONG)), BAD_CREDENTIALS)
      refused(await attempt(PASSWORD), '2') // capped at LOGIN_LOCKOUT_MAX
      await sleep(2100)
      assert.ok(loggedIn(await attempt(PASSWORD)))
      // A success forgets the account's failures: two free ones again.
      assert.deepEqual(reply(await attempt(WRONG)), BAD_CREDENTIALS)
      assert.deepEqual(reply(await attempt(WRONG)), BAD_CREDENTIALS)
      refused(await attempt(WRONG), '1')
      // Other accounts are not affected.
      assert.ok(loggedIn(await attempt(PASSWORD, await newUser(app))))
    })

    it('20 parallel wrong passwords on one account: exactly the 2 free attempts are checked', async (app) => {
      const email = await newUser(app)
      const all = await Promise.all(
        Array.from({ length: 20 }, () => login(app, { path: next(), username: email, password: WRONG, ip: newIp() })),
      )
      const statuses = all.map((r) => r.statusCode).sort()
      assert.deepEqual(statuses, [...Array(2).fill(400), ...Array(18).fill(429)])
    })
  })
}

for (const kind of databaseKinds()) lockoutSuite(kind, false)
lockoutSuite('sqlite', true)

/**
 * Two instances (two buildApps) on one database: with Redis they share its counters; without it
 * (the default) they share the database's rate_limit table. Never one process's count alone.
 */
function twoInstances(kind: DatabaseKind, redis: boolean) {
  describe(`${kind}: two instances share their counters through ${redis ? 'Redis' : 'the database'}`, () => {
    const env = { ...ROOMY, RATE_LIMIT_IP_REQUESTS: '3', LOGIN_FREE_ATTEMPTS: '2', LOGIN_LOCKOUT_MAX: '60' }
    let first: TestApp | null = null
    let second: FastifyInstance | null = null
    let skipReason = `${kind} is not reachable locally`
    before(async () => {
      const redisUrl = redis ? await testRedisUrl() : null
      if (redis && !redisUrl) {
        skipReason = 'Redis is not reachable locally'
        return
      }
      // two instances, one store, one key prefix (this test's own): they share their counters
      const shared = {
        ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
        RATE_LIMIT_REDIS_PREFIX: `fastify-users-test:${randomUUID()}`,
      }
      first = await startTestApp(kind, { ...env, ...shared })
      if (!first) return
      const config = { SECRET: TEST_SECRET, DATABASE_URL: first.database.url, LOG_LEVEL: 'silent', ...shared }
      second = await buildApp(loadConfig({ ...config, ...env }), { logger: false })
    })
    after(async () => {
      await second?.close()
      await first?.close()
    })
    const it = (name: string, body: (a: FastifyInstance, b: FastifyInstance) => Promise<void>) =>
      test(name, async (t) => {
        if (!first || !second) return t.skip(skipReason)
        await body(first.app, second)
      })
    const otherBackend = redis ? '/auth/redis/login' : '/auth/cookie/login'

    it('per address: 2 requests on one instance and 1 on the other use up 3', async (a, b) => {
      const ip = newIp()
      assert.equal((await post(a, '/auth/forgot-password', { email: newEmail() }, ip)).statusCode, 202)
      assert.equal((await post(b, '/auth/forgot-password', { email: newEmail() }, ip)).statusCode, 202)
      assert.equal((await post(a, '/auth/forgot-password', { email: newEmail() }, ip)).statusCode, 202)
      // the window started at the first request: under load, a few seconds may have passed since
      const res = await post(b, '/auth/forgot-password', { email: newEmail() }, ip)
      assert.deepEqual([res.statusCode, res.json()], [429, TOO_MANY])
      const retryAfter = Number(res.headers['retry-after'])
      assert.ok(retryAfter > 30 && retryAfter <= 60, `Retry-After ${retryAfter}`)
    })

    it('per account: failures on one instance lock the account on the other', async (a, b) => {
      const email = await newUser(a)
      assert.deepEqual(reply(await login(a, { username: email, password: WRONG, ip: newIp() })), BAD_CREDENTIALS)
      assert.deepEqual(
        reply(await login(b, { path: otherBackend, username: email, password: WRONG, ip: newIp() })),
        BAD_CREDENTIALS,
      )
      refused(await login(b, { username: email, password: PASSWORD, ip: newIp() }), '1')
      refused(await login(a, { path: '/auth/cookie/login', username: email, password: PASSWORD, ip: newIp() }), '1')
    })

    it('parallel wrong passwords on both instances: still exactly the 2 free attempts are checked', async (a, b) => {
      const email = await newUser(a)
      const all = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login(i % 2 ? a : b, { username: email, password: WRONG, ip: newIp() })),
      )
      assert.deepEqual(all.map((r) => r.statusCode).sort(), [...Array(2).fill(400), ...Array(18).fill(429)])
    })
  })
}

for (const kind of databaseKinds()) twoInstances(kind, false)
twoInstances('sqlite', true)

/** A TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('sqlite: the limiter’s Redis is unreachable', () => {
  let started: TestApp | null = null
  before(async () => {
    const port = await closedPort()
    started = await startTestApp('sqlite', {
      ...ROOMY,
      RATE_LIMIT_IP_REQUESTS: '2',
      REDIS_URL: `redis://127.0.0.1:${port}/0`,
    })
  })
  after(async () => {
    await started?.close()
  })

  test('login fails closed on every backend: 503 SERVICE_UNAVAILABLE with Retry-After', async (t) => {
    if (!started) return t.skip('sqlite is not reachable locally')
    const { app } = started
    const email = await newUser(app)
    for (const path of ['/auth/jwt/login', '/auth/cookie/login']) {
      const res = await login(app, { path, username: email, password: PASSWORD, ip: newIp() })
      assert.deepEqual(reply(res), [503, { detail: 'SERVICE_UNAVAILABLE' }], path)
      assert.equal(res.headers['retry-after'], '5')
    }
  })

  test('the other limited routes count in the database instead, and still limit', async (t) => {
    if (!started) return t.skip('sqlite is not reachable locally')
    const { app } = started
    const ip = newIp()
    assert.equal((await post(app, '/auth/forgot-password', { email: newEmail() }, ip)).statusCode, 202)
    assert.equal((await post(app, '/auth/forgot-password', { email: newEmail() }, ip)).statusCode, 202)
    refused(await post(app, '/auth/forgot-password', { email: newEmail() }, ip), '60')
    const register = await post(
      app,
      '/auth/register',
      { email: newEmail(), password: PASSWORD, first_name: 'A' },
      newIp(),
    )
    assert.equal(register.statusCode, 201, register.body)
    assert.deepEqual(reply(await post(app, '/auth/verify', { token: 'x' }, newIp())), [
      400,
      { detail: 'VERIFY_USER_BAD_TOKEN' },
    ])
  })
})

/** A loopback TCP proxy to the test Redis that the test can cut. */
async function redisProxy(target: URL) {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}${target.pathname}`,
    cut() {
      server.close()
      for (const s of sockets) s.destroy()
    },
  }
}

describe('sqlite: the limiter’s Redis goes away while the service runs', () => {
  let started: TestApp | null = null
  let proxy: Awaited<ReturnType<typeof redisProxy>> | null = null
  let skipReason = 'Redis is not reachable locally'
  before(async () => {
    const redisUrl = await testRedisUrl()
    if (!redisUrl) return
    skipReason = 'sqlite is not reachable locally'
    proxy = await redisProxy(new URL(redisUrl))
    started = await startTestApp('sqlite', { ...ROOMY, REDIS_URL: proxy.url })
  })
  after(async () => {
    proxy?.cut()
    await started?.close()
  })

  test('login works through it, then answers 503 at once when it is cut; forgot-password still answers', async (t) => {
    if (!started || !proxy) return t.skip(skipReason)
    const { app } = started
    const email = await newUser(app)
    assert.equal((await login(app, { username: email, password: PASSWORD, ip: newIp() })).statusCode, 200)
    proxy.cut()
    await sleep(100) // the client sees the connection close
    const res = await login(app, { username: email, password: PASSWORD, ip: newIp() })
    assert.deepEqual(reply(res), [503, { detail: 'SERVICE_UNAVAILABLE' }])
    assert.equal((await post(app, '/auth/forgot-password', { email }, newIp())).statusCode, 202)
  })
})
