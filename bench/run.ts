/**
 * `npm run bench`: the reference service in production mode on SQLite (and PostgreSQL when
 * reachable), Better Auth on SQLite as a peer, each in its own process pinned to one core, loaded
 * over loopback from another process; raw password-hashing rates measured in the same run.
 * Writes bench/results/latest.json and BENCHMARKS.md (a --quick run: bench/results/quick.json only).
 *
 *   npm run bench                 full run: warm-up, 3 repetitions (about 10 minutes)
 *   npm run bench -- --quick      smoke run: short durations, 1 repetition
 *   options: --duration S --warmup S --reps N --no-peer --no-postgres --log-level LEVEL
 *            --only ceiling,me-jwt,…,workers  (scenarios to run) --out FILE (JSON) --markdown FILE
 *            --loader wrk|autocannon (default: wrk when installed)
 *            --wait-quiet S (on a shared machine: before each scenario, wait up to S s while other processes
 *              keep the cores busy, up to 30 s before each repetition, and run a repetition once more
 *              when other work took over half a core during it)
 *            --tsx (run server/main.ts through tsx instead of the esbuild bundle)
 *            --render FILE (no run: rewrite BENCHMARKS.md, or --markdown FILE, from a results JSON)
 *            --node-options "FLAGS" (extra node flags for our server, e.g. --max-semi-space-size=8)
 *            --profile (servers write V8 CPU profiles to bench/results/profiles/, for node --cpu-prof's viewers)
 *   scenario ids for --only: ceiling, me-jwt, me-jwt-users, me-database, me-redis, login, register, refresh, isolation,
 *            workers, startup (process start to /ready on the migrated SQLite database, several rounds)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { buildBench } from './lib/build.js'
import type { HashRateResult, HashRateRound, HashRateSpec } from './lib/hashrate.js'
import {
  machineBusySeconds,
  type Pinning,
  pinning,
  processCpuSeconds,
  ROOT,
  runJsonScript,
  ServerProcess,
  startScriptNodeFlags,
  startupMs,
} from './lib/proc.js'
import { summarizeProfile } from './lib/profile.js'
import { renderMarkdown, renderSummary } from './lib/report.js'
import { oursScenarios, peerScenarios, type ScenarioDef, type ScenarioId, type Settings } from './lib/scenarios.js'
import { median, type Summary, summarize } from './lib/stats.js'
import type { LoadResult, LoadSpec } from './lib/types.js'

export interface ScenarioResult {
  id: ScenarioId
  label: string
  status: 'ok' | 'unavailable' | 'failed'
  note?: string
  summary?: Summary
  runs?: LoadResult[]
  peakRssMb?: number
  /**
   * Requests/s as a fraction of the same server's ceiling: the median of the repetitions' ratios,
   * each over a ceiling repetition run just before it (`paired.ceiling`), so that the machine's
   * speed, which moves within a run, is the same on both sides of each ratio.
   */
  vsCeiling?: number
  /** Requests/s as a fraction of the raw hashing rate that bounds the route, paired the same way (`paired.raw`). */
  vsLimit?: { operation: 'hash' | 'verify'; rate: number; ratio: number }
  /** What each repetition was paired with, in order: the ceiling's req/s, the raw hashing rate. */
  paired?: { ceiling?: number[]; raw?: number[] }
  /** The isolation scenario: /users/me probe idle, and under the login flood. */
  isolation?: { idle: Summary; underFlood: Summary; flood: Summary; p99Ratio: number }
}

export interface TargetResult {
  id: 'sqlite' | 'postgres' | 'better-auth'
  label: string
  kind: 'ours' | 'peer'
  status: 'ok' | 'unavailable' | 'failed'
  note?: string
  scenarios: ScenarioResult[]
}

export interface BenchReport {
  version: 1
  mode: 'full' | 'quick'
  startedAt: string
  elapsedSeconds: number
  /** Of which spent waiting for other processes to leave the cores alone (--wait-quiet). */
  waitedSeconds: number
  machine: {
    cpu: string
    cores: number
    node: string
    platform: string
    commit: string
    pinning: string
    /** Cores kept busy by other processes in the 2 s before the bench started (noise). */
    backgroundCpu: number
  }
  settings: Settings & { logLevel: string; loader: string; server: string }
  /** Raw hashing rates: the median of several rounds in one process started as the server is, and their spread. */
  hashing: Record<
    string,
    {
      rate: number
      /** Half the range of the rounds' rates over the median. */
      spread?: number
      meanMs: number
      concurrency: number
      /** libuv's thread pool size of the measuring process (the server's). */
      threadPool?: number
      /** argon2id: the hash's algorithm, version and parameters, as the service writes them. */
      params?: string
      rounds?: HashRateRound[]
      /**
       * The rounds measured just before each repetition of a route this operation bounds (paired
       * with it, see `vsLimit`). `rate` and `spread` are over these and `rounds` together.
       */
      pairedRates?: number[]
      /** Older reports: one process per repetition. */
      runs?: HashRateResult[]
    }
  >
  targets: TargetResult[]
  /** WEB_CONCURRENCY: the same scenario with 1…cores worker processes, server and loader unpinned. */
  scaling?: ScalingResult
  notAvailable: string[]
  /** Start-up on the SQLite database the run migrated: process start to /ready answering 200. */
  startup?: StartupResult[]
  /**
   * The raw hashing rates of the previous full run (bench/results/latest.json before this run
   * replaced it), to tell whether the physical limit moved between runs.
   */
  previousHashing?: { commit: string; startedAt: string; cpu: string; rates: Record<string, number> }
}

