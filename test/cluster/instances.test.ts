/**
 * Several instances of the reference service behind one address, as a load balancer spreads
 * requests: three processes on one PostgreSQL database and one Redis, and one process with
 * WEB_CONCURRENCY=2 (two workers, no Redis). Whichever instance a request reaches, sessions,
 * refresh tokens, lock-out, per-address limits and the OAuth state behave as on one process.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, type TestDatabase } from '../support/databases.js'
import { call, type Instance, startInstances, stopInstances } from '../support/instance.js'
import { Browser, OIDC_CLIENT, type OidcProvider, startOidcProvider } from '../support/oauth.js'
import { testRedisUrl } from '../support/redis.js'

const PASSWORD = 'cluster-password-1'
const UNAUTHORIZED = [401, { detail: 'Unauthorized' }]
const TOO_MANY = [429, { detail: 'TOO_MANY_REQUESTS' }]
/** The limits every instance runs with: small, so that a test reaches them. */
const LIMITS = {
  TRUST_PROXY: 'true', // each test is its own client address (X-Forwarded-For): their counters never meet
  RATE_LIMIT_IP_REQUESTS: '6',
  LOGIN_FREE_ATTEMPTS: '2',
  LOGIN_LOCKOUT_MAX: '60',
  REFRESH_REUSE_INTERVAL: '1', // a spent refresh token is answered with its successor for 1 s, then revokes
}
/** Where the provider sends the browser back: the load balancer's address, never requested here. */
const PUBLIC_URL = 'http://127.0.0.1:9'

let counter = 0
const unique = (tag: string) => `${tag}-${++counter}-${randomBytes(3).toString('hex')}`
/** A client address of its own (TEST-NET-3) for one test. */
const address = () => `203.0.113.${1 + Math.floor(Math.random() * 254)}, 10.0.0.${++counter % 250}`

/**
 * The behaviours, against `at(i)`: the instance the i-th request goes to. With three instances
 * consecutive requests reach different processes; with WEB_CONCURRENCY=2 every request opens a
 * new connection and node:cluster hands connections to the workers in turn.
 */
