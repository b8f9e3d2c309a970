/**
 * Main-thread cost per request by scenario, with the event loop's turns: the server pinned to the
 * last core, the loader to the others; over each measured window, each thread's CPU (user and
 * system, /proc/<pid>/task/<tid>/stat) and, by `perf stat` on the main thread, its epoll_wait
 * calls (one per event-loop turn that waited), reads, writes and context switches, per request.
 *
 *   npx tsx bench/lib/turns.ts [--database sqlite|postgres] [--only ceiling,me-jwt,…] [--seconds 8] [--rounds 2]
 *                              [--node-options="…"] [--perf-record DIR]
 *
 * With --perf-record, `perf record -g` of the main thread instead (DIR/<scenario>-<round>.data; add
 * --node-options=--perf-basic-prof for JavaScript's frames). The figures are per-thread CPU, not
 * req/s: they hold when the machine's speed moves, which req/s between runs does not.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildBench } from './build.js'
import { pinning, runJsonScript, ServerProcess, startScriptNodeFlags } from './proc.js'
import { oursScenarios, type ScenarioId } from './scenarios.js'
import type { LoadResult } from './types.js'

const { values: args } = parseArgs({
  options: {
    database: { type: 'string', default: 'sqlite' },
    only: { type: 'string', default: 'ceiling,me-jwt,me-jwt-users,me-database,me-redis' },
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    'node-options': { type: 'string', default: '' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/15' },
    'perf-record': { type: 'string' },
  },
})

const TICK = 100 // USER_HZ
function threadTicks(pid: number): Map<string, { name: string; user: number; sys: number }> {
  const out = new Map<string, { name: string; user: number; sys: number }>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.set(tid, { name, user: Number(fields[11]), sys: Number(fields[12]) })
  }
  return out
}

async function main() {
  const built = await buildBench()
  const pin = pinning()
  const work = mkdtempSync(join(tmpdir(), 'fastify-users-turns-'))
  const databaseUrl = args.database === 'postgres' ? args['postgres-url']! : `sqlite:${join(work, 'ours.sqlite')}`
  const server = await ServerProcess.start({
    name: 'ours',
    script: built.server,
    env: {
      NODE_ENV: 'production',
      SECRET: randomBytes(32).toString('base64url'),
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
      BENCH_CEILING_ROUTE: 'true',
      RATE_LIMIT: 'false',
      REDIS_URL: args['redis-url']!,
    },
    port: 19_500 + (process.pid % 400),
    cpus: pin.serverCpus,
    readyPath: '/bench/ceiling',
    nodeOptions: [...startScriptNodeFlags(), ...args['node-options']!.split(/\s+/).filter(Boolean)],
  })
  const pid = server.pid!
  const wanted = new Set(args.only!.split(','))
  const seconds = Number(args.seconds)
  const defs = await oursScenarios(
    server.url,
    { fastConnections: 64, hashConnections: 8, duration: seconds } as never,
    (id: ScenarioId) => wanted.has(id),
  )
  try {
    for (let round = 1; round <= Number(args.rounds); round++) {
      for (const def of defs.filter((d) => wanted.has(d.id))) {
        const spec = def.spec
        if ('unavailable' in spec) continue
        await runJsonScript<LoadResult>(
          pin.loaderCpus,
          built.loader,
          [JSON.stringify({ ...spec, tool: 'autocannon', duration: 3 })],
          60_000,
        )
        const perf = spawn(
          'perf',
          args['perf-record']
            ? [
                'record',
                '-e',
                'cpu-clock',
                '-F',
                '4999',
                '-g',
                '-t',
                String(pid),
                '-o',
                join(args['perf-record'], `${def.id}-${round}.data`),
              ]
            : [
                'stat',
                '-x',
                ',',
                '-t',
                String(pid),
                '-e',
                'syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_pread64,page-faults,syscalls:sys_enter_read,syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_fcntl,context-switches',
              ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        )
        let perfOut = ''
        perf.stderr.on('data', (c) => (perfOut += c))
        const t0 = threadTicks(pid)
        const load = runJsonScript<LoadResult>(
          pin.loaderCpus,
          built.loader,
          [JSON.stringify({ ...spec, tool: 'autocannon', duration: seconds })],
          120_000,
        )
        const result = await load
        const t1 = threadTicks(pid)
        const closed = new Promise((r) => perf.once('close', r))
        perf.kill('SIGINT')
        await closed
        const requests = result.ok
        const perReq = (ticks: number) => ((ticks * (1000 / TICK)) / requests) * 1000 // µs
        let mainUser = 0
        let mainSys = 0
        let others = 0
        for (const [tid, after] of t1) {
          const before = t0.get(tid) ?? { user: 0, sys: 0 }
          const du = after.user - before.user
          const ds = after.sys - before.sys
          if (tid === String(pid)) {
            mainUser = du
            mainSys = ds
          } else others += du + ds
        }
        const counts: Record<string, number> = {}
        for (const line of perfOut.split('\n')) {
          const parts = line.split(',')
          if (parts.length > 3 && /^\d+$/.test(parts[0]!))
            counts[parts[2]!.replace('syscalls:sys_enter_', '')] = Number(parts[0])
        }
        // perf counted over the whole load (from just before to just after it)
        const perfReq = requests
        const per = Object.entries(counts)
          .map(([k, v]) => `${k} ${(v / perfReq).toFixed(3)}`)
          .join(' · ')
        console.log(
          `${round} ${def.id.padEnd(12)} ${String(Math.round(result.rps)).padStart(6)} req/s · main user ${perReq(mainUser).toFixed(1)} µs sys ${perReq(mainSys).toFixed(1)} µs · other threads ${perReq(others).toFixed(1)} µs · ${per}`,
        )
      }
    }
  } finally {
    await server.stop()
  }
}

console.error('turns: start')
main().catch((error) => {
  console.error(error)
  process.exit(1)
})
