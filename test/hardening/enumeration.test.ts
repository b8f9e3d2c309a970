/**
 * No user enumeration where the contract allows it (SECURITY.md "Enumeration and timing"), on
 * every database: forgot-password and request-verify-token answer the same, in the same time,
 * for unknown, inactive and existing users; a login for an unknown e-mail costs what a wrong
 * password costs. The timings are measured, not assumed: many interleaved samples per group,
 * medians compared, the figures printed as test diagnostics. Each bound is checked against a
 * control run that reintroduces the leak (no dummy hash, mail sent inline to a slow SMTP
 * server), so the test is known to fail when the protection is gone.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { after, before, describe, type TestContext, test } from 'node:test'
import { smtpDelivery } from 'fastify-users/mail'
import { SMTPServer } from 'smtp-server'
import { client, type Response, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { freePort } from '../support/ports.js'
import { startSmtpServer } from '../support/smtp.js'

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const PASSWORD = 'correct-horse-battery'
const WRONG = 'wrong-horse-battery'

/**
 * forgot-password and request-verify-token do a look-up, maybe sign a token and enqueue a mail:
 * about a millisecond. Interleaved medians of one group and another differ by far less (a
 * tenth of a millisecond here) even on a busy machine; 5 ms leaves room for scheduling noise,
 * yet an inline send to an SMTP server that takes 50 ms to greet (the control below) adds at
 * least 50 ms to one group only.
 */
const MAIL_ROUTE_BOUND_MS = 5
/** The control's SMTP server waits this long before its greeting. */
const SLOW_SMTP_DELAY_MS = 50
/**
 * A login's cost is one argon2id verification (19 MiB, 2 passes: 20 to 70 ms here). Without the
 * dummy hash an unknown e-mail skips it and answers over 90% faster; with it, the groups' medians
 * stay within about 10% of each other on a loaded machine. A third of the wrong-password median
 * sits between the two with room on either side, at any machine speed.
 */
const LOGIN_RELATIVE_BOUND = 1 / 3

const SAMPLES = { mail: 100, login: 40 }
const WARM_UP = 5

const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]
/** The headers a client sees, without the ones that differ on every answer anyway. */
const headersOf = (res: Response) => {
  const { date: _date, ...rest } = res.headers
  return rest
}

type Api = ReturnType<typeof client>

interface Measurement {
  medians: Record<string, number>
  spread: number
}

/** [status, parsed body]: what a timed request answered. */
type Answer = [number, unknown]

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/**
 * Times each group's request `samples` times, round after round in a fresh random order each
 * round (so load from other processes falls on every group alike), after a few unrecorded
 * warm-up rounds. Every answer must be `expected`.
 */
async function measure(
  groups: Record<string, () => Promise<Answer>>,
  samples: number,
  expected: Answer,
): Promise<Measurement> {
  const names = Object.keys(groups)
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < WARM_UP + samples; round++) {
    const order = [...names].sort(() => Math.random() - 0.5)
    for (const name of order) {
      const start = process.hrtime.bigint()
      const answer = await (groups[name] as () => Promise<Answer>)()
      const elapsed = Number(process.hrtime.bigint() - start) / 1e6
      assert.deepEqual(answer, expected, name)
      if (round >= WARM_UP) times[name]?.push(elapsed)
    }
  }
  const medians = Object.fromEntries(names.map((n) => [n, median(times[n] as number[])]))
  const values = Object.values(medians)
  return { medians, spread: Math.max(...values) - Math.min(...values) }
}

const ms = (value: number) => `${value.toFixed(2)} ms`
const describeMedians = (m: Measurement) =>
  `${Object.entries(m.medians)
    .map(([name, value]) => `${name} ${ms(value)}`)
    .join(', ')}; largest difference ${ms(m.spread)}`

/**
 * An SMTP server that accepts every mail without reading it (so it costs the measuring process
 * next to nothing), optionally waiting before its greeting like a slow or distant relay.
 */
