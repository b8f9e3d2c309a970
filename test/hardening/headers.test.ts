/**
 * What every answer says beside its body, on every database: security headers on every route
 * class (JSON API, errors 400/404/405/413/422/500, redirects, /docs, the hosted pages), HSTS only
 * when configured or in production, no stack trace or SQL in an error body (a throwing route, a
 * throwing hook, a dropped table), and a log where every request line carries a request id and no
 * password, token, hash or cookie value ever appears.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import Database from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { createConnection } from 'mysql2/promise'
import pg from 'pg'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { REDOC_CSP } from '../../server/redoc.js'
import { API_CSP } from '../../server/security-headers.js'
import { DOCS_CSP } from '../../src/fastify/openapi.js'
import { PAGES_CSP } from '../../src/pages/index.js'
import { client, type Response, TEST_SECRET } from '../support/app.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { startSmtpServer } from '../support/smtp.js'

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const PASSWORD = 'correct-horse-battery'
const NEW_PASSWORD = 'another-horse-battery'
const INTERNAL_ERROR = [500, { detail: 'Internal Server Error' }]

const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]

/** A CSP as a set of directives, however the header spaces them. */
const directives = (csp: unknown) =>
  String(csp)
    .split(';')
    .map((d) => d.trim().replace(/\s+/g, ' '))
    .filter(Boolean)
    .sort()