/** The previous full run's raw hashing rates, when there is one. */
function previousHashing(path: string): BenchReport['previousHashing'] {
  try {
    const previous = JSON.parse(readFileSync(path, 'utf8')) as BenchReport
    if (previous.mode !== 'full') return undefined
    const rates = Object.fromEntries(Object.entries(previous.hashing ?? {}).map(([name, h]) => [name, h.rate]))
    return { commit: previous.machine.commit, startedAt: previous.startedAt, cpu: previous.machine.cpu, rates }
  } catch {
    return undefined
  }
}

export interface StartupResult {
  label: string
  script: string
  status: 'ok' | 'unavailable' | 'failed'
  note?: string
  /** Milliseconds, one per round, in order. */
  rounds: number[]
  medianMs?: number
  minMs?: number
  maxMs?: number
  /** CPU time the process used until ready (median), in ms: less moved by other work on the machine. */
  cpuMs?: number
}

export interface ScalingResult {
  scenario: string
  note: string
  rows: { workers: number; summary: Summary; speedup: number }[]
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    reps: { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    'no-postgres': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'warn' },
    tsx: { type: 'boolean', default: false },
    loader: { type: 'string' },
    'wait-quiet': { type: 'string' },
    profile: { type: 'boolean', default: false },
    'node-options': { type: 'string' },
    render: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
    markdown: { type: 'string' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/15' },
    'postgres-url': {
      type: 'string',
      default: process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
})

const quick = args.quick ?? false
const settings: Settings = {
  quick,
  warmup: Number(args.warmup ?? (quick ? 1 : 2)),
  duration: Number(args.duration ?? (quick ? 3 : 5)),
  reps: Number(args.reps ?? (quick ? 1 : 3)),
  fastConnections: 64,
  hashConnections: 8,
  floodConnections: 32,
  probeConnections: 4,
  probeRate: 100,
  twoFactorUsers: quick ? 16 : 320,
}
/**
 * Our server runs with the node flags of `npm start`'s script (package.json), so that what is
 * measured is what `npm start` runs; --node-options "…" adds flags (e.g. V8 heap sizing experiments).
 */
const serverNodeOptions = [...startScriptNodeFlags(), ...(args['node-options'] ?? '').split(/\s+/).filter(Boolean)]

const only = args.only ? new Set(args.only.split(',')) : undefined
const wanted = (id: string) => !only || only.has(id)
const pin: Pinning = pinning()
/** The bundles of the service and of the bench's child scripts (bench/lib/build.ts), built first. */
let built: Awaited<ReturnType<typeof buildBench>>
const T0 = Date.now()
const log = (line: string) => {
  const seconds = Math.round((Date.now() - T0) / 1000)
  const stamp = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`
  const blank = line.startsWith('\n') ? '\n' : ''
  process.stderr.write(`${blank}[${stamp.padStart(5)}] ${line.replace(/^\n+/, '')}\n`)
}
let waitedMs = 0
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** With --profile: where each server's CPU went, from the profiles this run wrote. */
function printProfiles(since: number) {
  const root = join(ROOT, 'bench/results/profiles')
  for (const dir of existsSync(root) ? readdirSync(root) : []) {
    for (const file of readdirSync(join(root, dir))) {
      const path = join(root, dir, file)
      if (!file.endsWith('.cpuprofile') || statSync(path).mtimeMs < since) continue
      log(`\nCPU profile of ${dir}: ${path}`)
      log(summarizeProfile(JSON.parse(readFileSync(path, 'utf8')), 15))
    }
  }
}

/** With --profile: V8 CPU profiles of a server, written when it stops. */
function profileOptions(name: string): string[] {
  if (!args.profile) return []
  const dir = join(
    ROOT,
    'bench/results/profiles',
    name
      .replace(/[^a-z0-9]+/gi, '-')
      .replace(/^-|-$/g, '')
      .toLowerCase(),
  )
  mkdirSync(dir, { recursive: true })
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`]
}

async function machine(): Promise<BenchReport['machine']> {
  const model = cpus()[0]?.model?.trim() || 'unknown'
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim()
    if (dirty) commit += ' (with local changes)'
  } catch {}
  return {
    cpu: model,
    cores: availableParallelism(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    commit,
    pinning: pin.describe,
    backgroundCpu: await backgroundCpu(),
  }
}

/** Cores kept busy by other processes (all but this one and the server, if given) over `ms`. */
async function backgroundCpu(ms = 2000, server?: ServerProcess): Promise<number> {
  const before = machineBusySeconds()
  const server0 = server ? processCpuSeconds(server.pid) : 0
  const self = process.cpuUsage()
  await sleep(ms)
  const mine = process.cpuUsage(self)
  const serverUsed = server ? processCpuSeconds(server.pid) - server0 : 0
  return Math.max(0, (machineBusySeconds() - before - (mine.user + mine.system) / 1e6 - serverUsed) / (ms / 1000))
}

/** --wait-quiet S: before each scenario, wait up to S seconds for other processes to leave the cores alone. */
async function waitQuiet(server: ServerProcess, atMost = Number.POSITIVE_INFINITY): Promise<void> {
  const limit = Math.min(waitLimit(), atMost)
  if (!(limit > 0)) return
  const deadline = Date.now() + limit * 1000
  let busy = await backgroundCpu(1000, server)
  if (busy <= QUIET) return
  log(`  waiting (up to ${limit} s) for other processes to quieten: ${fmt(busy, 2)} cores busy`)
  const waitStart = Date.now()
  while (busy > QUIET && Date.now() < deadline) busy = await backgroundCpu(1000, server)
  waitedMs += Date.now() - waitStart
  log(`  ${busy > QUIET ? 'still' : 'now'} ${fmt(busy, 2)} cores busy with other processes`)
}
const QUIET = 0.25
/** A measured run during which other processes used more than this many cores is run once more (--wait-quiet). */
const NOISY = 0.5
/** Before each repetition, wait at most this long (the full --wait-quiet applies before each scenario). */
const REP_WAIT = 30
const waitLimit = () => {
  const limit = Number(args['wait-quiet'] ?? 0)
  return Number.isFinite(limit) ? Math.max(limit, 0) : 0
}

