/** Turns a bench report into BENCHMARKS.md, the console summary, and the targets met or not. */
import type { BenchReport, ScenarioResult, TargetResult } from '../run.js'

const num = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n)
    ? '–'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const ms = (n: number | undefined) => (n === undefined ? '–' : n < 10 ? num(n, 2) : n < 100 ? num(n, 1) : num(n))
const pct = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : `${num(n * 100)} %`)
const times = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : `${num(n, 2)}×`)
const rate = (n: number) => (n < 100 ? num(n, 1) : num(n))

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}

/** A scenario that ran and got answers. */
const find = (target: TargetResult | undefined, id: string): ScenarioResult | undefined =>
  target?.scenarios.find((s) => s.id === id && s.status === 'ok' && (s.summary?.ok ?? 0) > 0)

export interface TargetCheck {
  target: string
  measured: string
  met: boolean | undefined
}

/** The issue's targets, each met or not (or not measured in this run). */
export function checkTargets(report: BenchReport): TargetCheck[] {
  const checks: TargetCheck[] = []
  const peer = report.targets.find((t) => t.id === 'better-auth' && t.status === 'ok')
  for (const target of report.targets.filter((t) => t.kind === 'ours')) {
    const on = target.id === 'sqlite' ? 'SQLite' : 'PostgreSQL'
    if (target.status !== 'ok') {
      checks.push({ target: `every target on ${on}`, measured: target.note ?? 'not run', met: undefined })
      continue
    }
    // Issue 19's goals: shares of the same server's ceiling in the same run
    const goals: [string, string, number | undefined, number | undefined][] = [
      ['me-jwt', 'GET /users/me (JWT)', 0.7, 0.5],
      ['me-database', 'GET /users/me (database token)', 0.55, 0.35],
      ['me-redis', 'GET /users/me (Redis token)', undefined, 0.5],
      // twice the share in BENCHMARKS.md of 6a25fb7 (6 % and 3 %)
      ['refresh', 'POST /auth/jwt/refresh (rotation)', 0.12, 0.06],
    ]
    for (const [id, what, onSqlite, onPostgres] of goals) {
      const goal = target.id === 'sqlite' ? onSqlite : onPostgres
      if (goal === undefined) continue
      const s = find(target, id)
      checks.push({
        target: `${on}: ${what} ≥ ${pct(goal)} of the ceiling`,
        measured: s ? `${pct(s.vsCeiling)} (${rate(s.summary!.rps)} req/s)` : 'not measured',
        met: s?.vsCeiling === undefined ? undefined : s.vsCeiling >= goal,
      })
    }
    for (const [id, what] of [
      ['login', 'POST /auth/jwt/login ≥ 90 % of the raw argon2id verify rate'],
      ['register', 'POST /auth/register ≥ 90 % of the raw argon2id hash rate'],
    ] as const) {
      const s = find(target, id)
      checks.push({
        target: `${on}: ${what}`,
        measured: s?.vsLimit
          ? `${pct(s.vsLimit.ratio)} (${rate(s.summary!.rps)} req/s of ${rate(s.vsLimit.rate)}/s)`
          : 'not measured',
        met: s?.vsLimit ? s.vsLimit.ratio >= 0.9 : undefined,
      })
    }
    const iso = find(target, 'isolation')?.isolation
    checks.push({
      target: `${on}: /users/me p99 under a login flood < 5× its idle p99`,
      measured: iso ? `${times(iso.p99Ratio)} (${ms(iso.idle.p99)} → ${ms(iso.underFlood.p99)} ms)` : 'not measured',
      met: iso ? iso.p99Ratio < 5 : undefined,
    })
    const rssGoal = target.id === 'sqlite' ? 120 : 150
    const peaks = target.scenarios.filter((s) => s.peakRssMb !== undefined)
    const peak = peaks.length ? Math.max(...peaks.map((s) => s.peakRssMb!)) : undefined
    const worst = peaks.find((s) => s.peakRssMb === peak)
    checks.push({
      target: `${on}: server RSS under load ≤ ${rssGoal} MB`,
      measured: peak === undefined ? 'not measured' : `${num(peak)} MB peak (${worst!.id})`,
      met: peak === undefined ? undefined : peak <= rssGoal,
    })
  }
  const started = report.startup?.find((r) => r.status === 'ok')
  if (report.startup) {
    checks.push({
      target: 'SQLite: start-up to /ready answering 200 < 1 s (npm start, an existing database)',
      measured: started ? `${num(started.medianMs)} ms median (${started.label})` : 'not measured',
      met: started ? started.medianMs! < 1000 : undefined,
    })
  }
  // Issue 19: a physical limit that moves by less than 10 % between runs on a quiet machine
  const verify = report.hashing['argon2id-verify']
  if (verify) {
    const rounds = (verify.rounds?.length ?? 0) + (verify.pairedRates?.length ?? 0)
    checks.push({
      target: 'raw argon2id verify rate: the spread of its rounds in this run (reported)',
      measured:
        verify.spread === undefined
          ? 'one round'
          : `±${num(verify.spread * 100, 1)} % over ${rounds} rounds (median ${rate(verify.rate)}/s)`,
      met: undefined,
    })
    const before = report.previousHashing
    const comparable = before && before.cpu === report.machine.cpu && before.rates['argon2id-verify'] !== undefined
    const moved = comparable ? verify.rate / before.rates['argon2id-verify']! - 1 : undefined
    checks.push({
      target: 'raw argon2id verify rate: moved < 10 % from the previous full run',
      measured:
        moved !== undefined
          ? `${moved >= 0 ? '+' : ''}${num(moved * 100, 1)} % (${rate(before!.rates['argon2id-verify']!)}/s at ${before!.commit})`
          : before
            ? `not comparable: the previous run (${before.commit}) was on ${before.cpu}`
            : 'no previous full run',
      met: moved === undefined ? undefined : Math.abs(moved) < 0.1,
    })
  }
  const sqlite = report.targets.find((t) => t.id === 'sqlite')
  for (const [id, peerId, ours, theirs] of [
    ['me-jwt', 'me-jwt', 'GET /users/me (JWT)', 'get-session'],
    ['me-database', 'me-jwt', 'GET /users/me (database token)', 'get-session'],
    ['login', 'login', 'login', 'sign-in'],
    ['register', 'register', 'register', 'sign-up'],
  ] as const) {
    const us = find(sqlite, id)?.summary
    const them = find(peer, peerId)?.summary
    checks.push({
      target: `SQLite: ${ours} ahead of Better Auth's ${theirs}`,
      measured:
        us && them ? `${times(us.rps / them.rps)} (${rate(us.rps)} vs ${rate(them.rps)} req/s)` : 'not measured',
      met: us && them ? us.rps > them.rps : undefined,
    })
  }
  return checks
}

