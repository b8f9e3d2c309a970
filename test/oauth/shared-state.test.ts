/**
 * The OAuth state is single use for the whole service, not per process: two instances of the
 * reference service (two buildApp) sharing a database, or a Redis, against a real OpenID provider.
 * A state consumed on one instance is refused on the other (400 OAUTH_INVALID_STATE) before the
 * provider's token endpoint is called, even with a fresh code for it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { ServiceUnavailable } from '../../src/core/errors.js'
import { redisStateStore } from '../../src/oauth/redis-state-store.js'
import { openDatabase } from '../../src/stores/kysely/database.js'
import { migrateToLatest } from '../../src/stores/kysely/migrate.js'
import { createKyselyOAuthStateStore } from '../../src/stores/kysely/oauth-state-store.js'
import { startTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, databaseKinds } from '../support/databases.js'
import {
  Browser,
  freePort,
  OIDC_CLIENT,
  type OidcProvider,
  oidcFlows,
  startListeningApp,
  startOidcProvider,
} from '../support/oauth.js'
import { openRedis, testRedisUrl } from '../support/redis.js'

const INVALID_STATE = [400, { detail: 'OAUTH_INVALID_STATE' }]

for (const kind of databaseKinds()) {
  describe(`one OAuth state, one use, across instances (${kind})`, () => {
    let provider: OidcProvider
    let redisUrl: string | null = null
    const apps: TestApp[] = []
    let a: (TestApp & { url: string }) | null = null
    /** Another instance on A's database. */
    let b: TestApp | null = null
    /** Two instances on one Redis, each with a database of its own: only Redis can share their states. */
    let ra: (TestApp & { url: string }) | null = null
    let rb: TestApp | null = null

    before(async () => {
      const [pa, pr] = [await freePort(), await freePort()]
      provider = await startOidcProvider([
        `http://127.0.0.1:${pa}/auth/test/callback`,
        `http://127.0.0.1:${pr}/auth/test/callback`,
      ])
      const env = {
        OAUTH_TEST_CLIENT_ID: OIDC_CLIENT.id,
        OAUTH_TEST_CLIENT_SECRET: OIDC_CLIENT.secret,
        OAUTH_TEST_ISSUER: provider.issuer,
      }
      a = await startListeningApp(kind, pa, env)
      if (a) {
        apps.push(a)
        b = await startTestApp(kind, { ...env, PUBLIC_URL: a.url }, { database: a.database })
        if (b) apps.push(b)
      }
      redisUrl = await testRedisUrl()
      if (redisUrl) {
        ra = await startListeningApp(kind, pr, { ...env, REDIS_URL: redisUrl })
        if (ra) {
          apps.push(ra)
          rb = await startTestApp(kind, { ...env, REDIS_URL: redisUrl, PUBLIC_URL: ra.url })
          if (rb) apps.push(rb)
        }
      }
    })
    after(async () => {
      // The second instances first: they leave the shared database to the first.
      for (const app of apps.reverse()) await app.close()
      await provider?.close()
    })

    /** A flow started on `first`, completed on `second`, then replayed on `first` with a fresh code. */
    async function replayAcross(first: TestApp & { url: string }, second: TestApp) {
      const flows = oidcFlows(first.url, provider)
      const user = flows.account('lb')
      const browser = new Browser()
      const { authorizationUrl, callback } = await flows.authorize(browser, user.sub)
      const cookie = `fastapiusersoauthcsrf=${browser.cookie(first.url, 'fastapiusersoauthcsrf')}`
      const path = (url: string) => new URL(url).pathname + new URL(url).search
      const done = await second.app.inject({ method: 'GET', url: path(callback), headers: { cookie } })
      assert.equal(done.statusCode, 200, done.body)

      // The same state, a fresh code from the provider (the browser still has its session there).
      const again = await browser.authorizeAt(authorizationUrl, user.sub, `${first.url}/auth/test/callback`)
      assert.notEqual(new URL(again).searchParams.get('code'), new URL(callback).searchParams.get('code'))
      assert.equal(new URL(again).searchParams.get('state'), new URL(callback).searchParams.get('state'))
      const exchanges = provider.tokenRequests
      const replay = await first.app.inject({ method: 'GET', url: path(again), headers: { cookie } })
      assert.deepEqual([replay.statusCode, replay.json()], INVALID_STATE)
      assert.equal(provider.tokenRequests, exchanges, "the provider's token endpoint was not called")
    }

    test('on one database: consumed on B, refused on A', async (t: TestContext) => {
      if (!a || !b) return t.skip(`${kind} is not reachable locally`)
      await replayAcross(a, b)
      const db = openDatabase(a.database.url)
      try {
        const { rows } = await sql<{ n: unknown }>`select count(*) as n from oauth_state`.execute(db.db)
        assert.equal(Number(rows[0]?.n), 1, 'the state is recorded in oauth_state')
      } finally {
        await db.close()
      }
    })

    test('on one Redis (each instance its own database): consumed on B, refused on A', async (t: TestContext) => {
      if (!redisUrl) return t.skip('Redis is not reachable locally')
      if (!ra || !rb) return t.skip(`${kind} is not reachable locally`)
      await replayAcross(ra, rb)
      const db = openDatabase(ra.database.url)
      try {
        const { rows } = await sql<{ n: unknown }>`select count(*) as n from oauth_state`.execute(db.db)
        assert.equal(Number(rows[0]?.n), 0, 'with REDIS_URL the states are kept in Redis')
      } finally {
        await db.close()
      }
      const redis = openRedis(redisUrl)
      try {
        // other suites share this Redis: their states may be about to expire (TTL 0) or gone (-2), but
        // none is ever kept without an expiry (-1), and this test's own are there with one of at most 600 s
        const keys = await redis.keys('fastify-users:oauth-state:*')
        const ttls = await Promise.all(keys.map((key) => redis.ttl(key)))
        assert.ok(!ttls.includes(-1), `TTLs ${ttls.join(', ')}`)
        assert.ok(
          ttls.some((ttl) => ttl > 0 && ttl <= 600),
          `TTLs ${ttls.join(', ')}`,
        )
      } finally {
        redis.disconnect()
      }
    })

    test('the database store: first use wins, expired rows are pruned', async (t: TestContext) => {
      const database = await createTestDatabase(kind)
      if (!database) return t.skip(`${kind} is not reachable locally`)
      const db = openDatabase(database.url)
      try {
        await migrateToLatest(db)
        const store = createKyselyOAuthStateStore(db, { pruneEvery: 3 })
        const now = Math.floor(Date.now() / 1000)
        assert.equal(await store.consume('old', now - 5), true)
        assert.equal(await store.consume('fresh', now + 600), true)
        assert.equal(await store.consume('fresh', now + 600), false)
        const { rows } = await sql<{ jti: string }>`select jti from oauth_state order by jti`.execute(db.db)
        assert.deepEqual(
          rows.map((r) => r.jti),
          ['fresh'],
        )
        const results = await Promise.all(Array.from({ length: 8 }, () => store.consume('raced', now + 600)))
        assert.equal(results.filter(Boolean).length, 1)
      } finally {
        await db.close()
        await database.drop()
      }
    })
  })
}

test('the Redis state store: an unreachable Redis is ServiceUnavailable (503), never a state accepted', async () => {
  const redis = new Redis('redis://127.0.0.1:1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  redis.on('error', () => {})
  try {
    await assert.rejects(redisStateStore(redis).consume('jti', Math.floor(Date.now() / 1000) + 60), ServiceUnavailable)
  } finally {
    redis.disconnect()
  }
})