function hasWrk(): boolean {
  try {
    return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined
  } catch {
    return false
  }
}
const tool: 'wrk' | 'autocannon' =
  args.loader === 'wrk' || args.loader === 'autocannon' ? args.loader : hasWrk() ? 'wrk' : 'autocannon'
const LOADER_DESCRIPTION =
  tool === 'wrk'
    ? 'wrk (one thread, HTTP/1.1, Lua script); the fixed-rate isolation probe: autocannon'
    : 'autocannon (one process, HTTP/1.1, no pipelining)'

function load(spec: LoadSpec): Promise<LoadResult> {
  return runJsonScript<LoadResult>(
    pin.loaderCpus,
    built.loader,
    [JSON.stringify({ tool, ...spec })],
    (spec.duration + 60) * 1000,
  )
}

/** One load run, with the server's CPU use over it. */
function measuredLoad(server: ServerProcess, spec: LoadSpec): Promise<LoadResult> {
  return load({
    ...spec,
    serverPid: server.pid,
    ...(server.databaseCommand ? { databaseCommand: server.databaseCommand } : {}),
  })
}

/**
 * Warm-up, then `reps` measured runs; `pair`, when given, measures what each run is compared with
 * (the ceiling, the raw hashing rate) just before it, so that both sides of a ratio see the machine
 * at the same speed.
 */
async function repeat(
  server: ServerProcess,
  spec: LoadSpec,
  tag: string,
  pair?: { warmup(): Promise<void>; measure(rep: number): Promise<void> },
): Promise<LoadResult[]> {
  await server.settle()
  if (settings.warmup > 0) {
    await load({ ...spec, duration: settings.warmup })
    await pair?.warmup()
  }
  const runs: LoadResult[] = []
  for (let rep = 1; rep <= settings.reps; rep++) {
    if (pair) await pair.measure(rep)
    await server.settle()
    await waitQuiet(server, REP_WAIT)
    let run = await measuredLoad(server, spec)
    if (waitLimit() > 0 && (run.otherCpu ?? 0) > NOISY) {
      // other work shared the cores: once more after it has gone, keeping the quieter of the two
      log(`  ${tag} ${rep}/${settings.reps}: ${fmt(run.otherCpu!, 2)} cores of other work during the run, once more`)
      await server.settle()
      await waitQuiet(server)
      const again = await measuredLoad(server, spec)
      if ((again.otherCpu ?? 0) < (run.otherCpu ?? 0)) run = again
    }
    runs.push(run)
    log(
      `  ${tag} ${rep}/${settings.reps}: ${fmt(run.rps)} req/s, p50 ${fmt(run.p50, 2)} ms, p99 ${fmt(run.p99, 2)} ms` +
        `${run.errors ? `, ${run.errors} errors ${JSON.stringify(run.errorKinds)}` : ''}, ` +
        `CPU server ${fmt(run.serverCpu ?? Number.NaN, 2)}, others ${fmt(run.otherCpu ?? Number.NaN, 2)}`,
    )
  }
  return runs
}

/** One raw hashing round (what `measureHashing` measures), pinned like the server, while it idles. */
async function rawHashRound(operation: 'hash' | 'verify', serverEnv: Record<string, string>): Promise<number> {
  const spec: HashRateSpec = {
    algorithm: 'argon2id',
    operation,
    concurrency: serverCores(),
    asServer: true,
    warmupSeconds: quick ? 0.3 : 0.5,
    rounds: 1,
    roundSeconds: quick ? 0.5 : 2,
  }
  const result = await runJsonScript<HashRateResult>(pin.serverCpus, built.hashrate, [JSON.stringify(spec)], 60_000, {
    env: serverEnv,
    nodeOptions: serverNodeOptions,
  })
  return result.rate
}

/**
 * A scenario's repetitions, each paired with what its ratio divides by: a ceiling repetition on
 * the same server (`ceiling`), or a raw hashing round (`rawEnv`, for a route a hash bounds).
 */
