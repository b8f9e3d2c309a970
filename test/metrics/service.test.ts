/**
 * METRICS=true: GET /metrics of the reference service, read as Prometheus text, on every database:
 * the named series exist and move as requests happen; METRICS_TOKEN guards it; Redis' gauge follows
 * the client; METRICS off serves nothing.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { freePort } from '../support/ports.js'
import { parsePrometheus, type Sample, samplesOf, sampleValue } from '../support/prometheus.js'
import { testRedisUrl } from '../support/redis.js'

const TOKEN = 'metrics-token-0123456789abcdef'
const PASSWORD = 'metrics-password-1'
const REQUESTS = 'fastify_users_http_requests_total'
const DURATION = 'fastify_users_http_request_duration_seconds'
const LOGINS = 'fastify_users_logins_total'
const LOCKOUTS = 'fastify_users_lockouts_total'

type Api = ReturnType<typeof client>

/** GET /metrics with the token, parsed; fails the test on anything but 200. */
async function scrape(api: Api, token = TOKEN): Promise<Sample[]> {
  const res = await api.get('/metrics', token)
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  return parsePrometheus(res.body)
}

/**
 * How much each series moved while `action` ran; read again for up to a second until it moves by
 * `expected` (the lock-out's event is recorded once the refused account is looked up, after the 429).
 */
async function delta(
  api: Api,
  action: () => Promise<unknown>,
  read: (samples: Sample[]) => number[],
  expected?: number[],
) {
  const before = read(await scrape(api))
  await action()
  let moved: number[] = []
  for (let i = 0; i < 20; i++) {
    moved = read(await scrape(api)).map((value, j) => value - (before[j] as number))
    if (!expected || moved.every((value, j) => value === expected[j])) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return moved
}

const count = (samples: Sample[], name: string, labels: Record<string, string>) =>
  sampleValue(samples, name, labels) ?? 0

/** The reference service per test group; skips, with the reason, where the database or Redis is unreachable. */
function service(kind: DatabaseKind, env: () => Promise<Record<string, string> | null>) {
  let started: TestApp | null = null
  let reason = `${kind} is not reachable locally`
  before(async () => {
    const vars = await env()
    if (!vars) {
      reason = 'Redis is not reachable locally'
      return
    }
    started = await startTestApp(kind, { METRICS: 'true', ...vars })
  })
  after(() => started?.close())
  return (name: string, body: (api: Api, app: TestApp['app']) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!started) return t.skip(reason)
      await body(client(started.app), started.app)
    })
}

async function signUp(api: Api): Promise<{ email: string; token: string }> {
  const email = newEmail('metrics')
  assert.equal((await api.register(email, PASSWORD)).statusCode, 201)
  return { email, token: await api.token(email, PASSWORD) }
}

