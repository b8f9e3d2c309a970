/**
 * Issue #13 and #14 on every database: a lock-out an attacker cannot turn against the owner
 * (device cookies), limits on e-mail and password changes, verification on refresh, no-store on
 * every answer that carries a token, bounded request and header timeouts over a real socket, and
 * the warning logged once when proxy headers arrive while TRUST_PROXY is off.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { after, before, describe, type TestContext, test } from 'node:test'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { UNTRUSTED_PROXY_WARNING } from '../../server/app.js'
import { startTestApp, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import {
  Browser,
  freePort,
  OIDC_CLIENT,
  type OidcProvider,
  startListeningApp,
  startOidcProvider,
} from '../support/oauth.js'
import { testRedisUrl } from '../support/redis.js'

const PASSWORD = 'correct-horse-battery'
const WRONG = 'wrong-horse-battery'
const TOO_MANY = { detail: 'TOO_MANY_REQUESTS' }
const BAD_CREDENTIALS = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const random = () => randomBytes(4).readUInt32BE()
const newIp = () => `10.${random() % 250}.${random() % 250}.${(random() % 250) + 1}`
const reply = (res: LightMyRequestResponse) => [res.statusCode, res.body === '' ? '' : res.json()]
const refused = (res: LightMyRequestResponse, retryAfter: string) =>
  assert.deepEqual([res.statusCode, res.json(), res.headers['retry-after']], [429, TOO_MANY, retryAfter], res.body)
const loggedIn = (res: LightMyRequestResponse) => res.statusCode === 200 || res.statusCode === 204

function login(app: FastifyInstance, username: string, password: string, cookie?: string, path = '/auth/jwt/login') {
  return app.inject({
    method: 'POST',
    url: path,
    remoteAddress: newIp(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    payload: new URLSearchParams({ username, password }).toString(),
  })
}

/** The `name=value` of the device cookie an answer sets. */
function deviceCookie(res: LightMyRequestResponse): string {
  const cookies = [res.headers['set-cookie'] ?? []].flat()
  const device = cookies.find((c) => c.startsWith('fastapiusersdevice='))
  assert.ok(device, `no device cookie in ${JSON.stringify(cookies)}`)
  assert.match(device, /; HttpOnly/)
  assert.match(device, /; SameSite=Strict/)
  return device.split(';')[0] as string
}

async function newUser(app: FastifyInstance, email = newEmail()) {
  await app.users.manager.create({ email, password: PASSWORD, first_name: null }, { safe: false })
  return email
}

/** Writes `head`, then one more byte every `everyMs`; resolves when the server closes (or after `maxMs`). */
async function trickle(port: number, head: string, everyMs: number, maxMs: number) {
  const socket = connect(port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk) => {
    answer += chunk
  })
  socket.on('error', () => {})
  const started = Date.now()
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)))
  socket.write(head)
  const timer = setInterval(() => socket.writable && socket.write('x'), everyMs)
  const elapsed = await Promise.race([closed, sleep(maxMs).then(() => null)])
  clearInterval(timer)
  socket.destroy()
  return { answer, elapsed }
}