function assertSecurityHeaders(res: Response, csp: string, what: string, hsts?: string) {
  assert.deepEqual(directives(res.headers['content-security-policy']), directives(csp), `${what}: CSP`)
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
  assert.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: referrer`)
  assert.equal(res.headers['x-frame-options'], 'DENY', `${what}: framing`)
  assert.equal(res.headers['strict-transport-security'], hsts, `${what}: HSTS`)
  assert.equal(res.headers['x-powered-by'], undefined, `${what}: x-powered-by`)
}

interface Service {
  app: FastifyInstance
  database: TestDatabase
  logs: Record<string, unknown>[]
  smtp: Awaited<ReturnType<typeof startSmtpServer>>
}

/**
 * The service as buildApp makes it, its log lines captured, with two extra failure points added
 * before it starts: a route that throws an error full of SQL, and nothing else changed.
 */
async function startService(kind: DatabaseKind, env: Record<string, string> = {}): Promise<Service | null> {
  const database = await createTestDatabase(kind)
  if (!database) return null
  const smtp = await startSmtpServer()
  const logs: Record<string, unknown>[] = []
  const config = loadConfig({
    SECRET: TEST_SECRET,
    DATABASE_URL: database.url,
    SMTP_URL: smtp.url,
    LOG_LEVEL: 'info',
    FIRST_SUPERUSER_EMAIL: ADMIN.email,
    FIRST_SUPERUSER_PASSWORD: ADMIN.password,
    ...env,
  })
  const app = await buildApp(config, { logStream: { write: (line: string) => void logs.push(JSON.parse(line)) } })
  app.get('/test/throws', { schema: { hide: true } }, async () => {
    const error = new Error('SELECT "hashed_password" FROM "user" WHERE "email" = $1 -- near "FROM": syntax error')
    throw Object.assign(error, { code: 'SQLITE_ERROR', sql: 'SELECT "hashed_password" FROM "user"' })
  })
  await app.ready()
  return { app, database, logs, smtp }
}

async function stopService(service: Service | null) {
  if (!service) return
  await service.app.close()
  await service.database.drop()
  await service.smtp.close()
}

/** Drops the user table under the running service: every route that reads users then fails. */
async function dropUserTable(database: TestDatabase) {
  if (database.kind === 'sqlite') {
    const db = new Database(database.url.slice('sqlite:'.length))
    db.exec('DROP TABLE IF EXISTS oauth_account; DROP TABLE IF EXISTS accesstoken')
    db.exec('DROP TABLE IF EXISTS refresh_token; DROP TABLE "user"')
    db.close()
  } else if (database.kind === 'postgres') {
    const db = new pg.Client({ connectionString: database.url })
    await db.connect()
    await db.query('DROP TABLE "user" CASCADE')
    await db.end()
  } else {
    const db = await createConnection({ uri: database.url })
    await db.query('SET FOREIGN_KEY_CHECKS = 0')
    await db.query('DROP TABLE `user`')
    await db.end()
  }
}

const SQL_OR_STACK =
  /select|insert|update|from "|relation|table|sqlite|syntax|\bat\s+\S+\s*\(|\.ts:\d|stack|node_modules/i

for (const kind of databaseKinds()) {
  describe(`headers and error bodies on ${kind}`, () => {
    let service: Service | null = null
    before(async () => {
      service = await startService(kind)
    })
    after(() => stopService(service))
    const it = (name: string, body: (s: Service, t: TestContext) => Promise<void>) =>
      test(name, async (t) => {
        if (!service) return t.skip(`${kind} is not reachable locally`)
        await body(service, t)
      })

    it('every route class carries the security headers; /docs and the pages their own CSP; no HSTS unless configured', async ({
      app,
    }) => {
      const api = client(app)
      const email = newEmail()
      const registered = await api.register(email, PASSWORD)
      const login = await api.login(email, PASSWORD)
      const token = login.json().access_token as string
      const cookieLogin = await api.send({
        method: 'POST',
        url: '/auth/cookie/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ username: email, password: PASSWORD }).toString(),
      })
      assert.ok(cookieLogin.headers['set-cookie'])
      const json = (url: string, payload: string) =>
        api.send({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } })
      const api401 = await api.get('/users/me')
      const answers: [string, Response, number, string][] = [
        ['register 201', registered, 201, API_CSP],
        ['login 200', login, 200, API_CSP],
        ['cookie login 204', cookieLogin, 204, API_CSP],
        ['me 200', await api.get('/users/me', token), 200, API_CSP],
        ['me 401', api401, 401, API_CSP],
        ['forgot-password 202', await api.post('/auth/forgot-password', { email }), 202, API_CSP],
        ['bad credentials 400', await api.login(email, 'wrong-password-1'), 400, API_CSP],
        ['superuser route 403', await api.get(`/users/${registered.json().id}`, token), 403, API_CSP],
        ['logout 204', await api.post('/auth/jwt/logout', undefined, token), 204, API_CSP],
        ['unknown path 404', await api.get('/no/such/path'), 404, API_CSP],
        ['wrong method 405', await api.send({ method: 'PUT', url: '/users/me' }), 405, API_CSP],
        ['trailing slash 307', await api.get('/users/me/'), 307, API_CSP],
        ['validation 422', await api.post('/auth/forgot-password', {}), 422, API_CSP],
        ['malformed JSON 422', await json('/auth/register', '{"email":'), 422, API_CSP],
        ['body too large 413', await json('/auth/register', `"${'x'.repeat(1024 * 1024)}"`), 413, API_CSP],
        ['malformed URL 400', await api.get('/%zz'), 400, API_CSP],
        ['internal error 500', await api.get('/test/throws'), 500, API_CSP],
        ['JWKS 200', await api.get('/.well-known/jwks.json'), 200, API_CSP],
        ['openapi.json 200', await api.get('/openapi.json'), 200, API_CSP],
        ['/docs 200', await api.get('/docs'), 200, DOCS_CSP],
        ['/docs/json 200', await api.get('/docs/json'), 200, DOCS_CSP],
        ['/docs static script 200', await api.get('/docs/static/swagger-initializer.js'), 200, DOCS_CSP],
        ['/redoc 200', await api.get('/redoc'), 200, REDOC_CSP],
        ['/redoc script 200', await api.get('/redoc/redoc.standalone.js'), 200, API_CSP],
        ['sign-in page 200', await api.get('/sign-in'), 200, PAGES_CSP],
        ['reset-password page 200', await api.get('/reset-password?token=x'), 200, PAGES_CSP],
        ['pages stylesheet 200', await api.get('/_pages/pages.css'), 200, API_CSP],
      ]
      for (const [what, res, status, csp] of answers) {
        assert.equal(res.statusCode, status, `${what}: ${res.body.slice(0, 200)}`)
        assertSecurityHeaders(res, csp, what)
      }
      // Swagger UI runs no inline script and nothing from elsewhere; the API loads nothing at all.
      const docsScripts = directives(DOCS_CSP).find((d) => d.startsWith('script-src'))
      assert.equal(docsScripts, "script-src 'self'")
      assert.deepEqual(directives(API_CSP), ["default-src 'none'", "frame-ancestors 'none'"])
    })

    it('an internal error answers a bare 500: no stack, no SQL, whatever threw', async ({ app, database, logs }) => {
      const api = client(app)
      const thrown = await api.get('/test/throws')
      assert.deepEqual(reply(thrown), INTERNAL_ERROR)

      // A hook that throws (a before-delete veto gone wrong).
      const admin = await api.token(ADMIN.email, ADMIN.password)
      const victim = (await api.register(newEmail('victim'), PASSWORD)).json()
      const { hooks } = app.users.manager
      const original = hooks.onBeforeDelete
      hooks.onBeforeDelete = () => {
        throw new TypeError('Cannot read properties of undefined (reading \'DELETE FROM "user"\')')
      }
      try {
        const res = await api.delete(`/users/${victim.id}`, admin)
        assert.deepEqual(reply(res), INTERNAL_ERROR)
        assertSecurityHeaders(res, API_CSP, 'hook 500')
      } finally {
        hooks.onBeforeDelete = original
      }

      // The database itself failing: the user table dropped under the running service.
      const email = newEmail()
      await api.register(email, PASSWORD)
      await dropUserTable(database)
      const failures = {
        login: await api.login(email, PASSWORD),
        register: await api.register(newEmail(), PASSWORD),
        'forgot-password': await api.post('/auth/forgot-password', { email }),
        me: await api.get('/users/me', admin),
      }
      for (const [what, res] of Object.entries(failures)) {
        assert.deepEqual(reply(res), INTERNAL_ERROR, what)
        assert.doesNotMatch(res.body, SQL_OR_STACK, what)
        assertSecurityHeaders(res, API_CSP, what)
      }
      // The details go to the log, under the request's id, for the operator.
      const errors = logs.filter((line) => line.msg === 'unhandled error')
      assert.ok(errors.length >= 6, `${errors.length} error lines`)
      for (const line of errors) {
        assert.ok(line.reqId, 'error lines carry the request id')
        assert.ok((line.err as { stack?: string }).stack, 'the log has the stack the body does not')
      }
    })
  })

  describe(`the log of a whole account's life on ${kind}`, () => {
    let service: Service | null = null
    before(async () => {
      service = await startService(kind)
    })
    after(() => stopService(service))

    test('register → login → forgot → reset → verify → me: request ids on every request line, no secret anywhere', async (t) => {
      if (!service) return t.skip(`${kind} is not reachable locally`)
      const { app, logs, smtp } = service
      logs.length = 0 // the start-up lines (migrations, the first superuser) belong to no request
      const api = client(app)
      const email = newEmail('life')
      const linkToken = async (kind: 'reset-password' | 'verify') => {
        const pattern = new RegExp(`/${kind}\\?token=(\\S+)`)
        const mail = await smtp.waitForMail((m) => m.to.includes(email) && pattern.test(m.text))
        return decodeURIComponent((mail.text.match(pattern) as RegExpMatchArray)[1] as string)
      }
      const secrets: Record<string, string> = { password: PASSWORD, 'new password': NEW_PASSWORD }
      const requests: Response[] = []
      const send = async (res: Promise<Response>) => {
        const answer = await res
        requests.push(answer)
        return answer
      }

      assert.equal((await send(api.register(email, PASSWORD))).statusCode, 201)
      const login = (await send(api.login(email, PASSWORD))).json()
      secrets['access token'] = login.access_token
      secrets['refresh token'] = login.refresh_token
      const cookieLogin = await send(
        api.send({
          method: 'POST',
          url: '/auth/cookie/login',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ username: email, password: PASSWORD }).toString(),
        }),
      )
      const setCookie = String(cookieLogin.headers['set-cookie'])
      secrets['cookie value'] = (setCookie.match(/^[^=]+=([^;]+)/) as RegExpMatchArray)[1] as string
      secrets['password hash'] = (await app.users.manager.getByEmail(email))?.hashed_password as string
      await send(api.send({ method: 'GET', url: '/users/me', headers: { cookie: setCookie.split(';')[0] as string } }))

      assert.equal((await send(api.post('/auth/forgot-password', { email }))).statusCode, 202)
      secrets['reset token'] = await linkToken('reset-password')
      await send(api.get(`/reset-password?token=${encodeURIComponent(secrets['reset token'])}`))
      const reset = api.post('/auth/reset-password', { token: secrets['reset token'], password: NEW_PASSWORD })
      assert.equal((await send(reset)).statusCode, 200)
      secrets['new password hash'] = (await app.users.manager.getByEmail(email))?.hashed_password as string

      assert.equal((await send(api.post('/auth/request-verify-token', { email }))).statusCode, 202)
      secrets['verify token'] = await linkToken('verify')
      await send(api.get(`/verify?token=${encodeURIComponent(secrets['verify token'])}`))
      assert.equal((await send(api.post('/auth/verify', { token: secrets['verify token'] }))).statusCode, 200)

      const again = (await send(api.login(email, NEW_PASSWORD))).json()
      secrets['second access token'] = again.access_token
      const me = await send(api.get('/users/me', again.access_token))
      assert.deepEqual([me.statusCode, me.json().is_verified], [200, true])
      await app.mailer.drain()

      const text = logs.map((line) => JSON.stringify(line)).join('\n')
      for (const [what, secret] of Object.entries(secrets)) {
        assert.ok(secret && secret.length >= 8, what)
        assert.equal(text.includes(secret), false, `the log contains the ${what}`)
        assert.equal(text.includes(encodeURIComponent(secret)), false, `the log contains the ${what}, URL-encoded`)
      }
      assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ[\w-]+/, 'no JWT of any kind')
      assert.doesNotMatch(text, /\$argon2|\$2[aby]\$/, 'no password hash of any kind')

      // Every line written while a request was being served names it.
      const requestLines = logs.filter((line) => line.req || line.res || line.userId || line.err)
      const completed = logs.filter((line) => line.msg === 'request completed')
      assert.equal(completed.length, requests.length, 'one completion line per request')
      for (const line of requestLines) assert.ok(line.reqId, `no reqId in ${JSON.stringify(line)}`)
      const ids = new Set(completed.map((line) => line.reqId))
      assert.equal(ids.size, requests.length, 'each request its own id')
      for (const msg of [
        'user has registered',
        'user logged in',
        'user has forgot their password',
        'verification requested',
      ]) {
        const line = logs.find((l) => l.msg === msg)
        assert.ok(line && ids.has(line.reqId), `"${msg}" carries its request's id`)
      }
      t.diagnostic(`${logs.length} log lines checked for ${Object.keys(secrets).length} secrets`)
    })
  })
}