function targetTable(target: TargetResult): string {
  if (target.status !== 'ok') return `Not measured: ${target.note ?? target.status}.`
  const rows = target.scenarios
    .filter((s) => s.id !== 'isolation')
    .map((s) => {
      if (s.status !== 'ok' || !s.summary) return [s.label, `${s.note ?? s.status}`, '', '', '', '', '', '', '', '']
      const m = s.summary
      if (m.ok === 0) {
        return [s.label, 'no answer completed within the run', '', '', '', num(m.errors), '', '', '', num(s.peakRssMb)]
      }
      return [
        s.label,
        `${rate(m.rps)}${m.loaderCpu >= 0.9 ? ' †' : ''}`,
        m.reps > 1 ? `±${num(m.rpsSpread * 100, 1)} %` : '–',
        ms(m.p50),
        ms(m.p99),
        num(m.errors),
        pct(s.vsCeiling),
        s.vsLimit ? `${pct(s.vsLimit.ratio)} of ${rate(s.vsLimit.rate)} ${s.vsLimit.operation}/s` : '',
        `${num(m.serverCpu, 2)} / ${num(m.databaseCpu, 2)} / ${num(m.loaderCpu, 2)} / ${num(m.otherCpu, 2)}`,
        num(s.peakRssMb),
      ]
    })
  const loaderBound = target.scenarios.some((s) => s.id !== 'isolation' && (s.summary?.loaderCpu ?? 0) >= 0.9)
  const note = loaderBound
    ? "\n\n† the load generator's core was at least 90 % busy: the server may serve more than this."
    : ''
  return `${table(
    [
      'scenario',
      'req/s',
      'spread',
      'p50 ms',
      'p99 ms',
      'errors',
      'vs ceiling',
      'vs raw hashing',
      'CPU server / database / loader / others',
      'peak RSS MB',
    ],
    rows,
  )}${note}`
}