/** One database, and with `redis` the Redis backend and limiter store too (skipped where Redis is missing). */
function suite(kind: DatabaseKind, redis = false) {
  describe(`${kind}${redis ? ' + redis' : ''}: limits, lock-out, tokens and timeouts`, () => {
    const logs: Record<string, unknown>[] = []
    const env = {
      RATE_LIMIT: 'true',
      RATE_LIMIT_IP_REQUESTS: '1000',
      RATE_LIMIT_ACCOUNT_REQUESTS: '2',
      LOGIN_IP_FAILURES: '1000',
      LOGIN_FREE_ATTEMPTS: '2',
      LOGIN_LOCKOUT_MAX: '60',
      REQUEST_TIMEOUT_MS: '2000',
      HEADERS_TIMEOUT_MS: '1000',
      LOG_LEVEL: 'warn',
    }
    // REQUIRE_VERIFICATION, TRUST_PROXY on, and 3 requests a minute per address to each limited route
    const verifying = {
      REQUIRE_VERIFICATION: 'true',
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'warn',
      RATE_LIMIT: 'true',
      RATE_LIMIT_IP_REQUESTS: '3',
      RATE_LIMIT_ACCOUNT_REQUESTS: '1000',
    }
    const verifyingLogs: Record<string, unknown>[] = []
    let main: TestApp | null = null
    let strict: TestApp | null = null
    let port = 0
    let skipReason = `${kind} is not reachable locally`
    before(async () => {
      const redisUrl = redis ? await testRedisUrl() : null
      if (redis && !redisUrl) {
        skipReason = 'Redis is not reachable locally'
        return
      }
      const withRedis: Record<string, string> = redisUrl ? { REDIS_URL: redisUrl } : {}
      main = await startTestApp(kind, { ...env, ...withRedis }, { logs })
      strict = await startTestApp(kind, { ...verifying, ...withRedis }, { logs: verifyingLogs })
      if (!main) return
      await main.app.listen({ port: 0, host: '127.0.0.1' })
      port = (main.app.server.address() as { port: number }).port
    })
    after(async () => {
      await main?.close()
      await strict?.close()
    })
    const it = (name: string, body: (app: FastifyInstance, strictApp: FastifyInstance) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!main || !strict) return t.skip(skipReason)
        await body(main.app, strict.app)
      })

    it('lock-out: the owner with a device cookie gets in while an attacker keeps failing', async (app) => {
      const email = await newUser(app)
      const first = await login(app, email, PASSWORD)
      assert.equal(first.statusCode, 200)
      let device = deviceCookie(first)
      // The attacker (no device cookie, a new address each time) uses up the account's allowance.
      assert.deepEqual(reply(await login(app, email, WRONG)), BAD_CREDENTIALS)
      assert.deepEqual(reply(await login(app, email, WRONG)), BAD_CREDENTIALS)
      refused(await login(app, email, WRONG), '1')
      // An untrusted client shares the account's lock-out, right password or not.
      refused(await login(app, email, PASSWORD), '1')
      // The owner's device keeps its own allowance: in, on either backend, each time with a fresh cookie.
      const owner = await login(app, email, PASSWORD, device)
      assert.equal(owner.statusCode, 200, owner.body)
      device = deviceCookie(owner)
      const viaCookie = await login(app, email, PASSWORD, device, '/auth/cookie/login')
      assert.equal(viaCookie.statusCode, 204, viaCookie.body)
      device = deviceCookie(viaCookie)
      // The owner's success gives the attacker nothing back.
      refused(await login(app, email, WRONG), '1')
      // A device's own failures lock that device alone.
      assert.deepEqual(reply(await login(app, email, WRONG, device)), BAD_CREDENTIALS)
      assert.deepEqual(reply(await login(app, email, WRONG, device)), BAD_CREDENTIALS)
      refused(await login(app, email, PASSWORD, device), '1')
    })

    it('lock-out: a device cookie of another account, tampered or made up is an untrusted client', async (app) => {
      const email = await newUser(app)
      const other = await newUser(app)
      const othersDevice = deviceCookie(await login(app, other, PASSWORD))
      assert.deepEqual(reply(await login(app, email, WRONG)), BAD_CREDENTIALS)
      assert.deepEqual(reply(await login(app, email, WRONG)), BAD_CREDENTIALS)
      refused(await login(app, email, PASSWORD, othersDevice), '1')
      const [name, value = ''] = othersDevice.split('=')
      const [nonce, issued] = value.split('.')
      refused(await login(app, email, PASSWORD, `${name}=${nonce}.${issued}.${'A'.repeat(43)}`), '1')
      refused(await login(app, email, PASSWORD, `${name}=${randomBytes(16).toString('base64url')}`), '1')
    })

    it('e-mail and password changes: per user, and per new address (each mails a notice)', async (app) => {
      const email = await newUser(app)
      const token = (await login(app, email, PASSWORD)).json().access_token
      const patch = (body: object, bearer = token) =>
        app.inject({ method: 'PATCH', url: '/users/me', headers: { authorization: `Bearer ${bearer}` }, payload: body })
      assert.equal((await patch({ first_name: 'A' })).statusCode, 200) // not a credential: not counted
      const moved = newEmail('moved')
      assert.equal((await patch({ email: moved })).statusCode, 200)
      assert.equal((await patch({ password: 'another-horse-battery' })).statusCode, 200)
      // the new password ended the old token's session: a new one
      const again = (await login(app, moved, 'another-horse-battery')).json().access_token
      refused(await patch({ email: newEmail('again') }, again), '3600')
      refused(await patch({ password: 'third-horse-battery' }, again), '3600')
      assert.equal((await patch({ first_name: 'B' }, again)).statusCode, 200)
      // One target address, three users: taken by the first, refused (already exists) then limited.
      const target = newEmail('target')
      const tokenOf = async () => (await login(app, await newUser(app), PASSWORD)).json().access_token
      assert.equal((await patch({ email: target }, await tokenOf())).statusCode, 200)
      assert.deepEqual(reply(await patch({ email: target.toUpperCase() }, await tokenOf())), [
        400,
        { detail: 'UPDATE_USER_EMAIL_ALREADY_EXISTS' },
      ])
      refused(await patch({ email: ` ${target}` }, await tokenOf()), '3600')
    })

    it('e-mail and password changes per client address: the 4th a minute from one address is a 429', async (_app, app) => {
      const ip = newIp()
      const manager = app.users.manager
      const change = async (body: object) => {
        const email = newEmail()
        await manager.create({ email, password: PASSWORD, first_name: null, is_verified: true }, { safe: false })
        const token = (await login(app, email, PASSWORD)).json().access_token
        const headers = { authorization: `Bearer ${token}` }
        return app.inject({ method: 'PATCH', url: '/users/me', headers, payload: body, remoteAddress: ip })
      }
      assert.equal((await change({ first_name: 'A' })).statusCode, 200) // not counted
      assert.equal((await change({ email: newEmail() })).statusCode, 200)
      assert.equal((await change({ password: 'another-horse-battery' })).statusCode, 200)
      assert.equal((await change({ email: newEmail(), password: 'third-horse-battery' })).statusCode, 200)
      const res = await change({ password: 'fourth-horse-battery' })
      assert.deepEqual([res.statusCode, res.json()], [429, TOO_MANY])
      const retryAfter = Number(res.headers['retry-after'])
      assert.ok(retryAfter > 30 && retryAfter <= 60, `Retry-After ${retryAfter}`)
    })

    it('REQUIRE_VERIFICATION: refresh is refused to a user no longer verified, as login is', async (_app, app) => {
      const manager = app.users.manager
      const email = newEmail()
      await manager.create({ email, password: PASSWORD, first_name: null, is_verified: true }, { safe: false })
      const refreshWith = (refresh_token: string) =>
        app.inject({ method: 'POST', url: '/auth/jwt/refresh', payload: { refresh_token } })
      const tokens = (await login(app, email, PASSWORD)).json()
      const renewed = await refreshWith(tokens.refresh_token)
      assert.equal(renewed.statusCode, 200, renewed.body)
      const user = await manager.getByEmail(email)
      assert.ok(user)
      await manager.update(user, { is_verified: false }, { safe: false })
      const notVerified = [400, { detail: 'LOGIN_USER_NOT_VERIFIED' }]
      assert.deepEqual(reply(await refreshWith(renewed.json().refresh_token)), notVerified)
      assert.deepEqual(reply(await login(app, email, PASSWORD)), notVerified)
    })

    it('Cache-Control: no-store on every answer that carries a token, on every backend', async (app) => {
      const email = await newUser(app)
      const backends = app.users.backends
      assert.deepEqual(
        backends.map((b) => b.name),
        redis ? ['jwt', 'cookie', 'redis'] : ['jwt', 'cookie'],
      )
      for (const backend of backends) {
        const res = await login(app, email, PASSWORD, undefined, `/auth/${backend.name}/login`)
        assert.ok(loggedIn(res), `${backend.name}: ${res.statusCode} ${res.body}`)
        assert.equal(res.headers['cache-control'], 'no-store', `${backend.name} login`)
        if (!backend.refresh) continue
        const refreshed = await app.inject({
          method: 'POST',
          url: `/auth/${backend.name}/refresh`,
          payload: { refresh_token: res.json().refresh_token },
        })
        assert.ok(loggedIn(refreshed), `${backend.name} refresh: ${refreshed.body}`)
        assert.equal(refreshed.headers['cache-control'], 'no-store', `${backend.name} refresh`)
      }
      // Registration answers the user, no token.
      const registered = await app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { email: newEmail(), password: PASSWORD, first_name: 'A' },
      })
      assert.equal(registered.statusCode, 201)
      assert.deepEqual(
        Object.keys(registered.json()).filter((k) => /token/.test(k)),
        [],
      )
    })

    it('a request body trickled a byte at a time is answered 408 and closed within REQUEST_TIMEOUT_MS', async () => {
      const head =
        'POST /auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n'
      // At a byte every 200 ms the body would take 2000 s; the service gives it 2 s (checked every second).
      const { answer, elapsed } = await trickle(port, head, 200, 15_000)
      assert.ok(elapsed !== null, 'the connection was still open after 15 s')
      assert.ok(elapsed >= 1900, `closed after ${elapsed} ms, before the timeout`)
      assert.match(answer, /^HTTP\/1\.1 408 /)
    })

    it('headers trickled a byte at a time are answered 408 and closed within HEADERS_TIMEOUT_MS', async () => {
      const { answer, elapsed } = await trickle(
        port,
        'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ',
        200,
        15_000,
      )
      assert.ok(elapsed !== null, 'the connection was still open after 15 s')
      assert.ok(elapsed >= 900, `closed after ${elapsed} ms, before the timeout`)
      assert.match(answer, /^HTTP\/1\.1 408 /)
    })

    it('proxy headers while TRUST_PROXY is off: one warning per process, none when it is set', async (app, trusting) => {
      for (const headers of [{ 'x-forwarded-for': '203.0.113.7' }, { forwarded: 'for=203.0.113.8' }, {}]) {
        await app.inject({ method: 'GET', url: '/health', headers })
        await trusting.inject({ method: 'GET', url: '/health', headers })
      }
      await app.inject({ method: 'GET', url: '/health', headers: { 'x-forwarded-for': '203.0.113.9' } })
      const warnings = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === UNTRUSTED_PROXY_WARNING)
      assert.equal(warnings(logs).length, 1)
      assert.equal(warnings(logs)[0]?.level, 40)
      assert.equal(warnings(verifyingLogs).length, 0)
    })
  })
}

