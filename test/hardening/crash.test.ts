/**
 * Crash safety, on every database: the real service (server/main.ts) as a child process takes
 * registrations from many connections at once and is killed with SIGKILL in the middle; after a
 * restart on the same database every 201 a client saw is there and can log in, every row is
 * complete, and the service serves normally. SQLite is a file in WAL mode (see database.ts).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { type TestContext, test } from 'node:test'
import { openDatabase } from 'fastify-users/kysely'
import { sql } from 'kysely'
import { TEST_SECRET } from '../support/app.js'
import { createTestDatabase, type DatabaseKind, databaseKinds } from '../support/databases.js'
import { freePort } from '../support/ports.js'

const WORKERS = 24
const KILL_AFTER = 25 // 201s seen in the cycle before the kill
const CYCLES = 2
const ARGON2ID = /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** server/main.ts on `databaseUrl`, answering on `port` once it is ready. */
async function startService(databaseUrl: string, port: number): Promise<ChildProcess> {
  const child = spawn('node', ['--import', 'tsx', 'server/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      SECRET: TEST_SECRET,
      LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
      // a load of registrations from one address: the limiter would refuse most of it
      RATE_LIMIT: 'false',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}: ${stderr}`)
    try {
      if ((await fetch(`http://127.0.0.1:${port}/openapi.json`)).ok) return child
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`the service never answered: ${stderr}`)
}

interface Load {
  /** Every address a registration was sent for, with its password. */
  attempted: Map<string, string>
  /** Every 201 seen: address → the id in its body. */
  acknowledged: Map<string, string>
  /** Answers other than 201 (none expected), and requests cut by the kill. */
  others: string[]
  cut: number
}

/**
 * WORKERS clients, each on its own connection, register fresh addresses back to back until the
 * service dies under them; the service is SIGKILLed once KILL_AFTER more 201s have arrived.
 */
async function registerUntilKilled(base: string, child: ChildProcess, cycle: number, load: Load): Promise<void> {
  const target = load.acknowledged.size + KILL_AFTER
  let killed = false
  const worker = async (w: number) => {
    for (let n = 0; ; n++) {
      const email = `crash-${cycle}-${w}-${n}-${process.pid}@example.com`
      const password = `password-${cycle}-${w}-${n}`
      load.attempted.set(email, password)
      let res: Response
      try {
        res = await fetch(`${base}/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password, first_name: `W${w}` }),
        })
      } catch {
        assert.ok(killed, 'a request fails only once the service is killed')
        load.cut++
        return
      }
      let body: { id?: string } = {}
      try {
        body = await res.json()
      } catch {
        load.cut++ // the status arrived, the body was cut by the kill: not an acknowledged 201
        return
      }
      if (res.status !== 201) load.others.push(`${res.status} ${JSON.stringify(body)}`)
      else load.acknowledged.set(email, String(body.id))
      if (!killed && load.acknowledged.size >= target) {
        killed = true
        child.kill('SIGKILL')
      }
    }
  }
  const exited = once(child, 'exit')
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)))
  const [code, signal] = await exited
  assert.deepEqual([code, signal], [null, 'SIGKILL'])
}

async function login(base: string, username: string, password: string): Promise<number> {
  const res = await fetch(`${base}/auth/jwt/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
  })
  await res.arrayBuffer()
  return res.status
}

/** Runs `task` on every item, `width` at a time. */
async function inBatches<T>(items: T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(task))
}

const databases: DatabaseKind[] = databaseKinds()

for (const kind of databases) {
  test(`${kind}: SIGKILL during ${WORKERS} concurrent registration streams loses no 201 and leaves no half-written user`, async (t: TestContext) => {
    const database = await createTestDatabase(kind)
    if (!database) return t.skip(`${kind} is not reachable locally`)
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const load: Load = { attempted: new Map(), acknowledged: new Map(), others: [], cut: 0 }
    let child: ChildProcess | null = null
    const db = openDatabase(database.url)
    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        child = await startService(database.url, port)
        await registerUntilKilled(base, child, cycle, load)
      }
      child = await startService(database.url, port)
      assert.deepEqual(load.others, [], 'every answer during the load was a 201')
      assert.ok(load.cut > 0, 'the kill cut requests in flight')

      const rows = (await db.db.selectFrom('user').selectAll().execute()) as Record<string, unknown>[]
      const byEmail = new Map(rows.map((row) => [String(row.email), row]))
      for (const [email, id] of load.acknowledged) {
        assert.equal(String(byEmail.get(email)?.id).toLowerCase(), id, `the acknowledged ${email} is stored`)
      }
      // A row whose 201 never arrived (committed just before the kill) is allowed, but only whole.
      for (const row of rows) {
        const email = String(row.email)
        assert.ok(load.attempted.has(email), `${email} was registered by this test`)
        assert.match(String(row.id).toLowerCase(), UUID)
        assert.match(String(row.hashed_password), ARGON2ID, `${email}'s hash is whole`)
        assert.deepEqual(
          [Boolean(row.is_active), Boolean(row.is_superuser), Boolean(row.is_verified)],
          [true, false, false],
        )
        assert.match(String(row.first_name), /^W\d+$/)
      }
      await inBatches(rows, 8, async (row) => {
        const email = String(row.email)
        assert.equal(await login(base, email, load.attempted.get(email) as string), 200, `${email} can log in`)
      })

      // Serving normally: a new registration, and an acknowledged address is still taken.
      const fresh = await fetch(`${base}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `after-${process.pid}@example.com`,
          password: 'after-the-crash',
          first_name: 'A',
        }),
      })
      assert.equal(fresh.status, 201)
      const [taken] = load.acknowledged.keys()
      const again = await fetch(`${base}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: taken, password: 'another-password', first_name: 'A' }),
      })
      assert.deepEqual([again.status, await again.json()], [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
      if (kind === 'sqlite') {
        const { rows: check } = await sql`PRAGMA integrity_check`.execute(db.db)
        assert.deepEqual(check, [{ integrity_check: 'ok' }])
      }
      t.diagnostic(
        `${kind}: ${CYCLES} kills; ${load.attempted.size} registrations sent, ${load.acknowledged.size} acknowledged, ` +
          `${rows.length} rows, ${rows.length - load.acknowledged.size} committed but unacknowledged, ${load.cut} cut by the kills`,
      )
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await once(child, 'exit')
      }
      await db.close()
      await database.drop()
    }
  })
}
