/**
 * Instructions per request, counted by valgrind's callgrind: unlike req/s, the count does not move
 * when other processes share the cores, so a change can be judged on a busy machine. The reference
 * service (the bench's bundle) runs under callgrind with instrumentation off while it starts; each
 * scenario is warmed up (V8 optimizes the hot path), then instrumentation is on for exactly N
 * requests. Only the server process is counted: PostgreSQL's and Redis's work is not.
 *
 *   npx tsx bench/lib/instructions.ts [--database sqlite|postgres] [--only ceiling,me-jwt,…] [--requests N] [--keep DIR]
 *                                     [--node-options="--flag …"]   (node flags for the server, e.g. npm start's)
 *
 * Prints one line per scenario: the main thread's instructions per request, and per request above the
 * ceiling's; then all threads' (with V8's compiler and GC helpers, which vary more between runs).
 * With --keep, each scenario's dump of the main thread is copied to DIR (`<database>-<n>-<scenario>.callgrind`) for
 * `callgrind_annotate`, which says where the instructions went.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { buildBench } from './build.js'
import { chainTokens } from './load.js'
import { ROOT } from './proc.js'
import { oursScenarios, type Settings } from './scenarios.js'
import type { LoadSpec } from './types.js'

const { values: args } = parseArgs({
  options: {
    database: { type: 'string', default: 'sqlite' },
    only: { type: 'string', default: 'ceiling,me-jwt,me-database,me-redis' },
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '3000' },
    connections: { type: 'string', default: '16' },
    'node-options': { type: 'string', default: '' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/15' },
    keep: { type: 'string' },
  },
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * `count` requests of a spec, `connections` at a time over keep-alive connections; throws on another
 * status. A chained spec (refresh tokens, single-use) takes each request's token from `chain` and
 * puts back the one its answer carries, so the chains go on from one call to the next.
 */
async function send(spec: LoadSpec, count: number, connections: number, chain?: string[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const url = new URL(spec.url)
  let left = count
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const body = chain ? spec.body!.replaceAll('{{chain}}', chain.pop() ?? '') : spec.body
      const req = request(
        { agent, host: url.hostname, port: url.port, path: spec.path, method: spec.method, headers: spec.headers },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            if (res.statusCode !== spec.expectStatus) return reject(new Error(`${spec.path}: ${res.statusCode}`))
            if (chain) chain.push(JSON.parse(Buffer.concat(chunks).toString())[spec.chain!.field])
            resolve()
          })
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  const worker = async () => {
    while (left-- > 0) await one()
  }
  await Promise.all(Array.from({ length: connections }, worker))
  agent.destroy()
}

/**
 * Runs callgrind_control on the server. Valgrind takes the command when the server next runs, so
 * the server is woken (a bare request, below the count's precision) until the command is through.
 */
async function callgrindControl(pid: number, wake: string, ...flags: string[]): Promise<void> {
  // the same HOST as the server's (valgrind names its command channel after it)
  const control = spawn('callgrind_control', [...flags, String(pid)], {
    stdio: 'ignore',
    env: { ...process.env, HOST: '127.0.0.1' },
  })
  const done = new Promise<number | null>((resolve) => control.once('exit', resolve))
  let finished = false
  void done.then(() => {
    finished = true
  })
  while (!finished) {
    await fetch(wake).then(
      (r) => r.arrayBuffer(),
      () => undefined,
    )
    await sleep(50)
  }
  if ((await done) !== 0) throw new Error(`callgrind_control ${flags.join(' ')} failed`)
}

/**
 * The instructions counted since the last zeroing: dumps, and reads the dumps' totals, one file per
 * thread: all threads', and the main thread's alone (the JavaScript and the event loop, which bound
 * a server's throughput; V8's compiler and GC helpers run beside it on other cores, and how much
 * they do in a window moves from run to run). Keeps the main thread's dump as `keepAs`.
 */