function comparisonTable(report: BenchReport): string | undefined {
  const peer = report.targets.find((t) => t.id === 'better-auth' && t.status === 'ok')
  const sqlite = report.targets.find((t) => t.id === 'sqlite' && t.status === 'ok')
  if (!peer || !sqlite) return undefined
  const rows: string[][] = []
  // Better Auth's get-session reads a database session from a cookie: the twin of our cookie + database backend
  for (const [id, peerId] of [
    ['ceiling', 'ceiling'],
    ['me-jwt', 'me-jwt'],
    ['me-database', 'me-jwt'],
    ['login', 'login'],
    ['register', 'register'],
  ] as const) {
    const us = find(sqlite, id)
    const them = find(peer, peerId)
    if (!us?.summary || !them?.summary) continue
    rows.push([
      `${us.label} / ${them.label.replace(/^ceiling: .*/, 'same')}`,
      rate(us.summary.rps),
      rate(them.summary.rps),
      times(us.summary.rps / them.summary.rps),
      `${ms(us.summary.p99)} / ${ms(them.summary.p99)}`,
      `${num(us.peakRssMb)} / ${num(them.peakRssMb)}`,
    ])
  }
  const usIso = find(sqlite, 'isolation')?.isolation
  const themIso = find(peer, 'isolation')?.isolation
  if (usIso && themIso) {
    rows.push([
      'isolation: p99 of the session route under a password flood (here: Better Auth / us, lower is better)',
      `${ms(usIso.underFlood.p99)} ms`,
      `${ms(themIso.underFlood.p99)} ms`,
      times(themIso.underFlood.p99 / usIso.underFlood.p99),
      `${ms(usIso.underFlood.p99)} / ${ms(themIso.underFlood.p99)}`,
      '',
    ])
  }
  return table(
    [
      'scenario (fastify-users / Better Auth)',
      'fastify-users',
      'Better Auth',
      'us / Better Auth',
      'p99 ms',
      'peak RSS MB',
    ],
    rows,
  )
}

function isolationTable(report: BenchReport): string | undefined {
  const rows: string[][] = []
  for (const target of report.targets) {
    const s = find(target, 'isolation')
    const iso = s?.isolation
    if (!iso) continue
    rows.push([
      target.label,
      `${ms(iso.idle.p50)} / ${ms(iso.idle.p99)}`,
      `${ms(iso.underFlood.p50)} / ${ms(iso.underFlood.p99)}`,
      times(iso.p99Ratio),
      rate(iso.flood.rps),
      num(iso.idle.errors + iso.underFlood.errors),
      num(s.peakRssMb),
    ])
  }
  if (!rows.length) return undefined
  return table(
    [
      'server',
      'probe idle p50 / p99 ms',
      'probe under flood p50 / p99 ms',
      'p99 ratio',
      'flood req/s',
      'probe errors',
      'peak RSS MB',
    ],
    rows,
  )
}