async function startSmtpSink(delayMs = 0): Promise<{ url: string; close(): Promise<void> }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onConnect: (_session, callback) => void setTimeout(() => callback(), delayMs),
    onData: (stream, _session, callback) => {
      stream.on('end', () => callback())
      stream.resume()
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as { port: number }
  return { url: `smtp://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

/**
 * The same sink in a process of its own, as a real relay is: receiving mail then costs the
 * measuring process nothing at all.
 */
async function startSmtpSinkProcess(): Promise<{ url: string; close(): Promise<void> }> {
  const script = `
    const { SMTPServer } = require('smtp-server')
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], disableReverseLookup: true, logger: false,
      onData(stream, _session, callback) { stream.on('end', () => callback()); stream.resume() },
    })
    server.listen(0, '127.0.0.1', () => console.log(server.server.address().port))`
  const child = spawn('node', ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer]
  return {
    url: `smtp://127.0.0.1:${chunk.toString().trim()}`,
    async close() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}

/**
 * The service as `npm start` runs it, in its own process: timed from here over loopback HTTP, a
 * request ends when its answer arrives, whatever the service does after writing it (in one
 * process, work deferred past the response would still delay the client's read).
 */
async function startServiceProcess(database: TestDatabase, env: Record<string, string>) {
  const port = await freePort()
  const child: ChildProcess = spawn('node', ['--import', 'tsx', 'server/main.ts'], {
    env: {
      ...process.env,
      SECRET: TEST_SECRET,
      DATABASE_URL: database.url,
      PORT: String(port),
      LOG_LEVEL: 'silent',
      PAGES: 'false',
      // hundreds of samples from one address; the limiter keys on the address and the hashed e-mail,
      // whether or not the account exists, so it adds no difference of its own
      RATE_LIMIT: 'false',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  const call = async (path: string, init: RequestInit = {}): Promise<Answer> => {
    const res = await fetch(`${url}${path}`, init)
    const text = await res.text()
    return [res.status, text === '' ? '' : JSON.parse(text)]
  }
  const post = (path: string, body: unknown, token?: string) =>
    call(path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    })
  const login = (username: string, password: string) =>
    call('/auth/jwt/login', { method: 'POST', body: new URLSearchParams({ username, password }) })
  // a generous wait for start-up (tsx compiles the service on a loaded machine); the timings come after it
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`)
    try {
      await fetch(`${url}/openapi.json`)
      break
    } catch {
      if (Date.now() > deadline) {
        // a service left running would keep this file's process, and the whole run, from ending
        child.kill('SIGKILL')
        throw new Error('the service never answered')
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return {
    post,
    login,
    patch: (path: string, body: unknown, token: string) =>
      call(path, {
        method: 'PATCH',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      }),
    async close() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}

interface Users {
  active: string
  inactive: string
  verified: string
}

for (const kind of databaseKinds()) {
  describe(`enumeration on ${kind}`, () => {
    let smtp: Awaited<ReturnType<typeof startSmtpServer>>
    let started: TestApp | null = null
    let api: Api
    const users: Users = { active: '', inactive: '', verified: '' }

    before(async () => {
      smtp = await startSmtpServer()
      started = await startTestApp(kind as DatabaseKind, {
        SMTP_URL: smtp.url,
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
      })
      if (!started) return
      api = client(started.app)
      const admin = await api.token(ADMIN.email, ADMIN.password)
      for (const name of ['active', 'inactive', 'verified'] as const) {
        const email = newEmail(name)
        const res = await api.register(email, PASSWORD)
        assert.equal(res.statusCode, 201, res.body)
        users[name] = email
        const patch = { active: null, inactive: { is_active: false }, verified: { is_verified: true } }[name]
        if (patch) assert.equal((await api.patch(`/users/${res.json().id}`, patch, admin)).statusCode, 200)
      }
    })
    after(async () => {
      await started?.close()
      await smtp?.close()
    })

    const it = (name: string, body: (t: TestContext) => Promise<void>) =>
      test(name, async (t) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body(t)
      })

    it('forgot-password and request-verify-token answer byte for byte the same whoever asks', async () => {
      for (const route of ['/auth/forgot-password', '/auth/request-verify-token']) {
        const answers = await Promise.all(
          [newEmail('nobody'), users.inactive, users.active, users.verified].map((email) => api.post(route, { email })),
        )
        for (const res of answers) {
          assert.deepEqual(reply(res), [202, null], route)
          assert.deepEqual(headersOf(res), headersOf(answers[0] as Response), route)
        }
      }
    })

    it('login answers the same for an unknown e-mail, an inactive user and a wrong password', async () => {
      const answers = [
        await api.login(newEmail('nobody'), PASSWORD),
        await api.login(users.inactive, PASSWORD),
        await api.login(users.active, WRONG),
      ]
      for (const res of answers) {
        assert.deepEqual(reply(res), [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
        assert.deepEqual(headersOf(res), headersOf(answers[0] as Response))
      }
    })

    it("register's REGISTER_USER_ALREADY_EXISTS is the one answer that tells (the contract), and only after the password rules", async () => {
      // Unavoidable: fastapi-users' clients rely on this code, so register says that an address is
      // taken. What we can keep: a refused password answers the same for a taken and a free address
      // (password rules come first), and rate limiting bounds how fast anyone can ask.
      const taken = users.active.toUpperCase()
      assert.deepEqual(reply(await api.register(taken, PASSWORD)), [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
      const short = [
        400,
        { detail: { code: 'REGISTER_INVALID_PASSWORD', reason: 'Password should be at least 8 characters' } },
      ]
      assert.deepEqual(reply(await api.register(taken, 'short')), short)
      assert.deepEqual(reply(await api.register(newEmail('free'), 'short')), short)
    })

    it('forgot-password, request-verify-token and login take the same time whoever asks; without the protections they would not', async (t) => {
      const database = (await createTestDatabase(kind)) as TestDatabase
      const sink = await startSmtpSinkProcess()
      const service = await startServiceProcess(database, {
        SMTP_URL: sink.url,
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
      }).catch(async (error) => {
        await sink.close()
        throw error
      })
      try {
        const [, admin] = await service.login(ADMIN.email, ADMIN.password)
        const adminToken = (admin as { access_token: string }).access_token
        const remote: Users = { active: '', inactive: '', verified: '' }
        for (const name of ['active', 'inactive', 'verified'] as const) {
          remote[name] = newEmail(name)
          const [status, user] = await service.post('/auth/register', {
            email: remote[name],
            password: PASSWORD,
            first_name: 'Test',
          })
          assert.equal(status, 201)
          const patch = { active: null, inactive: { is_active: false }, verified: { is_verified: true } }[name]
          if (patch) await service.patch(`/users/${(user as { id: string }).id}`, patch, adminToken)
        }
        const unknown = newEmail('nobody')
        const mailGroups = (route: string, emails: Record<string, string>) =>
          Object.fromEntries(
            Object.entries(emails).map(([name, email]) => [name, () => service.post(route, { email })]),
          )

        const forgot = await measure(
          mailGroups('/auth/forgot-password', { unknown, inactive: remote.inactive, existing: remote.active }),
          SAMPLES.mail,
          [202, null],
        )
        t.diagnostic(`${kind} forgot-password medians: ${describeMedians(forgot)} (bound ${ms(MAIL_ROUTE_BOUND_MS)})`)
        const verify = await measure(
          mailGroups('/auth/request-verify-token', {
            unknown,
            inactive: remote.inactive,
            verified: remote.verified,
            unverified: remote.active,
          }),
          SAMPLES.mail,
          [202, null],
        )
        t.diagnostic(
          `${kind} request-verify-token medians: ${describeMedians(verify)} (bound ${ms(MAIL_ROUTE_BOUND_MS)})`,
        )
        const login = await measure(
          {
            unknown: () => service.login(unknown, PASSWORD),
            inactive: () => service.login(remote.inactive, PASSWORD),
            'wrong password': () => service.login(remote.active, WRONG),
          },
          SAMPLES.login,
          [400, { detail: 'LOGIN_BAD_CREDENTIALS' }],
        )
        const loginBound = LOGIN_RELATIVE_BOUND * (login.medians['wrong password'] as number)
        t.diagnostic(
          `${kind} login medians: ${describeMedians(login)} (bound ${ms(loginBound)}, a third of a wrong password's)`,
        )

        assert.ok(forgot.spread < MAIL_ROUTE_BOUND_MS, `forgot-password: ${describeMedians(forgot)}`)
        assert.ok(verify.spread < MAIL_ROUTE_BOUND_MS, `request-verify-token: ${describeMedians(verify)}`)
        assert.ok(login.spread < loginBound, `login: ${describeMedians(login)}`)
      } finally {
        await service.close()
        await sink.close()
        await database.drop()
      }

      // Controls, in this process with the leak put back: the same bounds must catch them.
      const app = (started as TestApp).app
      const local = (res: Response): Answer => [res.statusCode, res.body === '' ? '' : res.json()]
      const slow = await startSmtpSink(SLOW_SMTP_DELAY_MS)
      const delivery = smtpDelivery({ url: slow.url, from: 'control@example.com' })
      const { hooks, passwords } = app.users.manager
      const inlineMail = hooks.onAfterForgotPassword
      const dummy = passwords.verifyDummy
      hooks.onAfterForgotPassword = (user, token) =>
        delivery.send({ to: user.email, subject: 'reset', text: token, html: '' })
      passwords.verifyDummy = async () => {}
      const unknown = newEmail('nobody')
      try {
        const mailControl = await measure(
          {
            unknown: async () => local(await api.post('/auth/forgot-password', { email: unknown })),
            existing: async () => local(await api.post('/auth/forgot-password', { email: users.active })),
          },
          Math.ceil(SAMPLES.mail / 4),
          [202, null],
        )
        t.diagnostic(
          `${kind} control, forgot-password mailing inline to a slow SMTP server: ${describeMedians(mailControl)}`,
        )
        const loginControl = await measure(
          {
            unknown: async () => local(await api.login(unknown, PASSWORD)),
            'wrong password': async () => local(await api.login(users.active, WRONG)),
          },
          Math.ceil(SAMPLES.login / 3),
          [400, { detail: 'LOGIN_BAD_CREDENTIALS' }],
        )
        t.diagnostic(`${kind} control, login without the dummy hash: ${describeMedians(loginControl)}`)
        assert.ok(mailControl.spread > MAIL_ROUTE_BOUND_MS, `control: ${describeMedians(mailControl)}`)
        const controlBound = LOGIN_RELATIVE_BOUND * (loginControl.medians['wrong password'] as number)
        assert.ok(loginControl.spread > controlBound, `control: ${describeMedians(loginControl)}`)
      } finally {
        hooks.onAfterForgotPassword = inlineMail
        passwords.verifyDummy = dummy
        await delivery.close()
        await slow.close()
      }
    })
  })
}

describe('a mail failure never fails the request', () => {
  let started: TestApp | null = null
  before(async () => {
    // Nothing listens on port 1: every delivery fails at connect.
    started = await startTestApp('sqlite', { SMTP_URL: 'smtp://127.0.0.1:1' })
  })
  after(async () => started?.close())

  test('with SMTP unreachable, register is 201 and forgot-password and request-verify-token are 202', async () => {
    const app = (started as TestApp).app
    const api = client(app)
    const email = newEmail('nosmtp')
    assert.equal((await api.register(email, PASSWORD)).statusCode, 201)
    assert.deepEqual(reply(await api.post('/auth/forgot-password', { email })), [202, null])
    assert.deepEqual(reply(await api.post('/auth/request-verify-token', { email })), [202, null])
    await app.mailer.drain() // the failed sends settle without an unhandled rejection
    assert.equal((await api.login(email, PASSWORD)).statusCode, 200, 'the user was kept')
  })
})