describe('HSTS', () => {
  test('HSTS_MAX_AGE sends Strict-Transport-Security on every answer; production turns it on by default', async (t) => {
    assert.equal(loadConfig({}).hstsMaxAge, 0)
    assert.equal(loadConfig({ NODE_ENV: 'production', SECRET: TEST_SECRET }).hstsMaxAge, 31_536_000)
    assert.equal(loadConfig({ NODE_ENV: 'production', SECRET: TEST_SECRET, HSTS_MAX_AGE: '0' }).hstsMaxAge, 0)
    assert.throws(() => loadConfig({ HSTS_MAX_AGE: '-1' }), /HSTS_MAX_AGE must be a whole number/)

    const service = await startService('sqlite', { HSTS_MAX_AGE: '63072000' })
    if (!service) return t.skip('sqlite unavailable')
    try {
      const api = client(service.app)
      const hsts = 'max-age=63072000; includeSubDomains'
      const answers: [string, Response, string][] = [
        ['JSON', await api.post('/auth/forgot-password', { email: newEmail() }), API_CSP],
        ['404', await api.get('/nope'), API_CSP],
        ['500', await api.get('/test/throws'), API_CSP],
        ['malformed URL', await api.get('/%zz'), API_CSP],
        ['docs', await api.get('/docs'), DOCS_CSP],
        ['page', await api.get('/sign-in'), PAGES_CSP],
      ]
      for (const [what, res, csp] of answers) assertSecurityHeaders(res, csp, what, hsts)
    } finally {
      await stopService(service)
    }
  })
})