function scalingTable(report: BenchReport): string | undefined {
  const scaling = report.scaling
  if (!scaling?.rows.length) return undefined
  return table(
    ['workers (WEB_CONCURRENCY)', 'req/s', 'spread', 'p50 ms', 'p99 ms', 'errors', 'vs 1 worker'],
    scaling.rows.map((r) => [
      String(r.workers),
      num(r.summary.rps),
      r.summary.reps > 1 ? `±${num(r.summary.rpsSpread * 100, 1)} %` : '–',
      ms(r.summary.p50),
      ms(r.summary.p99),
      num(r.summary.errors),
      times(r.speedup),
    ]),
  )
}

function startupTable(report: BenchReport): string | undefined {
  if (!report.startup?.length) return undefined
  return table(
    ['what runs', 'median ms', 'min–max ms', 'CPU ms until ready (median)', 'rounds'],
    report.startup.map((r) =>
      r.status === 'ok'
        ? [r.label, num(r.medianMs), `${num(r.minMs)}–${num(r.maxMs)}`, num(r.cpuMs), String(r.rounds.length)]
        : [r.label, r.note ?? r.status, '', '', ''],
    ),
  )
}

function hashingTable(report: BenchReport): string {
  const labels: Record<string, string> = {
    'argon2id-verify': 'argon2id verify (fastify-users login), 19 MiB, t=2, p=1: **the login limit**',
    'argon2id-hash': 'argon2id hash (fastify-users register), the same parameters: **the register limit**',
    'argon2id-verify-pool': "argon2id verify, as many in flight as libuv's default pool (4)",
    'scrypt-hash': "scrypt (Better Auth's sign-up and sign-in), N=16384, r=16, p=1",
  }
  const rows = Object.entries(report.hashing).map(([key, h]) => [
    labels[key] ?? key,
    rate(h.rate),
    h.spread === undefined ? '' : `±${(h.spread * 100).toFixed(1)} %`,
    [
      h.rounds ? h.rounds.map((r) => rate(r.rate)).join(' / ') : '',
      h.pairedRates?.length ? `; paired: ${h.pairedRates.map(rate).join(' / ')}` : '',
    ].join(''),
    ms(h.meanMs),
    String(h.concurrency),
  ])
  return table(['operation', 'per second (median)', 'spread', 'rounds', 'ms each (as awaited)', 'in flight'], rows)
}

function targetsTable(report: BenchReport): string {
  return table(
    ['target', 'measured', 'met'],
    checkTargets(report).map((c) => [
      c.target,
      c.measured,
      c.met === undefined ? (c.target.endsWith('(reported)') ? 'reported' : 'not measured') : c.met ? 'met' : 'not met',
    ]),
  )
}

/** The console summary: the tables, without the explanations. */
export function renderSummary(report: BenchReport): string {
  const parts: string[] = []
  for (const target of report.targets) parts.push(`${target.label}\n${targetTable(target)}`)
  const comparison = comparisonTable(report)
  if (comparison) parts.push(`fastify-users vs Better Auth (both on SQLite)\n${comparison}`)
  const isolation = isolationTable(report)
  if (isolation) parts.push(`Isolation\n${isolation}`)
  const scaling = scalingTable(report)
  if (scaling) parts.push(`Worker processes: ${report.scaling?.scenario} (${report.scaling?.note})\n${scaling}`)
  const startup = startupTable(report)
  if (startup) parts.push(`Start-up to /ready (SQLite, existing database)\n${startup}`)
  parts.push(`Raw password hashing (same run, server's core)\n${hashingTable(report)}`)
  parts.push(`Targets\n${targetsTable(report)}`)
  if (report.notAvailable.length) {
    parts.push(`Not available yet\n${report.notAvailable.map((n) => `- ${n}`).join('\n')}`)
  }
  return parts.join('\n\n')
}