for (const kind of databaseKinds()) suite(kind)
suite('sqlite', true)

for (const kind of databaseKinds()) {
  describe(`${kind}: the social-login callback`, () => {
    let provider: OidcProvider | null = null
    let started: (TestApp & { url: string }) | null = null
    before(async () => {
      const port = await freePort()
      provider = await startOidcProvider([`http://127.0.0.1:${port}/auth/test/callback`])
      started = await startListeningApp(kind, port, {
        OAUTH_TEST_CLIENT_ID: OIDC_CLIENT.id,
        OAUTH_TEST_CLIENT_SECRET: OIDC_CLIENT.secret,
        OAUTH_TEST_ISSUER: provider.issuer,
        RATE_LIMIT: 'true',
      })
    })
    after(async () => {
      await started?.close()
      await provider?.close()
    })

    test('its answer carries a token and says Cache-Control: no-store', async (t: TestContext) => {
      if (!started || !provider) return t.skip(`${kind} is not reachable locally`)
      const sub = `social-${randomBytes(4).toString('hex')}`
      provider.accounts.set(sub, { email: `${sub}@example.com`, email_verified: true })
      const browser = new Browser()
      const authorize = await browser.fetch(`${started.url}/auth/test/authorize`)
      assert.equal(authorize.status, 200)
      assert.equal(authorize.headers.get('cache-control'), 'no-store')
      const { authorization_url } = (await authorize.json()) as { authorization_url: string }
      const callback = await browser.authorizeAt(authorization_url, sub, `${started.url}/auth/test/callback`)
      const res = await browser.fetch(callback)
      const body = (await res.json()) as { access_token?: string }
      assert.equal(res.status, 200)
      assert.ok(body.access_token)
      assert.equal(res.headers.get('cache-control'), 'no-store')
    })
  })
}
