/**
 * /health (liveness) and /ready (readiness) of the reference service on every database, and the
 * library's healthRoutes: a check that hangs or fails makes /ready a 503 within the timeout, naming
 * the check and never the reason; neither route appears in the fastapi-users OpenAPI document.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import Fastify from 'fastify'
import { healthRoutes } from '../../src/index.js'
import { json, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { timed } from '../support/outage.js'

for (const kind of databaseKinds()) {
  describe(`${kind}: the reference service's /health and /ready`, () => {
    let service: TestApp | null = null
    before(async () => {
      service = await startTestApp(kind)
    })
    after(() => service?.close())

    test('/health 200 {"status":"ok"}; /ready 200 with the database checked; never cached', async (t: TestContext) => {
      if (!service) return t.skip(`${kind} is not reachable locally`)
      const health = await service.app.inject({ method: 'GET', url: '/health' })
      assert.deepEqual(json(health), [200, { status: 'ok' }])
      const ready = await service.app.inject({ method: 'GET', url: '/ready' })
      assert.deepEqual(json(ready), [200, { status: 'ok', checks: { database: 'ok' } }])
      for (const res of [health, ready]) assert.equal(res.headers['cache-control'], 'no-store')
    })

    test('neither is in the OpenAPI document', async (t: TestContext) => {
      if (!service) return t.skip(`${kind} is not reachable locally`)
      const doc = (await service.app.inject({ method: 'GET', url: '/openapi.json' })).json()
      const paths = Object.keys(doc.paths)
      assert.ok(paths.includes('/users/me'))
      assert.deepEqual(
        paths.filter((p) => p === '/health' || p === '/ready'),
        [],
      )
    })
  })
}

describe('healthRoutes', () => {
  test('a check that never answers, one that fails and one that passes: 503 within timeoutMs, no reason told', async () => {
    const app = Fastify()
    await app.register(healthRoutes, {
      timeoutMs: 300,
      checks: {
        database: () => new Promise(() => {}), // a partition: no answer, ever
        redis: async () => {
          throw new Error('connect ECONNREFUSED redis://:hunter2@cache.internal:6379')
        },
        mail: async () => 'fine',
      },
    })
    try {
      const [res, ms] = await timed(() => app.inject({ method: 'GET', url: '/ready' }))
      assert.deepEqual(json(res), [
        503,
        { detail: 'SERVICE_UNAVAILABLE', checks: { database: 'unavailable', redis: 'unavailable', mail: 'ok' } },
      ])
      assert.equal(res.headers['retry-after'], '5')
      assert.doesNotMatch(res.body, /hunter2|ECONNREFUSED|internal/)
      assert.ok(ms < 300 + 2000, `/ready took ${ms} ms`)
      assert.deepEqual(json(await app.inject({ method: 'GET', url: '/health' })), [200, { status: 'ok' }])
    } finally {
      await app.close()
    }
  })

  test('other paths when asked; with no checks /ready is simply 200', async () => {
    const app = Fastify()
    await app.register(healthRoutes, { checks: {}, healthPath: '/livez', readyPath: '/readyz' })
    try {
      assert.deepEqual(json(await app.inject({ method: 'GET', url: '/livez' })), [200, { status: 'ok' }])
      assert.deepEqual(json(await app.inject({ method: 'GET', url: '/readyz' })), [200, { status: 'ok', checks: {} }])
      assert.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 404)
    } finally {
      await app.close()
    }
  })
})