async function runScenario(
  server: ServerProcess,
  def: ScenarioDef,
  tag: string,
  against: { ceiling?: LoadSpec; rawEnv?: Record<string, string> } = {},
): Promise<ScenarioResult> {
  if ('unavailable' in def.spec) {
    log(`  ${def.id}: ${def.spec.unavailable}`)
    return { id: def.id, label: def.label, status: 'unavailable', note: def.spec.unavailable }
  }
  await waitQuiet(server)
  server.startPeakWindow()
  const pairedRaw: number[] = []
  const pairedCeiling: number[] = []
  const { ceiling } = against
  const rawEnv = def.limit ? against.rawEnv : undefined
  const pair =
    rawEnv && def.limit
      ? {
          warmup: async () => {},
          measure: async (rep: number) => {
            await waitQuiet(server, REP_WAIT)
            const raw = await rawHashRound(def.limit!, rawEnv)
            pairedRaw.push(raw)
            log(`  ${tag} ${def.id} ${rep}/${settings.reps}: paired raw argon2id ${def.limit} ${fmt(raw, 1)}/s`)
          },
        }
      : ceiling && def.id !== 'ceiling' && !def.limit
        ? {
            warmup: async () => {
              await load({ ...ceiling, duration: Math.min(settings.warmup, 1) })
            },
            measure: async (rep: number) => {
              await server.settle()
              await waitQuiet(server, REP_WAIT)
              const run = await measuredLoad(server, ceiling)
              pairedCeiling.push(run.rps)
              log(`  ${tag} ${def.id} ${rep}/${settings.reps}: paired ceiling ${fmt(run.rps)} req/s`)
            },
          }
        : undefined
  try {
    const runs = await repeat(server, def.spec, `${tag} ${def.id}`, pair)
    return {
      id: def.id,
      label: def.label,
      status: 'ok',
      runs,
      summary: summarize(runs),
      peakRssMb: server.peakRssMb(),
      ...(pair && { paired: pairedRaw.length ? { raw: pairedRaw } : { ceiling: pairedCeiling } }),
    }
  } catch (error) {
    log(`  ${def.id} failed: ${(error as Error).message}`)
    return { id: def.id, label: def.label, status: 'failed', note: (error as Error).message.slice(0, 500) }
  }
}

/**
 * Isolation: the /users/me probe at a fixed rate alone, then while a login flood keeps password
 * hashing saturated. Reported: the probe's p99 under the flood over its idle p99.
 */
async function runIsolation(
  server: ServerProcess,
  probe: LoadSpec,
  flood: LoadSpec,
  label: string,
  tag: string,
): Promise<ScenarioResult> {
  const probeSpec: LoadSpec = {
    ...probe,
    connections: settings.probeConnections,
    overallRate: settings.probeRate,
  }
  const floodSpec: LoadSpec = {
    ...flood,
    connections: settings.floodConnections,
    duration: settings.warmup + settings.duration + 1,
  }
  await waitQuiet(server)
  server.startPeakWindow()
  try {
    const idleRuns = await repeat(server, probeSpec, `${tag} isolation idle probe`)
    const probeRuns: LoadResult[] = []
    const floodRuns: LoadResult[] = []
    for (let rep = 1; rep <= settings.reps; rep++) {
      const underFlood = async () => {
        await server.settle()
        await waitQuiet(server, REP_WAIT)
        const flooding = load(floodSpec)
        await sleep(Math.max(settings.warmup, 1) * 1000)
        const probeRun = await measuredLoad(server, probeSpec)
        const floodRun = await flooding
        // the flood's own load generator is not other work
        probeRun.otherCpu = Math.max(0, (probeRun.otherCpu ?? 0) - (floodRun.loaderCpu ?? 0))
        return [probeRun, floodRun] as const
      }
      let [run, floodRun] = await underFlood()
      if (waitLimit() > 0 && (run.otherCpu ?? 0) > NOISY) {
        log(
          `  ${tag} isolation under flood ${rep}/${settings.reps}: ${fmt(run.otherCpu!, 2)} cores of other work, once more`,
        )
        await waitQuiet(server)
        const again = await underFlood()
        if ((again[0].otherCpu ?? 0) < (run.otherCpu ?? 0)) [run, floodRun] = again
      }
      probeRuns.push(run)
      floodRuns.push(floodRun)
      log(
        `  ${tag} isolation under flood ${rep}/${settings.reps}: probe p50 ${fmt(run.p50, 2)} ms, p99 ${fmt(run.p99, 2)} ms` +
          ` (${run.errors} errors); flood ${fmt(floodRun.rps, 1)} logins/s; others ${fmt(run.otherCpu ?? Number.NaN, 2)}`,
      )
    }
    const idle = summarize(idleRuns)
    const underFlood = summarize(probeRuns)
    return {
      id: 'isolation',
      label,
      status: 'ok',
      summary: underFlood,
      peakRssMb: server.peakRssMb(),
      isolation: { idle, underFlood, flood: summarize(floodRuns), p99Ratio: underFlood.p99 / idle.p99 },
    }
  } catch (error) {
    log(`  isolation failed: ${(error as Error).message}`)
    return { id: 'isolation', label, status: 'failed', note: (error as Error).message.slice(0, 500) }
  }
}

/**
 * A server's scenarios, one after the other in one server process: a long-running, warm service, as
 * in production. Each scenario's peak RSS therefore includes what the ones before it left;
 * `npx tsx bench/lib/rss.ts` measures each in a fresh process.
 */
