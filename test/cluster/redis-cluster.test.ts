/**
 * Redis beyond one server: the reference service on a private 3-master Redis Cluster the test
 * starts (REDIS_CLUSTER_NODES, and REDIS_URL=redis+cluster://…). Redis sessions (login, logout,
 * log out everywhere, a password change), their keys exactly fastapi-users' on the cluster, the
 * login lock-out counting through the cluster, consumed OAuth states and /ready.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it, test } from 'node:test'
import { redisStateStore } from 'fastify-users/redis'
import { Cluster } from 'ioredis'
import { loadConfig } from '../../server/config.js'
import { client, json, type Response, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { newEmail } from '../support/emails.js'
import { type PrivateRedisCluster, startPrivateRedisCluster } from '../support/outage.js'

const PASSWORD = 'correct-horse-battery'
const WRONG = 'wrong-horse-battery'
const PREFIX = 'fastapi_users_token:'
const UNAUTHORIZED = [401, { detail: 'Unauthorized' }]

type Api = ReturnType<typeof client>

const redisLogin = (api: Api, username: string, password = PASSWORD): Promise<Response> =>
  api.send({
    method: 'POST',
    url: '/auth/redis/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ username, password }).toString(),
  })

async function token(api: Api, email: string): Promise<string> {
  const res = await redisLogin(api, email)
  assert.equal(res.statusCode, 200, res.body)
  return res.json().access_token
}

async function registered(api: Api): Promise<{ email: string; id: string }> {
  const email = newEmail('cluster')
  const res = await api.register(email, PASSWORD)
  assert.equal(res.statusCode, 201, res.body)
  return { email, id: res.json().id }
}

test('REDIS_CLUSTER_NODES and redis+cluster:// name a Cluster; REDIS_PASSWORD is its password', () => {
  const base = { SECRET: TEST_SECRET, DATABASE_URL: 'sqlite:/tmp/unused-config-only.sqlite' }
  assert.deepEqual(
    loadConfig({ ...base, REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2', REDIS_PASSWORD: 'pw' }).redis,
    {
      mode: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 6379 },
      ],
      password: 'pw',
    },
  )
  assert.deepEqual(loadConfig({ ...base, REDIS_URL: 'redis+cluster://:s%40cret@h1:7000,[::1]:7001' }).redis, {
    mode: 'cluster',
    nodes: [
      { host: 'h1', port: 7000 },
      { host: '::1', port: 7001 },
    ],
    password: 's@cret',
  })
  assert.throws(() => loadConfig({ ...base, REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: 'h:2' }), /exclude/)
  assert.throws(() => loadConfig({ ...base, REDIS_CLUSTER_NODES: 'h:99999' }), /cluster nodes/)
})

describe('on a private 3-master Redis Cluster', () => {
  let cluster: PrivateRedisCluster | null = null
  let direct: Cluster | undefined
  let service: TestApp | null = null
  let api: Api
  const rateLimitPrefix = `fastify-users-test:${randomUUID()}`

  before(async () => {
    cluster = await startPrivateRedisCluster(3)
    if (!cluster) return
    direct = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })))
    service = await startTestApp('sqlite', {
      REDIS_CLUSTER_NODES: cluster.nodes,
      RATE_LIMIT: 'true',
      RATE_LIMIT_REDIS_PREFIX: rateLimitPrefix,
      RATE_LIMIT_IP_REQUESTS: '1000',
      RATE_LIMIT_ACCOUNT_REQUESTS: '1000',
      LOGIN_IP_FAILURES: '1000',
      LOGIN_FREE_ATTEMPTS: '2',
      LOGIN_LOCKOUT_MAX: '60',
    })
    assert.ok(service, 'SQLite is always there')
    api = client(service.app)
  })

  after(async () => {
    await service?.close()
    direct?.disconnect()
    await cluster?.destroy()
  })

  /** The suite skips loudly where redis-server is missing (outside CI; under CI=true `before` failed). */
  const skipped = (t: { skip(message: string): void }) => {
    if (cluster) return false
    t.skip('redis-server is not installed')
    return true
  }

  it('/ready reports the database and the cluster ok', async (t) => {
    if (skipped(t)) return
    assert.deepEqual(json(await api.get('/ready')), [200, { status: 'ok', checks: { database: 'ok', redis: 'ok' } }])
  })

  it('login 200 → /users/me 200 → logout 204 → 401; the key is exactly fastapi_users_token:<token>', async (t) => {
    if (skipped(t)) return
    const user = await registered(api)
    const access = await token(api, user.email)
    const me = await api.get('/users/me', access)
    assert.deepEqual([me.statusCode, me.json().email], [200, user.email])
    assert.equal(await direct?.get(`${PREFIX}${access}`), user.id)
    const ttl = (await direct?.ttl(`${PREFIX}${access}`)) as number
    assert.ok(ttl > 3590 && ttl <= 3600, `TTL ${ttl}`)
    assert.deepEqual(await direct?.zrange(`fastapi_users_user_tokens:${user.id}`, '0', '-1'), [access])
    assert.deepEqual(json(await api.post('/auth/redis/logout', undefined, access)), [204, ''])
    assert.deepEqual(json(await api.get('/users/me', access)), UNAUTHORIZED)
    assert.equal(await direct?.exists(`${PREFIX}${access}`), 0)
    assert.equal(await direct?.exists(`fastapi_users_user_tokens:${user.id}`), 0)
  })

  it('several sessions across hash slots: log out everywhere ends them all', async (t) => {
    if (skipped(t)) return
    const user = await registered(api)
    const tokens = [await token(api, user.email), await token(api, user.email), await token(api, user.email)]
    const slot = async (key: string) => Number(await direct?.call('CLUSTER', 'KEYSLOT', key))
    const indexSlot = await slot(`fastapi_users_user_tokens:${user.id}`)
    const slots = await Promise.all(tokens.map((t) => slot(`${PREFIX}${t}`)))
    assert.ok(
      slots.some((s) => s !== indexSlot),
      'the keys lie in different slots',
    )
    for (const access of tokens) assert.equal((await api.get('/users/me', access)).statusCode, 200)
    const listed = await api.get('/users/me/sessions', tokens[0])
    assert.deepEqual([listed.statusCode, listed.json().length], [200, 3])
    assert.deepEqual(json(await api.delete('/users/me/sessions', tokens[0])), [204, ''])
    for (const access of tokens) {
      assert.deepEqual(json(await api.get('/users/me', access)), UNAUTHORIZED)
      assert.equal(await direct?.exists(`${PREFIX}${access}`), 0)
    }
    assert.equal(await direct?.exists(`fastapi_users_user_tokens:${user.id}`), 0)
    assert.equal((await api.get('/users/me', await token(api, user.email))).statusCode, 200, 'a new login works')
  })

  it('a password change ends every Redis session of the user', async (t) => {
    if (skipped(t)) return
    const user = await registered(api)
    const tokens = [await token(api, user.email), await token(api, user.email)]
    const res = await api.patch('/users/me', { password: 'another-horse-battery' }, tokens[0])
    assert.equal(res.statusCode, 200, res.body)
    for (const access of tokens) {
      assert.deepEqual(json(await api.get('/users/me', access)), UNAUTHORIZED)
      assert.equal(await direct?.exists(`${PREFIX}${access}`), 0)
    }
    assert.equal((await redisLogin(api, user.email, 'another-horse-battery')).statusCode, 200)
  })

  it('the login lock-out counts through the cluster: the 3rd attempt after 2 failures is a 429', async (t) => {
    if (skipped(t)) return
    const user = await registered(api)
    const bad = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]
    assert.deepEqual(json(await redisLogin(api, user.email, WRONG)), bad)
    assert.deepEqual(json(await redisLogin(api, user.email, WRONG)), bad)
    const locked = await redisLogin(api, user.email) // even the right password
    assert.deepEqual(
      [locked.statusCode, locked.json(), locked.headers['retry-after']],
      [429, { detail: 'TOO_MANY_REQUESTS' }, '1'],
    )
    // the counters are keys on the cluster's masters
    const keys = (
      await Promise.all((direct?.nodes('master') ?? []).map((node) => node.keys(`${rateLimitPrefix}*`)))
    ).flat()
    assert.ok(keys.length > 0, 'rate-limit counters on the cluster')
  })

  it('consumed OAuth states: SET NX on the cluster accepts a state once', async (t) => {
    if (skipped(t)) return
    const store = redisStateStore(direct as Cluster, { keyPrefix: `fastify-users-test:oauth-state:${randomUUID()}:` })
    const jti = randomUUID()
    const expiresAt = Date.now() / 1000 + 60
    assert.equal(await store.consume(jti, expiresAt), true)
    assert.equal(await store.consume(jti, expiresAt), false)
  })

  it('REDIS_URL=redis+cluster://…: another instance reads the sessions of the first', async (t) => {
    if (skipped(t) || !cluster || !service) return
    const other = await startTestApp(
      'sqlite',
      { REDIS_URL: `redis+cluster://${cluster.nodes}` },
      { database: service.database },
    )
    assert.ok(other)
    try {
      const otherApi = client(other.app)
      assert.deepEqual(json(await otherApi.get('/ready')), [
        200,
        { status: 'ok', checks: { database: 'ok', redis: 'ok' } },
      ])
      const user = await registered(api)
      const access = await token(api, user.email)
      assert.equal((await otherApi.get('/users/me', access)).statusCode, 200)
      assert.deepEqual(json(await otherApi.post('/auth/redis/logout', undefined, access)), [204, ''])
      assert.deepEqual(json(await api.get('/users/me', access)), UNAUTHORIZED)
    } finally {
      await other.close()
    }
  })

  // last: it stops the cluster
  it('the cluster gone: a Redis session, a Redis login and /ready answer 503 within REDIS_TIMEOUT_MS, never 500', async (t) => {
    if (skipped(t) || !cluster) return
    const user = await registered(api)
    const access = await token(api, user.email)
    await cluster.kill()
    const started = performance.now()
    const unavailable = [503, { detail: 'SERVICE_UNAVAILABLE' }]
    assert.deepEqual(json(await api.get('/users/me', access)), unavailable)
    assert.deepEqual(json(await api.post('/auth/redis/logout', undefined, access)), unavailable)
    assert.equal((await redisLogin(api, user.email)).statusCode, 503)
    const ready = await api.get('/ready')
    assert.deepEqual([ready.statusCode, ready.json().checks.redis], [503, 'unavailable'])
    const elapsed = performance.now() - started
    assert.ok(elapsed < 4 * 2000 + 1000, `${Math.round(elapsed)} ms`)
  })
})
