/**
 * Peak RSS per scenario, each in a fresh server process: what `npm start` runs (the service bundle,
 * package.json's start flags) on a new database, the scenario prepared as the bench prepares it,
 * its load for `--duration` seconds, then the kernel's high-water mark (VmHWM, the whole life of the
 * process: start, preparation and load). Pinned like the bench (server on the last core).
 *
 *   npx tsx bench/lib/rss.ts [--database sqlite,postgres] [--only login,refresh,…] [--duration 8]
 *                            [--node-options="…"] [--env NAME=value,…] [--breakdown] [--unpinned]
 *
 * --breakdown preloads bench/lib/memory-probe.mjs into the server and prints, per scenario, V8's heap
 * and the rest at the RSS peak, and its garbage collections (main-thread pauses). --unpinned runs the server on every core, as a plain `npm start` does
 * (its password hashing concurrency is then the number of cores, one hash's memory each).
 * Prints one line per scenario and a JSON summary last. 'idle' is a start and --duration seconds of nothing;
 * 'isolation' is its login flood (32 connections). The machine may be busy: RSS hardly moves with it.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { buildBench } from './build.js'
import { pinning, ROOT, runJsonScript, ServerProcess, startScriptNodeFlags } from './proc.js'
import { oursScenarios, type ScenarioId, type Settings } from './scenarios.js'
import type { LoadResult, LoadSpec } from './types.js'

const { values: args } = parseArgs({
  options: {
    database: { type: 'string', default: 'sqlite,postgres' },
    only: {
      type: 'string',
      default:
        'idle,ceiling,me-jwt,me-jwt-metrics,me-database,me-redis,login,register,refresh,login-2fa,sessions,isolation',
    },
    duration: { type: 'string', default: '8' },
    'node-options': { type: 'string', default: '' },
    env: { type: 'string', default: '' },
    breakdown: { type: 'boolean', default: false },
    unpinned: { type: 'boolean', default: false },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/15' },
  },
})

/** The bench's full-run settings, one run per scenario and no warm-up. */
const settings: Settings = {
  quick: false,
  warmup: 0,
  duration: Number(args.duration),
  reps: 1,
  fastConnections: 64,
  hashConnections: 8,
  floodConnections: 32,
  probeConnections: 4,
  probeRate: 100,
  twoFactorUsers: 320,
}

type Measured = ScenarioId | 'idle'

const extraEnv = Object.fromEntries(
  args.env!.split(',').flatMap((pair) => (pair.includes('=') ? [pair.split('=', 2) as [string, string]] : [])),
)
const nodeOptions = [...startScriptNodeFlags(), ...args['node-options']!.split(/\s+/).filter(Boolean)]

function statusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
  return match ? Number(match[1]) / 1024 : Number.NaN
}

async function freshPostgres(adminUrl: string, name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await client.query(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {})
      await client.end()
    },
  }
}

interface Row {
  database: string
  scenario: Measured
  /** VmRSS once the server answers, before the scenario is prepared. */
  startedMb: number
  /** VmHWM after the load: the peak of the whole process. */
  peakMb: number
  /** VmRSS after the load. */
  afterMb: number
  rps?: number
  /** The server's CPU time per answered request, in µs (less moved by other work on the machine than req/s). */
  cpuUsPerRequest?: number
  errors?: number
  breakdown?: unknown
}