async function dumpedInstructions(
  dir: string,
  pid: number,
  wake: string,
  keepAs?: string,
): Promise<{ all: number; main: number }> {
  const dumps = () =>
    readdirSync(dir)
      .filter((f) => f.startsWith('callgrind.out'))
      .map((f) => ({ f, mtime: statSync(join(dir, f)).mtimeMs, size: statSync(join(dir, f)).size }))
  const before = new Map(dumps().map((d) => [d.f, `${d.mtime}/${d.size}`]))
  const changed = () => dumps().filter((d) => d.size > 0 && before.get(d.f) !== `${d.mtime}/${d.size}`)
  await callgrindControl(pid, wake, '-d')
  for (let tries = 0; changed().length === 0 && tries < 100; tries++) await sleep(100)
  if (changed().length === 0)
    throw new Error(`no callgrind dump appeared in ${dir}: ${JSON.stringify(dumps())} ${JSON.stringify([...before])}`)
  await sleep(1000) // every thread's, written whole
  let all = 0
  let main: number | undefined
  for (const { f } of changed()) {
    const totals = readFileSync(join(dir, f), 'utf8').match(/^(?:totals|summary): (\d+)/m)
    if (!totals) throw new Error(`no totals in ${f}`)
    all += Number(totals[1])
    if (f.endsWith('-01')) {
      main = Number(totals[1])
      if (keepAs) copyFileSync(join(dir, f), keepAs)
    }
  }
  if (main === undefined) throw new Error(`no main thread's dump among ${JSON.stringify(changed())}`)
  return { all, main }
}

async function main() {
  const built = await buildBench()
  const work = mkdtempSync(join(tmpdir(), 'fastify-users-instructions-'))
  let databaseUrl = `sqlite:${join(work, 'ours.sqlite')}`
  let dropDatabase = async () => {}
  if (args.database === 'postgres') {
    const name = `fastify_users_instr_${process.pid}`
    const admin = new pg.Client({ connectionString: args['postgres-url'] })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    const url = new URL(args['postgres-url']!)
    url.pathname = `/${name}`
    databaseUrl = url.toString()
    dropDatabase = async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }
  }
  const port = 21_000 + (process.pid % 1000)
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--separate-threads=yes',
      '--smc-check=all-non-file',
      `--callgrind-out-file=${join(work, 'callgrind.out.%p')}`,
      process.execPath,
      ...args['node-options']!.split(/\s+/).filter(Boolean),
      built.server,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        SECRET: randomBytes(32).toString('base64url'),
        DATABASE_URL: databaseUrl,
        DATABASE_TIMEOUT_MS: '120000',
        REDIS_URL: args['redis-url']!,
        REDIS_TIMEOUT_MS: '120000',
        LOG_LEVEL: 'warn',
        BENCH_CEILING_ROUTE: 'true',
        RATE_LIMIT: 'false',
        HOST: '127.0.0.1',
        PORT: String(port),
      },
    },
  )
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const base = `http://127.0.0.1:${port}`
  try {
    const deadline = Date.now() + 600_000
    while (
      !(await fetch(`${base}/bench/ceiling`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the server did not start:\n${stderr}`)
      await sleep(500)
    }
    const settings: Settings = {
      quick: true,
      twoFactorUsers: 16,
      warmup: 0,
      duration: 1,
      reps: 1,
      fastConnections: 16,
      hashConnections: 1,
      floodConnections: 1,
      probeConnections: 1,
      probeRate: 1,
    }
    const defs = await oursScenarios(base, settings)
    const requests = Number(args.requests)
    const connections = Number(args.connections)
    let ceiling: number | undefined
    if (args.keep) mkdirSync(args.keep, { recursive: true })
    const chains = new Map<string, string[]>() // a scenario put twice goes on with its chains
    for (const [n, id] of args.only!.split(',').entries()) {
      const spec = defs.find((d) => d.id === id)?.spec
      if (!spec || 'unavailable' in spec) {
        console.log(`${id}: not available`)
        continue
      }
      if (spec.chain && !chains.has(id))
        chains.set(id, await chainTokens({ ...spec, chain: { ...spec.chain, logins: connections } }))
      const chain = chains.get(id)
      await send(spec, Number(args.warmup), connections, chain)
      const wake = `${base}/health`
      await callgrindControl(child.pid!, wake, '-i', 'on')
      await callgrindControl(child.pid!, wake, '-z')
      await send(spec, requests, connections, chain)
      const keepAs = args.keep && join(args.keep, `${args.database}-${n}-${id}.callgrind`)
      const counted = await dumpedInstructions(work, child.pid!, wake, keepAs)
      const perRequest = counted.main / requests
      await callgrindControl(child.pid!, wake, '-i', 'off')
      if (id === 'ceiling') ceiling = perRequest
      const above = ceiling === undefined ? '' : `, ${Math.round((perRequest - ceiling) / 1000)} k above the ceiling`
      const all = `; ${Math.round(counted.all / requests / 1000)} k with V8's helper threads`
      console.log(
        `${args.database} ${id}: ${Math.round(perRequest / 1000)} k instructions per request (main thread)${above}${all}`,
      )
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await dropDatabase().catch(() => {})
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
