import assert from 'node:assert/strict'
import { once } from 'node:events'
import { request } from 'node:http'
import { test } from 'node:test'
import { createTestDatabase } from '../support/databases.js'
import { call, spawnInstance, startInstances, stopInstances, waitReady } from '../support/instance.js'
import { freePort } from '../support/ports.js'
import { testRedisUrl } from '../support/redis.js'
import { startSmtpServer } from '../support/smtp.js'

test('SIGTERM: /ready answers 503 at once, a slow request in flight finishes, queued mail is sent, then the process exits 0', async () => {
  const database = await createTestDatabase('sqlite')
  const smtp = await startSmtpServer()
  const port = await freePort()
  const instance = spawnInstance(
    { DATABASE_URL: database?.url ?? '', SMTP_URL: smtp.url, SHUTDOWN_DELAY: '1', RATE_LIMIT: 'false' },
    port,
  )
  try {
    await waitReady(instance)
    const exited = once(instance.child, 'exit')

    // a registration whose body arrives slowly: in flight across the whole shutdown
    const body = JSON.stringify({ email: 'slow@example.com', password: 'slow-password-1', first_name: 'Slow' })
    const slow = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/auth/register',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    })
    const answered = new Promise<[number | undefined, unknown]>((resolve, reject) => {
      slow.on('error', reject)
      slow.on('response', (res) => {
        let text = ''
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => resolve([res.statusCode, JSON.parse(text)]))
      })
    })
    slow.write(body.slice(0, 10))
    await new Promise((resolve) => slow.once('socket', (socket) => socket.once('connect', resolve)))

    instance.child.kill('SIGTERM')
    let ready: Response | undefined
    for (let i = 0; i < 100 && ready?.status !== 503; i++) {
      await ready?.body?.cancel()
      ready = await fetch(`${instance.url}/ready`)
    }
    assert.equal(ready?.status, 503)
    assert.deepEqual(await ready?.json(), { detail: 'SERVICE_UNAVAILABLE', checks: {}, draining: true })

    // after SHUTDOWN_DELAY the port closes to new connections, while our request is still open
    const refused = async () => {
      try {
        await (await fetch(`${instance.url}/health`, { headers: { connection: 'close' } })).body?.cancel()
        return false
      } catch {
        return true
      }
    }
    for (let i = 0; i < 300 && !(await refused()); i++) await new Promise((r) => setTimeout(r, 100))
    assert.ok(await refused(), 'the listener closed')
    assert.equal(instance.child.exitCode, null, 'the process waits for the request in flight')

    slow.end(body.slice(10))
    const [status, user] = await answered
    assert.equal(status, 201)
    assert.equal((user as { email: string }).email, 'slow@example.com')
    const [code] = await exited
    assert.equal(code, 0)
    // the welcome mail, queued after the answer, left before the process did
    assert.deepEqual(
      smtp.messages.map((m) => [m.to, m.subject]),
      [[['slow@example.com'], 'Welcome!']],
    )
  } finally {
    instance.kill()
    await smtp.close()
    await database?.drop()
  }
})

test('a restarted instance resumes: JWT and refresh tokens, database and Redis sessions all still work', async (t) => {
  const database = await createTestDatabase('postgres')
  const redisUrl = await testRedisUrl()
  if (!database || !redisUrl) return t.skip('PostgreSQL or Redis is not reachable')
  const env = { DATABASE_URL: database.url, REDIS_URL: redisUrl, RATE_LIMIT: 'false' }
  try {
    const [first] = (await startInstances(1, env)) as [Awaited<ReturnType<typeof startInstances>>[number]]
    const credentials = { username: 'restart@example.com', password: 'restart-password-1' }
    assert.equal(
      (
        await call(first, 'POST', '/auth/register', {
          json: { email: credentials.username, password: credentials.password, first_name: 'R' },
        })
      )[0],
      201,
    )
    const [, jwt] = await call<{ access_token: string; refresh_token: string }>(first, 'POST', '/auth/jwt/login', {
      form: credentials,
    })
    const [, redis] = await call<{ access_token: string }>(first, 'POST', '/auth/redis/login', { form: credentials })
    const cookieLogin = await fetch(`${first.url}/auth/cookie/login`, {
      method: 'POST',
      body: new URLSearchParams(credentials),
    })
    assert.equal(cookieLogin.status, 204)
    const cookie = (cookieLogin.headers.get('set-cookie') ?? '').split(';')[0] as string
    await stopInstances([first])

    const [second] = (await startInstances(1, env)) as [Awaited<ReturnType<typeof startInstances>>[number]]
    try {
      for (const token of [jwt.access_token, redis.access_token]) {
        assert.equal((await call(second, 'GET', '/users/me', { token }))[0], 200)
      }
      assert.equal((await call(second, 'GET', '/users/me', { headers: { cookie } }))[0], 200)
      const [status, refreshed] = await call(second, 'POST', '/auth/jwt/refresh', {
        json: { refresh_token: jwt.refresh_token },
      })
      assert.equal(status, 200)
      assert.equal((refreshed as { token_type: string }).token_type, 'bearer')
    } finally {
      await stopInstances([second])
    }
  } finally {
    await database.drop()
  }
})
