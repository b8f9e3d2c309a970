/**
 * Property-based fuzzing of every route of the reference service on every database (SQLite,
 * PostgreSQL, MariaDB; TEST_DATABASES narrows), with the Redis backend and a GitHub provider configured: generated, mostly malformed requests, sent in batches by a user
 * holding real tokens. For every batch: no answer is a 5xx; afterwards a normal login and
 * GET /users/me work; the victim's and the superuser's rows (user, sessions, refresh tokens) are
 * byte-identical; nobody became a superuser or verified by a request.
 *
 * A fixed seed by default (FUZZ_SEED), FUZZ_RUNS batches of FUZZ_BATCH requests; `npm run fuzz`
 * runs it much longer with a fresh seed. A failure prints fast-check's seed, path and counterexample.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, type TestContext, test } from 'node:test'
import fc from 'fast-check'
import { sql } from 'kysely'
import { type Database, openDatabase } from '../../src/stores/kysely/database.js'
import { sessionIdOf } from '../../src/strategies/session-id.js'
import { client, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { type FakeGitHub, startFakeGitHub } from '../support/oauth.js'
import { testRedisUrl } from '../support/redis.js'
import { type FuzzRequest, type RouteSpec, requestTo } from './arbitraries.js'
import { type Refs, toInject } from './send.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_601)
const RUNS = Number(process.env.FUZZ_RUNS ?? 40)
const BATCH = Number(process.env.FUZZ_BATCH ?? 40)

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const VICTIM = { email: 'victim@example.com', password: 'victim-password-123' }
const HEALTH = { email: 'health@example.com', password: 'health-password-123' }
const FUZZER = { email: 'fuzzer@example.com', password: 'fuzzer-password-123' }
const GITHUB_CLIENT = { id: 'fuzz-github-client', secret: 'fuzz-github-secret-0123456789' }

/** Routes outside the OpenAPI document: pages, assets, JWKS, docs, the demo route. */
const HIDDEN_ROUTES: RouteSpec[] = [
  { path: '/', methods: ['GET'] },
  { path: '/sign-in', methods: ['GET'] },
  { path: '/sign-up', methods: ['GET'] },
  { path: '/forgot-password', methods: ['GET'] },
  { path: '/reset-password', methods: ['GET'] },
  { path: '/verify', methods: ['GET'] },
  { path: '/account', methods: ['GET'] },
  { path: '/_pages/{name}', methods: ['GET'] },
  { path: '/.well-known/jwks.json', methods: ['GET'] },
  { path: '/openapi.json', methods: ['GET'] },
  { path: '/docs', methods: ['GET'] },
  { path: '/docs/{file}', methods: ['GET'] },
  { path: '/redoc', methods: ['GET'] },
  { path: '/redoc/redoc.standalone.js', methods: ['GET'] },
  { path: '/authenticated-route', methods: ['GET'] },
  { path: '/{unknown}', methods: ['GET', 'POST'] },
]

/** Every operation of /openapi.json, with its body's kind and fields. */
function routesOf(openapi: {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>
  components: { schemas: Record<string, { properties?: Record<string, { type?: unknown; 'x-email'?: boolean }> }> }
}): RouteSpec[] {
  const routes: RouteSpec[] = []
  for (const [path, operations] of Object.entries(openapi.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const content = operation.requestBody?.content ?? {}
      const type = Object.keys(content)[0]
      const ref = (content[type ?? '']?.schema as { $ref?: string } | undefined)?.$ref
      const properties = ref ? (openapi.components.schemas[ref.split('/').pop() as string]?.properties ?? {}) : {}
      const fields = Object.fromEntries(
        Object.entries(properties).map(([name, p]) => [
          name,
          p['x-email']
            ? 'email'
            : name === 'password'
              ? 'password'
              : name === 'token'
                ? 'token'
                : p.type === 'boolean'
                  ? 'boolean'
                  : Array.isArray(p.type)
                    ? 'nullable-string'
                    : 'string',
        ]),
      ) as RouteSpec['fields']
      routes.push({
        path,
        methods: [method.toUpperCase()],
        ...(type ? { body: type === 'application/json' ? 'json' : 'form', fields } : {}),
      })
    }
  }
  return routes
}

/** Rows as stored, every column, for a byte-for-byte comparison. */
async function rowsOf(db: Database, table: string, column: string, ids: string[]): Promise<string> {
  const { rows } =
    await sql`SELECT * FROM ${sql.table(table)} WHERE ${sql.ref(column)} IN (${sql.join(ids)}) ORDER BY 1`.execute(
      db.db,
    )
  return JSON.stringify(rows, (_k, v) => (Buffer.isBuffer(v) ? v.toString('hex') : v))
}