async function runTarget(
  target: Omit<TargetResult, 'scenarios' | 'status'>,
  start: () => Promise<ServerProcess>,
  scenarios: (base: string) => Promise<ScenarioDef[]>,
  hashing: BenchReport['hashing'],
  options: {
    beforeScenarios?: () => Promise<void>
    rawEnv?: Record<string, string>
    /** The ceiling only pairs with the other scenarios' repetitions: it has no row of its own. */
    ceilingForPairsOnly?: boolean
  } = {},
): Promise<TargetResult> {
  log(`\n== ${target.label}`)
  let server: ServerProcess | undefined
  try {
    server = await start()
    const defs = await scenarios(server.url)
    if (options.beforeScenarios) await options.beforeScenarios()
    const ceilingDef = defs.find((d) => d.id === 'ceiling')
    const against = {
      ...(ceilingDef && !('unavailable' in ceilingDef.spec) && { ceiling: ceilingDef.spec }),
      ...(options.rawEnv && { rawEnv: options.rawEnv }),
    }
    const results: ScenarioResult[] = []
    for (const def of defs) {
      if (def.id === 'ceiling' && options.ceilingForPairsOnly) continue
      if (wanted(def.id)) results.push(await runScenario(server, def, target.id, against))
    }
    const probe = defs.find((d) => d.id === 'me-jwt')?.spec
    const flood = defs.find((d) => d.id === 'login')?.spec
    if (wanted('isolation') && probe && flood && !('unavailable' in probe) && !('unavailable' in flood)) {
      const label =
        target.kind === 'ours'
          ? 'isolation: /users/me under a login flood'
          : 'isolation: get-session under a sign-in flood'
      results.push(await runIsolation(server, probe, flood, label, target.id))
    }
    const ceiling = results.find((r) => r.id === 'ceiling')?.summary?.rps
    for (const result of results) {
      const rps = result.runs?.map((run) => run.rps) ?? []
      if (result.paired?.ceiling) result.vsCeiling = pairedRatio(rps, result.paired.ceiling)
      else if (ceiling && result.summary && result.id !== 'isolation') result.vsCeiling = result.summary.rps / ceiling
      const limit = defs.find((d) => d.id === result.id)?.limit
      if (limit && result.paired?.raw) {
        const raw = hashing[`argon2id-${limit}`]
        if (raw) raw.pairedRates = [...(raw.pairedRates ?? []), ...result.paired.raw]
        result.vsLimit = {
          operation: limit,
          rate: median(result.paired.raw),
          ratio: pairedRatio(rps, result.paired.raw),
        }
      } else {
        const raw = limit && hashing[`argon2id-${limit}`]
        if (limit && raw && result.summary) {
          result.vsLimit = { operation: limit, rate: raw.rate, ratio: result.summary.rps / raw.rate }
        }
      }
    }
    return { ...target, status: 'ok', scenarios: results }
  } catch (error) {
    log(`  ${target.label} failed: ${(error as Error).message}`)
    return { ...target, status: 'failed', note: (error as Error).message.slice(0, 1000), scenarios: [] }
  } finally {
    await server?.stop()
  }
}

/** The median of the repetitions' ratios, each run over what it was paired with. */
function pairedRatio(values: number[], over: number[]): number {
  return median(values.map((value, i) => value / over[i]!))
}

/**
 * WEB_CONCURRENCY: GET /users/me (JWT) on SQLite with 1, 2, … worker processes (node:cluster), up
 * to the machine's cores. Nothing is pinned here (the workers need every core), so the load
 * generator shares the cores with the server: on a small machine the gain is bounded by that.
 */
async function runScaling(port: () => number, env: (databaseUrl: string) => Record<string, string>, work: string) {
  const cores = availableParallelism()
  const counts = Array.from({ length: Math.min(cores, 8) }, (_, i) => i + 1)
  log(`\n== WEB_CONCURRENCY: GET /users/me (JWT) with ${counts.join(', ')} workers (unpinned)`)
  const rows: ScalingResult['rows'] = []
  for (const workers of counts) {
    const server = await ServerProcess.start({
      name: `fastify-users (${workers} workers)`,
      script: args.tsx ? 'server/main.ts' : built.server,
      env: { ...env(`sqlite:${join(work, `scaling-${workers}.sqlite`)}`), WEB_CONCURRENCY: String(workers) },
      port: port(),
      cpus: '',
      readyPath: '/bench/ceiling',
    })
    try {
      // the first worker to listen answers the readiness probe: give the others time to start
      if (workers > 1) await sleep(5000)
      const defs = await oursScenarios(server.url, settings, (id) => id === 'me-jwt')
      const spec = defs.find((d) => d.id === 'me-jwt')?.spec
      if (!spec || 'unavailable' in spec) throw new Error('no /users/me scenario')
      if (settings.warmup > 0)
        await runJsonScript<LoadResult>(
          '',
          built.loader,
          [JSON.stringify({ tool, ...spec, duration: settings.warmup })],
          120_000,
        )
      const runs: LoadResult[] = []
      for (let rep = 1; rep <= settings.reps; rep++) {
        const run = await runJsonScript<LoadResult>(
          '',
          built.loader,
          [JSON.stringify({ tool, ...spec })],
          (spec.duration + 60) * 1000,
        )
        runs.push(run)
        log(`  ${workers} worker(s) ${rep}/${settings.reps}: ${fmt(run.rps)} req/s, p99 ${fmt(run.p99, 2)} ms`)
      }
      const summary = summarize(runs)
      rows.push({ workers, summary, speedup: summary.rps / (rows[0]?.summary.rps ?? summary.rps) })
    } finally {
      await server.stop()
    }
  }
  return {
    scenario: 'GET /users/me (JWT), SQLite',
    note:
      `server (primary + workers) and load generator unpinned on ${cores} cores: ` +
      'the load generator takes a share of the same cores',
    rows,
  }
}

/** Files under these folders, newest modification time (ms). */
function newestMtime(dirs: string[]): number {
  let newest = 0
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else newest = Math.max(newest, statSync(path).mtimeMs)
    }
  }
  for (const dir of dirs) if (existsSync(dir)) walk(dir)
  return newest
}

/**
 * Start-up on an existing, migrated SQLite database (the one the SQLite scenarios used): from
 * spawning node to GET /ready answering 200, several rounds, the server pinned as in the scenarios,
 * without Redis (npm start's defaults). Measured for what `npm start` runs (the service bundled by
 * server/bundle.ts, built here as `npm run build:service` builds it) and, for comparison, for the
 * unbundled service tsc compiles (dist/server/main.js, when `npm run build` has compiled the current
 * sources).
 */
