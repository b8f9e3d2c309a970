/**
 * A paired A/B of two builds of the reference service on one machine whose speed drifts: both
 * bundles run at once, pinned to the same core, each on its own SQLite database; short runs alternate
 * A B B A … per scenario, and each adjacent pair gives a ratio (B's req/s over A's). The median of the
 * pairs' ratios holds when the machine's speed moves between minutes, which whole-run figures do not.
 *
 *   npx tsx bench/lib/ab.ts --a OTHER_CHECKOUT [--only ceiling,me-jwt,…] [--pairs 6] [--seconds 2]
 *
 * OTHER_CHECKOUT is another work tree of the project with its own node_modules (say, `git worktree
 * add ../old <commit>` and `cp -al node_modules ../old/`); B is this checkout. Each build runs with
 * the node flags of its own checkout's `npm start`, then --node-options (both).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { buildBench } from './build.js'
import { pinning, ROOT, runJsonScript, ServerProcess, startScriptNodeFlags } from './proc.js'
import { oursScenarios, type ScenarioId } from './scenarios.js'
import type { LoadResult, LoadSpec } from './types.js'

const { values: args } = parseArgs({
  options: {
    a: { type: 'string' },
    only: { type: 'string', default: 'ceiling,me-jwt,me-jwt-users,me-database,me-redis' },
    pairs: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '2' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/15' },
    'node-options': { type: 'string', default: '' },
  },
})

async function start(
  name: string,
  root: string,
  buildBenchOf: () => Promise<{ server: string; loader: string }>,
  port: number,
) {
  const built = await buildBenchOf()
  const work = mkdtempSync(join(tmpdir(), `fastify-users-ab-${name}-`))
  const server = await ServerProcess.start({
    name,
    script: built.server,
    env: {
      NODE_ENV: 'production',
      SECRET: randomBytes(32).toString('base64url'),
      DATABASE_URL: `sqlite:${join(work, 'ours.sqlite')}`,
      LOG_LEVEL: 'warn',
      BENCH_CEILING_ROUTE: 'true',
      RATE_LIMIT: 'false',
      REDIS_URL: args['redis-url']!,
    },
    port,
    cpus: pinning().serverCpus,
    readyPath: '/bench/ceiling',
    nodeOptions: [...startScriptNodeFlags(root), ...args['node-options']!.split(/\s+/).filter(Boolean)],
  })
  return { server, loader: built.loader }
}

async function main() {
  if (!args.a) throw new Error('--a: the other checkout')
  const other = (await import(pathToFileURL(join(args.a, 'bench/lib/build.ts')).href)) as {
    buildBench: typeof buildBench
  }
  const base = 19_000 + (process.pid % 400)
  const a = await start('A', args.a, other.buildBench, base)
  const b = await start('B', ROOT, buildBench, base + 1)
  const wanted = new Set(args.only!.split(','))
  const settings = { fastConnections: 64, hashConnections: 8, duration: Number(args.seconds) } as never
  const pick = (id: ScenarioId) => wanted.has(id)
  const specsA = await oursScenarios(a.server.url, settings, pick)
  const specsB = await oursScenarios(b.server.url, settings, pick)
  const loaderCpus = pinning().loaderCpus
  const run = (loader: string, spec: LoadSpec) =>
    runJsonScript<LoadResult>(loaderCpus, loader, [JSON.stringify({ ...spec, tool: 'autocannon' })], 60_000)
  try {
    for (const id of wanted) {
      const specA = specsA.find((d) => d.id === id)?.spec
      const specB = specsB.find((d) => d.id === id)?.spec
      if (!specA || !specB || 'unavailable' in specA || 'unavailable' in specB) continue
      await run(a.loader, { ...specA, duration: 2 })
      await run(b.loader, { ...specB, duration: 2 })
      const ratios: number[] = []
      const rates: [number, number][] = []
      for (let pair = 0; pair < Number(args.pairs); pair++) {
        // A B, then B A: neither build always goes first
        const first = pair % 2 === 0 ? 'A' : 'B'
        const one = await run(first === 'A' ? a.loader : b.loader, first === 'A' ? specA : specB)
        const two = await run(first === 'A' ? b.loader : a.loader, first === 'A' ? specB : specA)
        const [ra, rb] = first === 'A' ? [one.rps, two.rps] : [two.rps, one.rps]
        rates.push([ra, rb])
        ratios.push(rb / ra)
      }
      const sorted = [...ratios].sort((x, y) => x - y)
      const median = sorted[Math.floor(sorted.length / 2)]!
      console.log(
        `${id.padEnd(13)} B/A median ${median.toFixed(2)} (${sorted.map((r) => r.toFixed(2)).join(' ')}) · ` +
          rates.map(([x, y]) => `${Math.round(x)}/${Math.round(y)}`).join(' '),
      )
    }
  } finally {
    await a.server.stop()
    await b.server.stop()
  }
}

await main()