async function measure(
  built: Awaited<ReturnType<typeof buildBench>>,
  database: string,
  scenario: Measured,
  port: number,
): Promise<Row> {
  const work = mkdtempSync(join(tmpdir(), 'fastify-users-rss-'))
  const postgres =
    database === 'postgres' ? await freshPostgres(args['postgres-url']!, `fastify_users_rss_${process.pid}`) : undefined
  const probeFile = join(work, 'memory.json')
  const pin = args.unpinned ? { serverCpus: '', loaderCpus: '' } : pinning()
  const server = await ServerProcess.start({
    name: `${database} ${scenario}`,
    script: built.server,
    env: {
      NODE_ENV: 'production',
      SECRET: randomBytes(32).toString('base64url'),
      DATABASE_URL: postgres?.url ?? `sqlite:${join(work, 'rss.sqlite')}`,
      LOG_LEVEL: 'warn',
      BENCH_CEILING_ROUTE: 'true',
      RATE_LIMIT: 'false',
      REDIS_URL: args['redis-url']!,
      ...(scenario === 'me-jwt-metrics'
        ? { METRICS: 'true', METRICS_TOKEN: randomBytes(24).toString('base64url') }
        : {}),
      ...(args.breakdown ? { MEMORY_PROBE_FILE: probeFile } : {}),
      ...extraEnv,
    },
    port,
    cpus: pin.serverCpus,
    readyPath: '/bench/ceiling',
    nodeOptions: [...nodeOptions, ...(args.breakdown ? ['--import', join(ROOT, 'bench/lib/memory-probe.mjs')] : [])],
  })
  try {
    const startedMb = statusMb(server.pid, 'VmRSS')
    let result: LoadResult | undefined
    if (scenario === 'idle') {
      await new Promise((r) => setTimeout(r, settings.duration * 1000))
    } else {
      const wanted = scenario === 'isolation' || scenario === 'me-jwt-metrics' ? 'login' : scenario
      const defs = await oursScenarios(server.url, settings, (id) => id === wanted)
      const def = defs.find((d) => d.id === (scenario === 'me-jwt-metrics' ? 'me-jwt' : wanted))
      if (!def || 'unavailable' in def.spec) throw new Error(`${scenario}: not available on this server`)
      // isolation: its login flood (the probe beside it adds little)
      const spec: LoadSpec =
        scenario === 'isolation' ? { ...def.spec, connections: settings.floodConnections } : def.spec
      result = await runJsonScript<LoadResult>(
        pin.loaderCpus,
        built.loader,
        [JSON.stringify({ ...spec, serverPid: server.pid })],
        (spec.duration + 120) * 1000,
      )
    }
    await new Promise((r) => setTimeout(r, 300))
    const row: Row = {
      database,
      scenario,
      startedMb,
      peakMb: statusMb(server.pid, 'VmHWM'),
      afterMb: statusMb(server.pid, 'VmRSS'),
      ...(result && {
        rps: result.rps,
        cpuUsPerRequest: ((result.serverCpu ?? Number.NaN) / result.rps) * 1e6,
        errors: result.errors,
      }),
    }
    if (args.breakdown) row.breakdown = JSON.parse(readFileSync(probeFile, 'utf8'))
    return row
  } finally {
    await server.stop()
    await postgres?.drop()
    rmSync(work, { recursive: true, force: true })
  }
}

interface Sample {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
  spaces: Record<string, number>
}
type Breakdown = { peak: Sample; latest: Sample; gc: Record<string, { count: number; ms: number }> }

/** The probe's sample at the RSS peak: V8's heap by space, what V8 counts outside it, and the rest. */
function describe({ peak, gc }: Breakdown): string {
  const s = peak.spaces
  const collections = Object.entries(gc)
    .map(([kind, { count, ms }]) => `${count} ${kind} (${Math.round(ms)} ms)`)
    .join(', ')
  return (
    `at the peak: RSS ${peak.rss}, V8 heap ${peak.heapTotal} (used ${peak.heapUsed}; old ${s['old_space']}, ` +
    `new ${s['new_space']}, code ${s['code_space']}, large objects ${s['large_object_space']}), ` +
    `external ${peak.external} (array buffers ${peak.arrayBuffers}), ` +
    `outside V8's heap ${Math.round((peak.rss - peak.heapTotal) * 10) / 10}; ` +
    `garbage collections over the process's life: ${collections}`
  )
}

const built = await buildBench()
const rows: Row[] = []
let port = 19_000 + (process.pid % 1000) * 2
console.log(`node ${nodeOptions.join(' ')}; env ${JSON.stringify(extraEnv)}; load ${settings.duration} s`)
for (const database of args.database!.split(',')) {
  for (const scenario of args.only!.split(',') as Measured[]) {
    try {
      const row = await measure(built, database, scenario, port++)
      rows.push(row)
      const load =
        row.rps === undefined
          ? ''
          : `, ${row.rps.toFixed(0)} req/s, server CPU ${row.cpuUsPerRequest?.toFixed(0)} µs/request, ${row.errors} errors`
      console.log(
        `${database.padEnd(8)} ${scenario.padEnd(15)} peak ${row.peakMb.toFixed(0).padStart(4)} MB` +
          ` (started ${row.startedMb.toFixed(0)}, after ${row.afterMb.toFixed(0)})${load}`,
      )
      if (row.breakdown) console.log(`  ${describe(row.breakdown as Breakdown)}`)
    } catch (error) {
      console.log(`${database.padEnd(8)} ${scenario.padEnd(15)} failed: ${(error as Error).message.slice(0, 300)}`)
    }
  }
}
console.log(JSON.stringify(rows.map(({ breakdown: _, ...row }) => row)))