async function measureStartup(env: Record<string, string>, port: () => number): Promise<StartupResult[]> {
  const rounds = quick ? 3 : 7
  const dist = join(ROOT, 'dist/server/main.js')
  const distFresh = existsSync(dist) && statSync(dist).mtimeMs >= newestMtime([join(ROOT, 'src'), join(ROOT, 'server')])
  const candidates = [
    { label: 'npm start (the service bundled by server/bundle.ts)', script: built.server, unavailable: undefined },
    {
      label: 'unbundled (node dist/server/main.js, compiled by tsc)',
      script: 'dist/server/main.js',
      unavailable: distFresh ? undefined : 'dist/ is missing or older than the sources: run `npm run build` first',
    },
  ]
  const { REDIS_URL: _redis, ...withoutRedis } = env
  const results: StartupResult[] = []
  log('\n== start-up: process start to /ready answering 200, on the migrated SQLite database')
  for (const candidate of candidates) {
    if (candidate.unavailable) {
      log(`  ${candidate.label}: ${candidate.unavailable}`)
      results.push({ ...candidate, status: 'unavailable', note: candidate.unavailable, rounds: [] })
      continue
    }
    try {
      const times: number[] = []
      const cpu: number[] = []
      for (let round = 0; round < rounds; round++) {
        const measured = await startupMs({
          script: candidate.script,
          env: withoutRedis,
          port: port(),
          cpus: pin.serverCpus,
          readyPath: '/ready',
          nodeOptions: serverNodeOptions,
        })
        times.push(measured.ms)
        cpu.push(measured.cpuMs)
      }
      const result: StartupResult = {
        label: candidate.label,
        script: candidate.script.replace(ROOT, ''),
        status: 'ok',
        rounds: times,
        medianMs: median(times),
        minMs: Math.min(...times),
        maxMs: Math.max(...times),
        cpuMs: median(cpu),
      }
      log(
        `  ${candidate.label}: median ${fmt(result.medianMs!)} ms (${fmt(result.minMs!)}–${fmt(result.maxMs!)}, ` +
          `${rounds} rounds), CPU ${fmt(result.cpuMs!)} ms`,
      )
      results.push(result)
    } catch (error) {
      log(`  ${candidate.label} failed: ${(error as Error).message}`)
      results.push({
        label: candidate.label,
        script: candidate.script,
        status: 'failed',
        note: (error as Error).message.slice(0, 500),
        rounds: [],
      })
    }
  }
  return results
}

/** The cores the server may use: as many hashes in flight as that (more only share them). */
function serverCores(): number {
  return pin.enabled ? pin.serverCpus.split(',').length : availableParallelism()
}

/**
 * The physical limit of the password routes: hashes per second with as many in flight as the
 * server has cores (more only share the same cores, and lose to contention); also, for context,
 * argon2id verify with 4 in flight, as libuv's default thread pool runs it when nothing bounds it.
 * Each is measured in one process started as the server is (its core, its environment, its node
 * flags, its hasher): a warm-up, then several rounds; the median and the spread are reported.
 */
async function measureHashing(into: BenchReport['hashing'], serverEnv: Record<string, string>) {
  const cores = serverCores()
  const jobs: (Pick<HashRateSpec, 'algorithm' | 'operation' | 'concurrency'> & { key: string })[] = [
    { key: 'argon2id-verify', algorithm: 'argon2id', operation: 'verify', concurrency: cores },
    { key: 'argon2id-hash', algorithm: 'argon2id', operation: 'hash', concurrency: cores },
    { key: 'argon2id-verify-pool', algorithm: 'argon2id', operation: 'verify', concurrency: 4 },
    ...(args['no-peer']
      ? []
      : [{ key: 'scrypt-hash', algorithm: 'scrypt' as const, operation: 'hash' as const, concurrency: cores }]),
  ]
  for (const { key, ...job } of jobs) {
    const spec: HashRateSpec = {
      ...job,
      asServer: true,
      warmupSeconds: quick ? 0.5 : 1,
      rounds: quick ? 3 : 5,
      roundSeconds: quick ? 0.5 : 1.5,
    }
    const result = await runJsonScript<HashRateResult>(
      pin.serverCpus,
      built.hashrate,
      [JSON.stringify(spec)],
      120_000,
      {
        env: serverEnv,
        nodeOptions: serverNodeOptions,
      },
    )
    into[key] = {
      rate: result.rate,
      spread: result.spread,
      meanMs: result.meanMs,
      concurrency: job.concurrency,
      threadPool: result.threadPool,
      ...(result.params && { params: result.params }),
      rounds: result.perRound,
    }
    log(
      `  raw ${key}: ${fmt(result.rate, 1)}/s ±${fmt(result.spread * 100, 1)} % on CPU ${pin.serverCpus || 'any'} ` +
        `(${job.concurrency} in flight; rounds ${result.perRound.map((r) => fmt(r.rate, 1)).join(', ')}; ` +
        `others ${result.perRound.map((r) => fmt(r.otherCpu, 2)).join(', ')} cores)`,
    )
  }
}

/** Installs Better Auth into bench/peer (its own package.json and lockfile) when missing or stale. */
function ensurePeerInstalled(): string | undefined {
  const peer = join(ROOT, 'bench/peer')
  const wantedVersion = (JSON.parse(readFileSync(join(peer, 'package.json'), 'utf8')) as any).dependencies[
    'better-auth'
  ] as string
  const installed = join(peer, 'node_modules/better-auth/package.json')
  if (existsSync(installed) && (JSON.parse(readFileSync(installed, 'utf8')) as any).version === wantedVersion) return
  log(`installing Better Auth ${wantedVersion} into bench/peer (npm ci) …`)
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: peer,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  return npm.status === 0 ? undefined : `npm ci in bench/peer failed (exit ${npm.status})`
}