for (const kind of databaseKinds()) {
  describe(`${kind}: METRICS=true with METRICS_TOKEN and Redis`, () => {
    const it = service(kind, async () => {
      const redis = await testRedisUrl()
      return redis ? { METRICS_TOKEN: TOKEN, REDIS_URL: redis } : null
    })

    it('answers 401 without the token or with a wrong one, with WWW-Authenticate; 200 with it', async (api) => {
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }]) {
        const res = await api.send({ method: 'GET', url: '/metrics', headers })
        assert.deepEqual([res.statusCode, res.json()], [401, { detail: 'Unauthorized' }])
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"')
      }
      assert.ok((await scrape(api)).length > 0)
    })

    it('names every series: process, requests, logins, lock-outs, hash queue, database pool, Redis', async (api) => {
      await signUp(api) // one hash, one login
      const samples = await scrape(api)
      for (const name of [
        'fastify_users_process_cpu_user_seconds_total',
        'fastify_users_process_resident_memory_bytes',
        'fastify_users_nodejs_eventloop_lag_seconds',
        REQUESTS,
        `${DURATION}_bucket`,
        `${DURATION}_count`,
        `${DURATION}_sum`,
        LOGINS,
        LOCKOUTS,
        'fastify_users_password_hash_queue_depth',
        'fastify_users_password_hash_wait_seconds_count',
      ])
        assert.ok(samplesOf(samples, name).length > 0, `${name} is present`)
      for (const state of ['used', 'idle', 'waiting']) {
        const value = sampleValue(samples, 'fastify_users_db_pool_connections', { state })
        assert.ok(typeof value === 'number' && value >= 0, `db_pool_connections{state="${state}"} = ${value}`)
      }
      assert.equal(sampleValue(samples, 'fastify_users_password_hash_queue_depth'), 0)
      assert.ok((sampleValue(samples, 'fastify_users_password_hash_wait_seconds_count') ?? 0) >= 2)
      // a scrape is not counted: the figures it reads never move because of it
      assert.deepEqual(
        samples.filter((s) => s.labels.route === '/metrics'),
        [],
      )
    })

    it('is outside the OpenAPI document', async (api) => {
      const res = await api.get('/openapi.json')
      assert.equal(res.statusCode, 200)
      assert.equal(Object.keys(res.json().paths).includes('/metrics'), false)
    })

    it('the Redis gauge is 1 while the client is ready', async (api) => {
      let up: number | undefined
      for (let i = 0; i < 50 && up !== 1; i++) {
        up = sampleValue(await scrape(api), 'fastify_users_redis_up')
        if (up !== 1) await new Promise((r) => setTimeout(r, 100))
      }
      assert.equal(up, 1)
    })

    it('counts GET /users/me by status (200, 401) in the counter and the histogram, by route pattern', async (api) => {
      const { token } = await signUp(api)
      const labels = (status: string) => ({ method: 'GET', route: '/users/me', status })
      const moved = await delta(
        api,
        async () => {
          for (let i = 0; i < 3; i++) assert.equal((await api.get('/users/me', token)).statusCode, 200)
          for (let i = 0; i < 2; i++) assert.equal((await api.get('/users/me')).statusCode, 401)
        },
        (s) => [
          count(s, REQUESTS, labels('200')),
          count(s, REQUESTS, labels('401')),
          count(s, `${DURATION}_count`, labels('200')),
          count(s, `${DURATION}_count`, labels('401')),
          count(s, `${DURATION}_bucket`, { ...labels('200'), le: '+Inf' }),
        ],
      )
      assert.deepEqual(moved, [3, 2, 3, 2, 3])
    })

    it('labels a route by its pattern, never the raw URL; a URL no route serves is "unmatched"', async (api) => {
      const id = '5b0e6a3c-1a0b-4c8e-9a55-1f2e3d4c5b6a'
      assert.equal((await api.get(`/users/${id}`)).statusCode, 401)
      assert.equal((await api.get(`/no-such-route/${id}`)).statusCode, 404)
      const samples = await scrape(api)
      assert.deepEqual(
        samples.filter((s) => s.labels.route?.includes(id)),
        [],
      )
      assert.ok(count(samples, REQUESTS, { method: 'GET', route: '/users/:id', status: '401' }) >= 1)
      assert.ok(count(samples, REQUESTS, { method: 'GET', route: 'unmatched', status: '404' }) >= 1)
    })

    it('counts logins by outcome and reason, and lock-outs, from the audit log (users.audit.record)', async (api, app) => {
      const audit = app.users.audit
      assert.ok(audit)
      const moved = await delta(
        api,
        async () => {
          audit.record({ type: 'login.succeeded', outcome: 'success', user_id: 'u1' })
          audit.record({ type: 'login.failed', outcome: 'failure', reason: 'LOGIN_BAD_CREDENTIALS' })
          audit.record({ type: 'login.failed', outcome: 'failure', reason: 'LOGIN_BAD_CREDENTIALS' })
          audit.record({ type: 'login.failed', outcome: 'failure', reason: 'LOGIN_USER_NOT_VERIFIED' })
          // a code no list names is "other": the label's values stay bounded
          audit.record({ type: 'login.failed', outcome: 'failure', reason: 'ANY_CODE_AT_ALL' })
          audit.record({ type: 'login.locked', outcome: 'failure', reason: 'TOO_MANY_REQUESTS' })
          audit.record({ type: 'logout', outcome: 'success' })
        },
        (s) => [
          count(s, LOGINS, { outcome: 'success' }),
          count(s, LOGINS, { outcome: 'failure', reason: 'LOGIN_BAD_CREDENTIALS' }),
          count(s, LOGINS, { outcome: 'failure', reason: 'LOGIN_USER_NOT_VERIFIED' }),
          count(s, LOGINS, { outcome: 'failure', reason: 'other' }),
          count(s, LOCKOUTS, {}),
        ],
      )
      assert.deepEqual(moved, [1, 2, 1, 1, 1])
      assert.equal(
        samplesOf(await scrape(api), LOGINS).some((s) => s.labels.reason === 'ANY_CODE_AT_ALL'),
        false,
      )
    })

    it('a real failed login moves logins_total{outcome="failure"} (the login route records its events)', async (api) => {
      const { email } = await signUp(api)
      const moved = await delta(
        api,
        async () => {
          assert.equal((await api.login(email, 'wrong-password-1')).statusCode, 400)
          assert.equal((await api.login(email, PASSWORD)).statusCode, 200)
        },
        (s) => [
          count(s, LOGINS, { outcome: 'failure', reason: 'LOGIN_BAD_CREDENTIALS' }),
          count(s, LOGINS, { outcome: 'success' }),
        ],
      )
      assert.deepEqual(moved, [1, 1])
    })
  })

  describe(`${kind}: lock-out with RATE_LIMIT on`, () => {
    const it = service(kind, async () => ({ RATE_LIMIT: 'true', LOGIN_FREE_ATTEMPTS: '2', LOGIN_LOCKOUT_MAX: '60' }))

    it('failed logins past the free attempts move lockouts_total', async (api) => {
      const email = newEmail('locked')
      assert.equal((await api.register(email, PASSWORD)).statusCode, 201)
      const moved = await delta(
        api,
        async () => {
          const statuses = []
          for (let i = 0; i < 3; i++) statuses.push((await api.login(email, 'wrong-password-1')).statusCode)
          assert.deepEqual(statuses, [400, 400, 429])
        },
        (s) => [count(s, LOGINS, { outcome: 'failure', reason: 'LOGIN_BAD_CREDENTIALS' }), count(s, LOCKOUTS, {})],
      )
      assert.deepEqual(moved, [2, 1])
    })
  })

  describe(`${kind}: Redis out of reach`, () => {
    const it = service(kind, async () => ({
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      REDIS_TIMEOUT_MS: '200',
    }))

    it('the Redis gauge is 0 and the service serves on', async (api) => {
      const samples = await scrape(api, '')
      assert.equal(sampleValue(samples, 'fastify_users_redis_up'), 0)
      const { token } = await signUp(api)
      assert.equal((await api.get('/users/me', token)).statusCode, 200)
    })
  })

  describe(`${kind}: METRICS off`, () => {
    let started: TestApp | null = null
    before(async () => {
      started = await startTestApp(kind)
    })
    after(() => started?.close())

    test('GET /metrics is 404', async (t) => {
      if (!started) return t.skip(`${kind} is not reachable locally`)
      const res = await client(started.app).get('/metrics', TOKEN)
      assert.deepEqual([res.statusCode, res.json()], [404, { detail: 'Not Found' }])
    })
  })
}