function crossInstanceTests(at: (i: number) => Instance, options: { redis: boolean }) {
  type Options = Parameters<typeof call>[3]
  /** `[status, body]` of a request to the i-th instance. */
  const answer = async (i: number, method: string, path: string, opts?: Options) =>
    (await call(at(i), method, path, opts)).slice(0, 2)
  const tokens = async (i: number, path: string, opts: Options) => {
    const [status, body] = await call<{ access_token: string; refresh_token: string }>(at(i), 'POST', path, opts)
    assert.equal(status, 200)
    return body
  }
  const signUp = async (headers: Record<string, string>) => {
    const email = `${unique('user')}@example.com`
    const json = { email, password: PASSWORD, first_name: 'C' }
    assert.equal((await call(at(0), 'POST', '/auth/register', { json, headers }))[0], 201)
    return { username: email, password: PASSWORD }
  }

  test('a session started on one instance works on another, and logout on one ends it on every other', async () => {
    const headers = { 'x-forwarded-for': address() }
    const credentials = await signUp(headers)
    const jwt = await tokens(0, '/auth/jwt/login', { form: credentials, headers })
    assert.equal((await answer(1, 'GET', '/users/me', { token: jwt.access_token }))[0], 200)

    const [status, , cookieHeaders] = await call(at(1), 'POST', '/auth/cookie/login', { form: credentials, headers })
    assert.equal(status, 204)
    const cookie = String(cookieHeaders['set-cookie']?.[0]).split(';')[0] as string
    assert.equal((await answer(2, 'GET', '/users/me', { headers: { cookie } }))[0], 200)
    assert.equal((await answer(0, 'POST', '/auth/cookie/logout', { headers: { cookie } }))[0], 204)
    for (const i of [1, 2]) assert.deepEqual(await answer(i, 'GET', '/users/me', { headers: { cookie } }), UNAUTHORIZED)

    if (options.redis) {
      const redis = await tokens(2, '/auth/redis/login', { form: credentials, headers })
      assert.equal((await answer(0, 'GET', '/users/me', { token: redis.access_token }))[0], 200)
      assert.equal((await answer(1, 'POST', '/auth/redis/logout', { token: redis.access_token }))[0], 204)
      for (const i of [0, 2]) {
        assert.deepEqual(await answer(i, 'GET', '/users/me', { token: redis.access_token }), UNAUTHORIZED)
      }
    }
  })

  test('refresh tokens rotate across instances; a reuse on a third shares the successor within REFRESH_REUSE_INTERVAL, and revokes the family after it', async () => {
    const headers = { 'x-forwarded-for': address() }
    const credentials = await signUp(headers)
    const login = await tokens(0, '/auth/jwt/login', { form: credentials, headers })
    const spent = { json: { refresh_token: login.refresh_token }, headers }
    // two tabs at once, reaching two processes: both get the one successor
    const [rotated, racer] = await Promise.all([
      tokens(1, '/auth/jwt/refresh', spent),
      tokens(2, '/auth/jwt/refresh', spent),
    ])
    assert.notEqual(rotated.refresh_token, login.refresh_token)
    assert.equal(racer.refresh_token, rotated.refresh_token)
    await new Promise((r) => setTimeout(r, 2100))
    assert.deepEqual(await answer(2, 'POST', '/auth/jwt/refresh', spent), UNAUTHORIZED)
    // the reuse revoked the whole family: the token handed out on the second instance is dead too
    const latest = { json: { refresh_token: rotated.refresh_token }, headers }
    assert.deepEqual(await answer(0, 'POST', '/auth/jwt/refresh', latest), UNAUTHORIZED)
  })

  test('failed logins on different instances add up to one lock-out', async () => {
    const headers = { 'x-forwarded-for': address() }
    const credentials = await signUp(headers)
    const wrong = { form: { ...credentials, password: 'not-the-password-1' }, headers }
    for (const i of [0, 1]) {
      assert.deepEqual(await answer(i, 'POST', '/auth/jwt/login', wrong), [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
    }
    // LOGIN_FREE_ATTEMPTS=2 spent across the instances: the next attempt waits, even with the right password
    const [status, body, answerHeaders] = await call(at(2), 'POST', '/auth/jwt/login', { form: credentials, headers })
    assert.deepEqual([status, body], TOO_MANY)
    assert.ok(Number(answerHeaders['retry-after']) >= 1)
  })

  test('a client address’s limit counts its requests to every instance', async () => {
    const headers = { 'x-forwarded-for': address() }
    const forgot = () => ({ json: { email: `${unique('forgot')}@example.com` }, headers })
    for (let i = 0; i < 6; i++)
      assert.deepEqual(await answer(i, 'POST', '/auth/forgot-password', forgot()), [202, null])
    assert.deepEqual(await answer(6, 'POST', '/auth/forgot-password', forgot()), TOO_MANY)
  })
}

describe('three instances on one PostgreSQL database and one Redis', () => {
  let database: TestDatabase | null = null
  let provider: OidcProvider | undefined
  let instances: Instance[] = []

  before(async () => {
    database = await createTestDatabase('postgres')
    const redisUrl = await testRedisUrl()
    if (!database || !redisUrl) throw new Error('PostgreSQL and Redis are required')
    provider = await startOidcProvider([`${PUBLIC_URL}/auth/test/callback`])
    instances = await startInstances(3, {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      RATE_LIMIT_REDIS_PREFIX: `cluster-test-${randomBytes(6).toString('hex')}`,
      PUBLIC_URL,
      OAUTH_TEST_CLIENT_ID: OIDC_CLIENT.id,
      OAUTH_TEST_CLIENT_SECRET: OIDC_CLIENT.secret,
      OAUTH_TEST_ISSUER: provider.issuer,
      OAUTH_IS_VERIFIED_BY_DEFAULT: 'true',
      ...LIMITS,
    })
  })
  after(async () => {
    await stopInstances(instances)
    await provider?.close()
    await database?.drop()
  })

  crossInstanceTests((i) => instances[i % 3] as Instance, { redis: true })

  test('an OAuth state consumed on one instance is refused on another', async () => {
    const sub = unique('oauth')
    provider?.accounts.set(sub, { email: `${sub}@example.com`, email_verified: true })
    const [a, b] = instances as [Instance, Instance]
    const browser = new Browser()
    const authorize = await browser.fetch(`${a.url}/auth/test/authorize`)
    assert.equal(authorize.status, 200)
    const { authorization_url } = (await authorize.json()) as { authorization_url: string }
    const callback = new URL(await browser.authorizeAt(authorization_url, sub, `${PUBLIC_URL}/auth/test/callback`))
    // cookies belong to the host, not the port: the browser sends the CSRF cookie to every instance
    const csrf = browser.cookie(a.url, 'fastapiusersoauthcsrf')
    browser.setCookie(b.url, 'fastapiusersoauthcsrf', csrf)
    const first = await browser.fetch(`${a.url}${callback.pathname}${callback.search}`)
    assert.equal(first.status, 200, await first.clone().text())
    const replayed = await browser.fetch(`${b.url}${callback.pathname}${callback.search}`)
    assert.deepEqual([replayed.status, await replayed.json()], [400, { detail: 'OAUTH_INVALID_STATE' }])
  })
})

describe('one instance with WEB_CONCURRENCY=2 and no Redis', () => {
  let database: TestDatabase | null = null
  let instance: Instance | undefined

  before(async () => {
    database = await createTestDatabase('postgres')
    if (!database) throw new Error('PostgreSQL is required')
    ;[instance] = await startInstances(1, {
      DATABASE_URL: database.url,
      WEB_CONCURRENCY: '2',
      LOG_LEVEL: 'info', // each worker's "Server listening"
      ...LIMITS,
    })
    // both workers listen before the tests spread requests over them
    const deadline = Date.now() + 120_000
    while ((instance?.output().match(/Server listening/g) ?? []).length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200))
    }
    assert.equal(instance?.output().match(/Server listening/g)?.length, 2, 'two workers listen')
  })
  after(async () => {
    if (instance) await stopInstances([instance])
    await database?.drop()
  })

  crossInstanceTests(() => instance as Instance, { redis: false })
})