/** Whether a Redis server answers PING at that URL (the reference service's Redis backend needs one). */
function redisAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect({ host: hostname || '127.0.0.1', port: Number(port || 6379) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')))
  })
}

/** A dedicated database on the PostgreSQL server, when it answers. */
async function createPostgresDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> } | string> {
  const name = `fastify_users_bench_${process.pid}`
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.query(`DROP DATABASE IF EXISTS ${name}`)
    await client.query(`CREATE DATABASE ${name}`)
  } catch (error) {
    await client.end().catch(() => {})
    return `not reachable at ${adminUrl} (${(error as Error).message})`
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {})
      await client.end().catch(() => {})
    },
  }
}

async function main() {
  const started = Date.now()
  built = await buildBench()
  const work = mkdtempSync(join(tmpdir(), 'fastify-users-bench-'))
  const report: BenchReport = {
    version: 1,
    mode: quick ? 'quick' : 'full',
    startedAt: new Date(started).toISOString(),
    elapsedSeconds: 0,
    waitedSeconds: 0,
    machine: await machine(),
    settings: {
      ...settings,
      logLevel: args['log-level']!,
      loader: LOADER_DESCRIPTION,
      server: args.tsx
        ? 'server/main.ts through tsx (as npm start)'
        : 'server/main.ts bundled by esbuild (bench/lib/build.ts), run by plain node',
    },
    hashing: {},
    targets: [],
    notAvailable: [],
  }
  log(
    `fastify-users bench (${report.mode}): ${report.machine.cpu}, ${report.machine.cores} cores, Node ${process.version}`,
  )
  log(`${pin.describe}; warm-up ${settings.warmup} s, ${settings.reps} × ${settings.duration} s per scenario`)
  if (report.machine.backgroundCpu > 0.25) {
    log(
      `WARNING: other processes keep ${fmt(report.machine.backgroundCpu, 2)} cores busy: the figures will be noisy ` +
        '(see the "others" CPU column)',
    )
  }

  let port = 18_000 + (process.pid % 1000) * 3
  const redisUrl = (await redisAnswers(args['redis-url']!)) ? args['redis-url']! : undefined
  if (!redisUrl) log(`Redis does not answer at ${args['redis-url']}: no Redis backend`)
  const oursEnv = (databaseUrl: string) => ({
    NODE_ENV: 'production',
    SECRET: randomBytes(32).toString('base64url'),
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: args['log-level']!,
    BENCH_CEILING_ROUTE: 'true',
    // the load comes from one address: the rate limiter would refuse it (Better Auth's is off too)
    RATE_LIMIT: 'false',
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
  })
  const script = args.tsx ? 'server/main.ts' : built.server
  const startOurs = (name: string, databaseUrl: string, extraEnv: Record<string, string> = {}) => {
    const env = { ...oursEnv(databaseUrl), ...extraEnv }
    const serverPort = port++
    return () =>
      ServerProcess.start({
        name,
        script,
        ...(databaseUrl.startsWith('postgres') ? { databaseCommand: 'postgres' } : {}),
        env,
        port: serverPort,
        cpus: pin.serverCpus,
        readyPath: '/bench/ceiling',
        nodeOptions: [...serverNodeOptions, ...profileOptions(name)],
      })
  }
  // the raw hashing rounds paired with the password routes run with the server's environment
  const rawEnv = oursEnv(`sqlite:${join(work, 'hashrate.sqlite')}`)
  const ours = (base: string) => oursScenarios(base, settings, wanted)

  /**
   * GET /users/me (JWT) on a server of its own with METRICS=true (SQLite, like the first target), added
   * to the SQLite target's table: its note tells its req/s over the plain scenario's (when that ran).
   */
  const runMetricsOverhead = async (sqliteTarget: TargetResult) => {
    const withMetrics = await runTarget(
      { id: 'sqlite', label: 'fastify-users on SQLite, METRICS=true', kind: 'ours' },
      startOurs('fastify-users (SQLite, METRICS=true)', `sqlite:${join(work, 'ours-metrics.sqlite')}`, {
        METRICS: 'true',
        METRICS_TOKEN: randomBytes(24).toString('base64url'),
      }),
      async (base) =>
        (await ours(base))
          .filter((def) => def.id === 'me-jwt' || def.id === 'ceiling')
          .map((def) =>
            def.id === 'ceiling'
              ? def
              : { ...def, id: 'me-jwt-metrics' as const, label: 'GET /users/me (JWT), METRICS=true' },
          ),
      report.hashing,
      { ceilingForPairsOnly: true },
    )
    const result = withMetrics.scenarios.find((s) => s.id === 'me-jwt-metrics')
    if (!result) return
    const plain = sqliteTarget.scenarios.find((s) => s.id === 'me-jwt')?.summary?.rps
    const ceiling = sqliteTarget.scenarios.find((s) => s.id === 'ceiling')?.summary?.rps
    if (result.summary && ceiling && !result.paired) result.vsCeiling = result.summary.rps / ceiling
    if (result.summary && plain) {
      result.note = `${fmt((result.summary.rps / plain) * 100, 1)} % of the plain GET /users/me (JWT) req/s`
      log(`  METRICS=true: ${result.note}`)
    }
    sqliteTarget.scenarios.push(result)
  }

  try {
    report.targets.push(
      await runTarget(
        { id: 'sqlite', label: 'fastify-users on SQLite', kind: 'ours' },
        startOurs('fastify-users (SQLite)', `sqlite:${join(work, 'ours.sqlite')}`),
        ours,
        report.hashing,
        {
          beforeScenarios: async () => {
            if (!['login', 'register', 'login-2fa', 'isolation'].some(wanted)) return
            log('  raw password hashing, pinned like the server, while it idles:')
            await measureHashing(report.hashing, rawEnv)
          },
          rawEnv,
        },
      ),
    )

    const sqliteTarget = report.targets[0]
    if (wanted('me-jwt-metrics') && sqliteTarget) await runMetricsOverhead(sqliteTarget)
    if (wanted('startup'))
      report.startup = await measureStartup(oursEnv(`sqlite:${join(work, 'ours.sqlite')}`), () => port++)

    if (args['no-postgres']) {
      report.targets.push({
        id: 'postgres',
        label: 'fastify-users on PostgreSQL',
        kind: 'ours',
        status: 'unavailable',
        note: 'skipped (--no-postgres)',
        scenarios: [],
      })
    } else {
      const database = await createPostgresDatabase(args['postgres-url']!)
      if (typeof database === 'string') {
        log(`\n== PostgreSQL ${database}: skipped`)
        report.targets.push({
          id: 'postgres',
          label: 'fastify-users on PostgreSQL',
          kind: 'ours',
          status: 'unavailable',
          note: database,
          scenarios: [],
        })
      } else {
        try {
          report.targets.push(
            await runTarget(
              { id: 'postgres', label: 'fastify-users on PostgreSQL', kind: 'ours' },
              startOurs('fastify-users (PostgreSQL)', database.url),
              ours,
              report.hashing,
              { rawEnv },
            ),
          )
        } finally {
          await database.drop()
        }
      }
    }

    const peerProblem = args['no-peer'] ? 'skipped (--no-peer)' : ensurePeerInstalled()
    if (peerProblem) {
      report.targets.push({
        id: 'better-auth',
        label: 'Better Auth on SQLite',
        kind: 'peer',
        status: 'unavailable',
        note: peerProblem,
        scenarios: [],
      })
    } else {
      const version = (
        JSON.parse(readFileSync(join(ROOT, 'bench/peer/node_modules/better-auth/package.json'), 'utf8')) as any
      ).version as string
      const peerEnv = {
        NODE_ENV: 'production',
        BETTER_AUTH_SECRET: randomBytes(32).toString('base64url'),
        BETTER_AUTH_TELEMETRY: '0',
        PEER_DATABASE: join(work, 'better-auth.sqlite'),
        BENCH_CEILING_ROUTE: 'true',
      }
      const peerPort = port++
      report.targets.push(
        await runTarget(
          { id: 'better-auth', label: `Better Auth ${version} on SQLite`, kind: 'peer' },
          () =>
            ServerProcess.start({
              name: 'Better Auth',
              script: 'bench/peer/server.mjs',
              env: peerEnv,
              port: peerPort,
              cpus: pin.serverCpus,
              readyPath: '/bench/ceiling',
              nodeOptions: profileOptions('better-auth'),
            }),
          (base) => peerScenarios(base, settings),
          report.hashing,
        ),
      )
    }
    if (wanted('workers') && availableParallelism() > 1) {
      try {
        report.scaling = await runScaling(() => port++, oursEnv, work)
      } catch (error) {
        log(`  WEB_CONCURRENCY scaling failed: ${(error as Error).message}`)
        report.notAvailable.push(`throughput against worker processes: failed (${(error as Error).message})`)
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }

  // the raw rate of a run: its first rounds and those paired with the password routes, together
  for (const measured of Object.values(report.hashing)) {
    if (!measured.pairedRates?.length) continue
    const rates = [...(measured.rounds ?? []).map((r) => r.rate), ...measured.pairedRates]
    measured.rate = median(rates)
    measured.spread = (Math.max(...rates) - Math.min(...rates)) / 2 / measured.rate
  }
  for (const target of report.targets) {
    for (const scenario of target.scenarios) {
      if (scenario.status === 'unavailable')
        report.notAvailable.push(`${target.label}, ${scenario.label}: ${scenario.note}`)
    }
  }
  report.elapsedSeconds = (Date.now() - started) / 1000
  report.waitedSeconds = waitedMs / 1000
  const resultsDir = join(ROOT, 'bench/results')
  mkdirSync(resultsDir, { recursive: true })
  const jsonPath = args.out ?? join(resultsDir, quick ? 'quick.json' : 'latest.json')
  if (!quick) report.previousHashing = previousHashing(join(resultsDir, 'latest.json'))
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`)
  log(`\nresults: ${jsonPath}`)
  const markdownPath = args.markdown ?? (quick ? undefined : join(ROOT, 'BENCHMARKS.md'))
  if (markdownPath) {
    writeFileSync(markdownPath, renderMarkdown(report))
    log(`table: ${markdownPath}`)
  }
  process.stdout.write(`\n${renderSummary(report)}\n`)
  if (args.profile) printProfiles(started)
  log(
    `bench took ${fmt(report.elapsedSeconds / 60, 1)} minutes` +
      (waitedMs ? ` (${fmt(waitedMs / 60_000, 1)} of them waiting for other processes)` : ''),
  )
}

if (args.render) {
  const report = JSON.parse(readFileSync(args.render, 'utf8')) as BenchReport
  const markdownPath = args.markdown ?? join(ROOT, 'BENCHMARKS.md')
  writeFileSync(markdownPath, renderMarkdown(report))
  process.stdout.write(`${renderSummary(report)}\n`)
  log(`table: ${markdownPath}`)
} else {
  await main()
}
