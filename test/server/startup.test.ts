import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { stripVTControlCharacters } from 'node:util'
import { loadConfig } from '../../server/config.js'
import { freePort } from '../support/ports.js'
import { REPOSITORY, runNode } from '../support/processes.js'

// `npm start` (server/main.ts) run for real: what a person sees when it cannot start, and its logs.

const SECRET = 'startup-test-secret-long-enough-0123456789'
const SECRET_WARNING =
  'SECRET is not set: tokens are signed with the public development default; set SECRET before anyone else can reach this service'

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fastify-users-startup-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

const main = (env: Record<string, string | undefined>) =>
  runNode(['--import', 'tsx', 'server/main.ts'], {
    env: { NODE_ENV: undefined, SECRET, LOG_LEVEL: 'info', WEB_CONCURRENCY: undefined, ...env },
  })

/** The JSON log lines of stdout (every line must be one). */
const logLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string })

describe('a database out of reach: one line naming it and the cause, exit 1', () => {
  for (const scheme of ['postgres', 'mariadb']) {
    test(scheme, async () => {
      const port = await freePort()
      const result = await main({
        PORT: String(await freePort()),
        DATABASE_URL: `${scheme}://app@127.0.0.1:${port}/app`,
      })
      assert.deepEqual(
        [result.code, result.stderr],
        [1, `cannot reach the database at 127.0.0.1:${port}: connection refused\n`],
      )
    })
  }

  test('an unknown host', async () => {
    const result = await main({ DATABASE_URL: 'postgres://app@db.invalid:5432/app' })
    assert.deepEqual([result.code, result.stderr], [1, 'cannot reach the database at db.invalid:5432: unknown host\n'])
  })
})

describe('the port in use', () => {
  let taken: Server
  let port: number
  before(async () => {
    taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    port = (taken.address() as { port: number }).port
  })
  after(() => new Promise((resolve) => taken.close(resolve)))

  test('one line, exit 1; JSON logs off a terminal, with the development-SECRET warning first', async () => {
    const result = await main({ PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'in-use.sqlite')}`, SECRET: '' })
    assert.deepEqual([result.code, result.stderr], [1, `cannot listen on 127.0.0.1:${port}: the port is in use\n`])
    const [first] = logLines(result.stdout)
    assert.deepEqual([first?.level, first?.msg], [40, SECRET_WARNING])
  })

  test('no warning with a SECRET of its own', async () => {
    const result = await main({ PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'in-use.sqlite')}` })
    assert.equal(result.code, 1)
    assert.deepEqual(
      logLines(result.stdout).filter((l) => l.level >= 40),
      [],
    )
  })
})

test('readable logs only in development on a terminal', () => {
  const env = { SECRET }
  assert.equal(loadConfig(env, { stdoutIsTTY: true }).prettyLogs, true)
  assert.equal(loadConfig(env, { stdoutIsTTY: false }).prettyLogs, false)
  assert.equal(loadConfig(env).prettyLogs, false)
  assert.equal(loadConfig({ ...env, NODE_ENV: 'production' }, { stdoutIsTTY: true }).prettyLogs, false)
})

test('on a terminal in development: pino-pretty, and a mailed link alone on its line, ready to click', async () => {
  const port = await freePort()
  // script(1) gives the service a pseudo-terminal as stdout
  const child = spawn('script', ['-qfec', `${process.execPath} --import tsx server/main.ts`, '/dev/null'], {
    cwd: REPOSITORY,
    env: {
      ...process.env,
      NODE_ENV: '',
      SECRET: '',
      PORT: String(port),
      DATABASE_URL: `sqlite:${join(dir, 'tty.sqlite')}`,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => {
    output += chunk
  })
  const base = `http://127.0.0.1:${port}`
  try {
    for (let i = 0; i < 100 && !output.includes('Swagger UI at'); i++) await new Promise((r) => setTimeout(r, 100))
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    assert.equal(
      (await post('/auth/register', { email: 'ada@example.com', password: 'analytical-engine', first_name: 'Ada' }))
        .status,
      201,
    )
    assert.equal((await post('/auth/forgot-password', { email: 'ada@example.com' })).status, 202)
    for (let i = 0; i < 50 && !output.includes('reset-password?token='); i++)
      await new Promise((r) => setTimeout(r, 100))
    const plain = stripVTControlCharacters(output).replace(/\r/g, '')
    assert.match(plain, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: SECRET is not set: /m)
    assert.match(plain, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: mail not sent \(no SMTP_URL\)$/m)
    assert.match(
      plain,
      new RegExp(`^ +${base.replace(/\./g, '\\.')}/reset-password\\?token=[\\w-]+\\.[\\w-]+\\.[\\w-]+$`, 'm'),
    )
    assert.doesNotMatch(plain, /^\{"level"/m)
  } finally {
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('close', resolve))
  }
})