for (const kind of databaseKinds())
  describe(`fuzzing every route (${kind})`, () => {
    let started: TestApp | null = null
    let github: FakeGitHub
    let db: Database
    let routes: RouteSpec[] = []
    const refs: Refs = {}
    let redis = false
    let snapshot = ''
    let protectedIds: string[] = []
    const statuses = new Map<string, number>()
    let sent = 0

    const api = () => client((started as TestApp).app)

    async function login(user: { email: string; password: string }, backend: 'jwt' | 'cookie' | 'redis') {
      const res = await api().send({
        method: 'POST',
        url: `/auth/${backend}/login`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ username: user.email, password: user.password }).toString(),
      })
      if (backend === 'cookie') {
        assert.equal(res.statusCode, 204, res.body)
        return { token: (res.cookies.find((c) => c.name === 'fastapiusersauth')?.value ?? '') as string }
      }
      assert.equal(res.statusCode, 200, res.body)
      const body = res.json()
      return { token: body.access_token as string, refresh: body.refresh_token as string | undefined }
    }

    const snapshotNow = async () =>
      (
        await Promise.all([
          rowsOf(db, 'user', 'id', [...protectedIds, refs['health.id'] as string]),
          // The health check logs in every batch: only the victim's and the superuser's sessions are fixed.
          rowsOf(db, 'accesstoken', 'user_id', protectedIds),
          rowsOf(db, 'refresh_token', 'user_id', protectedIds),
          rowsOf(db, 'oauth_account', 'user_id', protectedIds),
          rowsOf(db, 'email_identity', 'user_id', protectedIds),
        ])
      ).join('\n')

    /** Whether the fuzzing user's tokens all still work (its password, e-mail and sessions unchanged). */
    async function fuzzerIntact(): Promise<boolean> {
      if (!refs['fuzzer.jwt']) return false
      const hash = createHash('sha256')
        .update(refs['fuzzer.refresh'] ?? '')
        .digest('hex')
      const { rows } = await sql<{
        used_at: unknown
      }>`SELECT used_at FROM refresh_token WHERE token_hash = ${hash}`.execute(db.db)
      const refresh = rows[0]
      if (!refresh || refresh.used_at !== null) return false
      const headers = [
        { authorization: `Bearer ${refs['fuzzer.jwt']}` },
        { cookie: `fastapiusersauth=${refs['fuzzer.cookie']}` },
        ...(redis ? [{ authorization: `Bearer ${refs['fuzzer.redis']}` }] : []),
      ]
      for (const h of headers) {
        const res = await api().send({ method: 'GET', url: '/users/me', headers: h })
        if (res.statusCode !== 200 || res.json().email !== FUZZER.email) return false
      }
      return true
    }

    /** The fuzzing user as it started (an admin PATCH), freshly logged in on every backend. */
    async function resetFuzzer() {
      if (await fuzzerIntact()) return
      const res = await api().patch(
        `/users/${refs['fuzzer.id']}`,
        { email: FUZZER.email, password: FUZZER.password, is_active: true, first_name: 'Fuzzer' },
        refs['admin.jwt'],
      )
      assert.equal(res.statusCode, 200, res.body)
      const jwt = await login(FUZZER, 'jwt')
      const cookie = await login(FUZZER, 'cookie')
      refs['fuzzer.jwt'] = jwt.token
      refs['fuzzer.refresh'] = jwt.refresh ?? ''
      refs['fuzzer.cookie'] = cookie.token
      refs['fuzzer.session'] = sessionIdOf(cookie.token)
      refs['fuzzer.redis'] = redis ? (await login(FUZZER, 'redis')).token : ''
    }

    before(async () => {
      const redisUrl = await testRedisUrl()
      redis = redisUrl !== null
      github = await startFakeGitHub(GITHUB_CLIENT)
      started = await startTestApp(kind, {
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
        OAUTH_GITHUB_CLIENT_ID: GITHUB_CLIENT.id,
        OAUTH_GITHUB_CLIENT_SECRET: GITHUB_CLIENT.secret,
        OAUTH_GITHUB_BASE_URL: github.url,
        OAUTH_GITHUB_API_URL: github.url,
        ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      })
      if (!started) return
      db = openDatabase(started.database.url, { poolSize: 2 })

      routes = [...routesOf((await api().get('/openapi.json')).json()), ...HIDDEN_ROUTES]
      if (redis) {
        const jwtLogin = routes.find((r) => r.path === '/auth/jwt/login') as RouteSpec
        routes.push({ ...jwtLogin, path: '/auth/redis/login' })
        routes.push({ path: '/auth/redis/logout', methods: ['POST'] })
      }

      for (const user of [VICTIM, HEALTH, FUZZER]) {
        const res = await api().register(user.email, user.password)
        assert.equal(res.statusCode, 201, res.body)
      }
      const idOf = async (email: string) =>
        String(
          (await sql<{ id: string }>`SELECT id FROM ${sql.table('user')} WHERE email = ${email}`.execute(db.db)).rows[0]
            ?.id,
        ).toLowerCase()
      refs['admin.id'] = await idOf(ADMIN.email)
      refs['admin.email'] = ADMIN.email
      refs['admin.jwt'] = (await login(ADMIN, 'jwt')).token
      refs['victim.id'] = await idOf(VICTIM.email)
      refs['victim.email'] = VICTIM.email
      refs['fuzzer.id'] = await idOf(FUZZER.email)
      refs['fuzzer.email'] = FUZZER.email
      // The victim's live sessions on every backend: none may end by someone else's request.
      refs['victim.jwt'] = (await login(VICTIM, 'jwt')).token
      const victimCookie = (await login(VICTIM, 'cookie')).token
      refs['victim.cookie'] = victimCookie
      refs['victim.cookie-session-id'] = sessionIdOf(victimCookie)
      refs['victim.redis'] = redis ? (await login(VICTIM, 'redis')).token : ''
      refs['victim.session'] = refs['victim.cookie-session-id']
      await login(ADMIN, 'cookie')
      refs['health.id'] = await idOf(HEALTH.email)
      protectedIds = [refs['admin.id'], refs['victim.id']]
      snapshot = await snapshotNow()
    })

    after(async () => {
      await db?.close()
      await started?.close()
      await github?.close()
    })

    /** One batch: every answer below 500, then the service still serves and no one else's data moved. */
    async function batch(requests: FuzzRequest[]) {
      await resetFuzzer()
      for (const request of requests) {
        const options = toInject(request, refs, TEST_SECRET)
        const res = await api().send(options)
        sent++
        const key = `${request.method} ${request.path.split('?')[0]?.slice(0, 40)} ${res.statusCode}`
        statuses.set(key, (statuses.get(key) ?? 0) + 1)
        if (res.statusCode >= 500) {
          throw new Error(
            `${options.method} ${String(options.url).slice(0, 300)} answered ${res.statusCode}: ${res.body.slice(0, 300)}`,
          )
        }
      }
      // A normal client is served as before.
      const health = await login(HEALTH, 'jwt')
      const me = await api().get('/users/me', health.token)
      assert.deepEqual([me.statusCode, me.json().email], [200, HEALTH.email])
      // Nobody else's rows changed, and the victim's sessions all still work.
      assert.equal(
        await snapshotNow(),
        snapshot,
        'a generated request changed the victim, the superuser or the health user',
      )
      for (const headers of [
        { authorization: `Bearer ${refs['victim.jwt']}` },
        { cookie: `fastapiusersauth=${refs['victim.cookie']}` },
        ...(redis ? [{ authorization: `Bearer ${refs['victim.redis']}` }] : []),
      ]) {
        const res = await api().send({ method: 'GET', url: '/users/me', headers })
        assert.deepEqual([res.statusCode, res.json().email], [200, VICTIM.email])
      }
      // No request made anyone a superuser, or verified anyone but (perhaps, with a token it may sign) the fuzzer.
      const flagged = async (column: string) =>
        (
          await sql<{
            id: string
          }>`SELECT id FROM ${sql.table('user')} WHERE ${sql.ref(column)} = ${sql.lit(true)}`.execute(db.db)
        ).rows.map((r) => String(r.id).toLowerCase())
      assert.deepEqual(await flagged('is_superuser'), [refs['admin.id']])
      assert.deepEqual(
        (await flagged('is_verified')).filter((id) => id !== refs['admin.id'] && id !== refs['fuzzer.id']),
        [],
      )
    }

    test(`generated requests, ${RUNS} batches of up to ${BATCH} (seed ${SEED})`, async (t: TestContext) => {
      if (!started) return t.skip(`${kind} is not reachable locally`)
      await fc.assert(
        fc.asyncProperty(fc.array(requestTo(routes), { minLength: 1, maxLength: BATCH, size: 'max' }), batch),
        { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
      )
      t.diagnostic(
        `requests fuzzed: ${sent} (seed ${SEED}, ${RUNS} batches of up to ${BATCH}, ${routes.length} routes)`,
      )
      const byClass = new Map<string, number>()
      for (const [key, n] of statuses) {
        const status = key.slice(-3)
        byClass.set(status, (byClass.get(status) ?? 0) + n)
      }
      t.diagnostic(
        `statuses: ${[...byClass]
          .sort()
          .map(([s, n]) => `${s}×${n}`)
          .join(' ')}`,
      )
    })
  })