/** How much other work shared the machine: before the run, and during the measured runs. */
function otherLoad(report: BenchReport): string {
  const during = report.targets
    .flatMap((t) => t.scenarios)
    .filter((s) => s.id !== 'isolation')
    .flatMap((s) => s.runs ?? [])
    .map((r) => r.otherCpu ?? Number.NaN)
    .filter(Number.isFinite)
    .sort((a, b) => a - b)
  const before = `${num(report.machine.backgroundCpu, 2)} cores busy with other processes just before the run`
  if (!during.length) return before
  const median = during[during.length >> 1]!
  const max = during[during.length - 1]!
  const noisy = median > 0.25 || max > 0.5
  return (
    `${before}; during the measured runs median ${num(median, 2)}, max ${num(max, 2)}` +
    (noisy ? ' (**a shared machine: see the "others" CPU column; figures taken with more are lower bounds**)' : '')
  )
}

export function renderMarkdown(report: BenchReport): string {
  const { machine: m, settings: s } = report
  const out: string[] = []
  out.push('# Benchmarks')
  out.push(
    `Generated by \`npm run bench\` (bench/run.ts) on ${report.startedAt.slice(0, 10)}; do not edit by hand. ` +
      `Raw figures: [bench/results/latest.json](bench/results/latest.json). Where the time goes, and why a ` +
      `target below is not met: [bench/PROFILE-NOTES.md](bench/PROFILE-NOTES.md).`,
  )
  out.push(
    table(
      ['machine', ''],
      [
        ['CPU', `${m.cpu}, ${m.cores} cores`],
        ['Node.js', `${m.node} (${m.platform})`],
        ['commit', m.commit],
        ['pinning', m.pinning],
        ['other load', otherLoad(report)],
        ['server', s.server],
        ['load', `${s.loader}, over loopback`],
        [
          'each scenario',
          `${s.warmup} s warm-up, then ${s.reps} × ${s.duration} s, each just after the ` +
            'repetition it is compared with (the ceiling, or a raw hashing round); medians, spread = half the range',
        ],
        [
          'connections',
          `${s.fastConnections} (fast routes), ${s.hashConnections} (password routes); isolation: ${s.floodConnections} flooding, probe ${s.probeConnections} at ${s.probeRate} req/s`,
        ],
        [
          'run time',
          `${num(report.elapsedSeconds / 60, 1)} minutes` +
            (report.waitedSeconds
              ? `, of which ${num(report.waitedSeconds / 60, 1)} waiting for other processes to finish (\`--wait-quiet\`)`
              : ''),
        ],
      ],
    ),
  )
  for (const target of report.targets) {
    out.push(`## ${target.label}`)
    out.push(targetTable(target))
  }
  const comparison = comparisonTable(report)
  if (comparison) {
    out.push('## fastify-users vs Better Auth (both on SQLite)')
    out.push(comparison)
  }
  const isolation = isolationTable(report)
  if (isolation) {
    out.push('## Isolation: the session route while password hashing is saturated')
    out.push(
      `A probe sends the session route (\`GET /users/me\`; Better Auth: \`get-session\`) at ${s.probeRate} req/s over ` +
        `${s.probeConnections} connections, first alone, then while ${s.floodConnections} connections flood the login route.`,
    )
    out.push(isolation)
  }
  const scaling = scalingTable(report)
  if (scaling) {
    out.push('## Worker processes (WEB_CONCURRENCY)')
    out.push(`${report.scaling?.scenario}; ${report.scaling?.note}.`)
    out.push(scaling)
  }
  const startup = startupTable(report)
  if (startup) {
    out.push('## Start-up')
    out.push(
      'From spawning `node` (pinned like the server) to `GET /ready` answering 200 (polled every 5 ms), on the ' +
        'SQLite database the scenarios above used (migrated: nothing pending), without Redis; each round a new process.',
    )
    out.push(startup)
  }
  out.push('## Raw password hashing, measured in the same run')
  out.push(
    'The physical limit of the password routes: a separate process started as the server is (pinned to its core(s), ' +
      "its environment and node flags, so the same libuv thread pool; the service's own hasher and parameters, " +
      'server/passwords.ts), with as many operations in flight as the server has cores, while the server idles: a ' +
      "warm-up, then several timed rounds. The rate of the password routes' limits (argon2id verify and hash) is the " +
      'median of those rounds and of the rounds measured just before each repetition of a route it bounds (paired: ' +
      "the route's ratio is the median of each repetition over its own round), which spread over the whole run; " +
      'the spread is half the range of them all. More in flight only share the same ' +
      "cores and lose to contention: the row with 4 in flight is what libuv's default thread pool does when " +
      'nothing bounds the hashing.',
  )
  out.push(hashingTable(report))
  out.push('## Targets (from issue 5; reported, never asserted)')
  out.push(targetsTable(report))
  if (report.notAvailable.length) {
    out.push('## Not available yet')
    out.push(report.notAvailable.map((n) => `- ${n}`).join('\n'))
  }
  out.push('## How it is measured')
  out.push(
    [
      `- The reference service runs as ${s.server}, in its own process, in production mode (\`NODE_ENV=production\`, ` +
        `a random 43-character \`SECRET\`), on a fresh database, log level \`${s.logLevel}\` (no request log lines); ` +
        'Better Auth runs in a process of its own the same way. Each server is pinned with `taskset` when it exists. ' +
        'Both rate limiters are off (`RATE_LIMIT=false`; Better Auth `rateLimit.enabled: false`): the load comes from ' +
        'one address, which they would refuse.',
      '- The ceiling is `GET /bench/ceiling`, a bare JSON route in the same Fastify process, through the same hooks ' +
        '(`BENCH_CEILING_ROUTE=true`, off by default); Better Auth gets the same route in its own process.',
      '- The scenarios of a server run one after the other in one process, warm as a running service is: a ' +
        "scenario's peak RSS includes what the ones before it left in the heap and the allocator. " +
        "`npx tsx bench/lib/rss.ts` measures each scenario's peak in a fresh process instead.",
      '- "vs ceiling" pairs each repetition of a scenario with a ceiling repetition run on the same server just ' +
        'before it, and reports the median of those ratios: the speed of a shared or virtual machine moves during a ' +
        'run (by ±25 % between repetitions here), and a ratio of two medians taken minutes apart carries that ' +
        'movement. The ceiling row itself is its own repetitions.',
      '- `GET /users/me` uses a JWT bearer token and loads the user from the database on every request; register ' +
        "sends a new e-mail address with every request; login and register (and Better Auth's sign-in and sign-up) " +
        'are loaded with autocannon for 2 s more than the measured time, and answers in those first 2 s, while the ' +
        'queue of password hashes fills, are not counted.',
      `- The load generator, ${s.loader}, runs in another process pinned to the other core. Latencies are per ` +
        'response (sub-millisecond), over successful answers only, closed-loop (they include queueing); an answer ' +
        'with another status counts as an error. A loaded server was idle again before each measured run.',
      '- CPU, in cores busy over the measured window (1.00 = one core): the server process (all its threads), the ' +
        "PostgreSQL server's processes (– on SQLite, which works inside the server), the load generator, and every " +
        "other process on the machine (noise: other work sharing the two cores). Peak RSS is the kernel's " +
        'high-water mark (VmHWM, reset per scenario) and VmRSS polled every 100 ms.',
      '- Better Auth is configured as its documentation shows (e-mail and password, better-sqlite3, the catch-all ' +
        'route of its Fastify integration guide; its default scrypt), with rate limiting and telemetry off; it is ' +
        'installed apart, into bench/peer, by the bench itself.',
      '- PostgreSQL runs unpinned (it shares the cores with the server and the load generator).',
      '- `npm run bench -- --profile --only me-jwt --no-peer --no-postgres` writes a V8 CPU profile of the server and ' +
        'prints where its time went (bench/lib/profile.ts).',
    ].join('\n'),
  )
  return `${out.join('\n\n')}\n`
}
