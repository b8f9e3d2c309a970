/**
 * METRICS with WEB_CONCURRENCY=2: whichever worker a scrape reaches answers for both (its primary
 * gathers every worker's figures). node:cluster hands new connections to the workers in turn, so
 * requests on connections of their own are spread over both; the total seen is the total sent.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'
import { call, type Instance, startInstances, stopInstances } from '../support/instance.js'
import { parsePrometheus, sampleValue } from '../support/prometheus.js'

const TOKEN = 'cluster-metrics-token-0123456789'
const SENT = 10

for (const kind of databaseKinds()) {
  describe(`${kind}: WEB_CONCURRENCY=2 with METRICS`, () => {
    let database: TestDatabase | null = null
    let instance: Instance | undefined

    before(async () => {
      database = await createTestDatabase(kind)
      if (!database) return
      ;[instance] = await startInstances(1, {
        DATABASE_URL: database.url,
        WEB_CONCURRENCY: '2',
        METRICS: 'true',
        METRICS_TOKEN: TOKEN,
        RATE_LIMIT: 'false',
        LOG_LEVEL: 'info', // each worker's "Server listening"
      })
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

    test('every worker answers /metrics with the requests of both', async (t) => {
      if (!instance) return t.skip(`${kind} is not reachable locally`)
      const target = instance
      for (let i = 0; i < SENT; i++) assert.equal((await call(target, 'GET', '/users/me'))[0], 401)
      const [unauthorized] = await call(target, 'GET', '/metrics')
      assert.equal(unauthorized, 401)
      // four scrapes, on connections of their own: both workers answer twice
      for (let i = 0; i < 4; i++) {
        const [status, text] = await call<string>(target, 'GET', '/metrics', { token: TOKEN })
        assert.equal(status, 200)
        const samples = parsePrometheus(text)
        const labels = { method: 'GET', route: '/users/me', status: '401' }
        assert.equal(sampleValue(samples, 'fastify_users_http_requests_total', labels), SENT)
        assert.equal(sampleValue(samples, 'fastify_users_http_request_duration_seconds_count', labels), SENT)
      }
    })
  })
}
