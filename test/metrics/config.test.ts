/** METRICS and METRICS_TOKEN in server/config.ts: off by default; in production, never without a token. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, loadConfig } from '../../server/config.js'

const PRODUCTION = { NODE_ENV: 'production', SECRET: 'a-production-secret-that-is-long-enough-0123' }
const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env)
    return []
  } catch (error) {
    assert.ok(error instanceof ConfigError)
    return error.problems
  }
}

test('metrics are off by default, and on with METRICS=true, with or without a token outside production', () => {
  assert.equal(loadConfig({}).metrics, undefined)
  assert.deepEqual(loadConfig({ METRICS: 'true' }).metrics, { token: undefined })
  assert.deepEqual(loadConfig({ METRICS: 'true', METRICS_TOKEN: 'scraper-token-0123456789' }).metrics, {
    token: 'scraper-token-0123456789',
  })
})

test('in production METRICS=true without METRICS_TOKEN refuses to start; a short token too', () => {
  assert.deepEqual(problemsOf({ ...PRODUCTION, METRICS: 'true' }), [
    'METRICS=true needs METRICS_TOKEN in production (the scraper sends it as a bearer token)',
  ])
  assert.deepEqual(problemsOf({ ...PRODUCTION, METRICS: 'true', METRICS_TOKEN: 'short' }), [
    'METRICS_TOKEN must be at least 16 characters',
  ])
  assert.deepEqual(problemsOf({ ...PRODUCTION, METRICS: 'true', METRICS_TOKEN: 'scraper-token-0123456789' }), [])
  assert.deepEqual(problemsOf({ ...PRODUCTION }), [])
})
