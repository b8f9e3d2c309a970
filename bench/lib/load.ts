/**
 * The loader: one load run in its own process (the bench pins it to another core than the
 * server's), reading a LoadSpec from argv[2] (JSON) and printing one LoadResult as JSON.
 *
 * Two generators, the same result: wrk (C, one thread) when installed and the run has no fixed
 * rate, otherwise autocannon (always for the password routes, whose first seconds it can leave
 * out: see LoadSpec.skipSeconds). Latencies are per response, at sub-millisecond resolution; the
 * server's, the loader's and the rest of the machine's CPU are read over exactly the loaded window.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { base32Decode, hotp, timeStep } from '../../src/factors/totp/totp.js'
import { commandCpuSeconds, cpuSecondsBetween, machineBusySeconds, processCpuSeconds } from './proc.js'
import type { LoadResult, LoadSpec } from './types.js'

type Measured = Omit<LoadResult, 'serverCpu' | 'loaderCpu' | 'databaseCpu' | 'otherCpu'>

/** This process's CPU seconds, with its finished children's (wrk). */
function ownCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100
}

/** The first token of each chain: `logins` logins, four at a time (they hash a password each). */
export async function chainTokens(spec: LoadSpec): Promise<string[]> {
  const chain = spec.chain!
  const tokens: string[] = []
  const login = async () => {
    const response = await fetch(spec.url + chain.loginPath, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: chain.loginBody,
    })
    const text = await response.text()
    if (response.status !== 200) throw new Error(`chain login: ${response.status} ${text.slice(0, 200)}`)
    tokens.push((JSON.parse(text) as Record<string, string>)[chain.field]!)
  }
  let next = 0
  const worker = async () => {
    while (next++ < chain.logins) await login()
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  return tokens
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const tokens = spec.chain ? await chainTokens(spec) : undefined
  const server0 = spec.serverPid ? processCpuSeconds(spec.serverPid) : Number.NaN
  const database0 = spec.databaseCommand ? commandCpuSeconds(spec.databaseCommand) : undefined
  const machine0 = machineBusySeconds()
  const own0 = ownCpuSeconds()
  const started = performance.now()
  const measured =
    spec.tool === 'wrk' && !spec.overallRate && !tokens && !spec.skipSeconds && !spec.secondFactor && !spec.headerSets
      ? await withWrk(spec)
      : await withAutocannon(spec, tokens)
  const seconds = (performance.now() - started) / 1000
  const loaderCpu = (ownCpuSeconds() - own0) / seconds
  const serverCpu = spec.serverPid ? (processCpuSeconds(spec.serverPid) - server0) / seconds : undefined
  const machineCpu = (machineBusySeconds() - machine0) / seconds
  const databaseCpu =
    spec.databaseCommand && database0
      ? cpuSecondsBetween(database0, commandCpuSeconds(spec.databaseCommand)) / seconds
      : undefined
  const otherCpu = Math.max(0, machineCpu - loaderCpu - (serverCpu ?? 0) - (databaseCpu ?? 0))
  return { ...measured, serverCpu, loaderCpu, databaseCpu, otherCpu }
}

function percentiles(latencies: Float64Array, ok: number) {
  const sorted = latencies.subarray(0, ok).sort()
  const at = (q: number) => (ok === 0 ? 0 : sorted[Math.min(ok - 1, Math.ceil(q * ok) - 1)]!)
  let sum = 0
  for (const value of sorted) sum += value
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: ok ? sorted[ok - 1]! : 0, mean: ok ? sum / ok : 0 }
}

async function withAutocannon(spec: LoadSpec, chainStart?: string[]): Promise<Measured> {
  const runId = `${process.pid.toString(36)}${Date.now().toString(36)}`
  let counter = 0
  let latencies = new Float64Array(1 << 16)
  let ok = 0
  const errorKinds: Record<string, number> = {}
  const addError = (kind: string) => {
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
  }
  const unique = spec.body?.includes('{{unique}}') ?? false

  const record = (statusCode: number, responseTime: number) => {
    if (skip && performance.now() < windowStart) return
    if (statusCode !== spec.expectStatus) return addError(String(statusCode))
    if (ok === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2)
      bigger.set(latencies)
      latencies = bigger
    }
    latencies[ok++] = responseTime
  }
  const factor = spec.secondFactor && secondFactorFlow(spec.secondFactor, () => instance.stop())

  const options: autocannon.Options = {
    url: spec.url,
    connections: spec.connections,
    duration: spec.duration + (spec.skipSeconds ?? 0),
    pipelining: 1,
    timeout: 30,
    requests: factor
      ? factor.requests((status, started) => record(status, performance.now() - started))
      : [
          {
            method: spec.method,
            path: spec.path,
            headers: spec.headers ?? {},
            ...(spec.body !== undefined ? { body: spec.body } : {}),
            ...(unique
              ? {
                  setupRequest: (request: any) => {
                    request.body = spec.body!.replaceAll('{{unique}}', `${runId}-${counter++}`)
                    return request
                  },
                }
              : {}),
            ...(spec.headerSets
              ? {
                  setupRequest: (request: any) => {
                    const sets = spec.headerSets!
                    request.headers = { ...request.headers, ...sets[counter++ % sets.length] }
                    return request
                  },
                }
              : {}),
            // autocannon resets a connection's context after each request: the tokens live in one pool
            // instead, each one in a single request at a time (taken to build it, its successor put back)
            ...(chainStart
              ? {
                  setupRequest: (request: any) => {
                    request.body = spec.body!.replaceAll('{{chain}}', chainStart.pop() ?? '')
                    return request
                  },
                  onResponse: (status: number, body: string) => {
                    if (status === spec.expectStatus) chainStart.push(JSON.parse(body)[spec.chain!.field])
                  },
                }
              : {}),
          },
        ],
    ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
  }

  // Answers (and errors) in the first `skip` seconds are not counted: the time slow routes take to
  // fill their queue (nothing comes back until the first hashes are through) would understate them.
  const skip = (spec.skipSeconds ?? 0) * 1000
  const started = performance.now()
  const windowStart = started + skip
  let instance!: autocannon.Instance
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(options, (error, result) => (error ? reject(error) : resolve(result)))
  })
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (!factor) record(statusCode, responseTime) // a second-factor login counts at its second step
  })
  // time-outs come here too ('request timed out')
  instance.on('reqError', (error: Error & { code?: string }) => {
    if (!skip || performance.now() >= windowStart) addError(error.code ?? error.message)
  })
  await finished
  const ended = factor?.endedAt() ?? performance.now()
  factor?.save()
  return {
    ok,
    errors: Object.values(errorKinds).reduce((a, b) => a + b, 0),
    errorKinds,
    seconds: (ended - windowStart) / 1000,
    rps: (ok * 1000) / (ended - windowStart),
    ...percentiles(latencies, ok),
  }
}

/**
 * LoadSpec.secondFactor: the two requests of each login, and which user and code each one uses
 * (every user's next unused time step, from one before the current to one after).
 */
function secondFactorFlow(flow: NonNullable<LoadSpec['secondFactor']>, stop: () => void) {
  const lastStep: Record<string, number> = existsSync(flow.stateFile)
    ? JSON.parse(readFileSync(flow.stateFile, 'utf8'))
    : {}
  const keys = new Map(flow.users.map((u) => [u.email, base32Decode(u.secret)]))
  const enrolled = new Map(flow.users.map((u) => [u.email, u.lastStep]))
  let cursor = 0
  let started = 0
  let exhaustedAt: number | undefined
  const nextLogin = (): { email: string; code: string } | null => {
    if (started >= flow.maxLogins) return null
    const now = timeStep(Date.now())
    for (let tried = 0; tried < flow.users.length; tried++) {
      const { email } = flow.users[cursor++ % flow.users.length]!
      const step = Math.max(now - 1, (lastStep[email] ?? enrolled.get(email)!) + 1)
      if (step > now + 1) continue
      lastStep[email] = step
      started++
      return { email, code: hotp(keys.get(email)!, step) }
    }
    return null
  }
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  return {
    requests: (done: (status: number, started: number) => void): autocannon.Request[] => [
      {
        method: 'POST',
        path: flow.loginPath,
        headers: form,
        setupRequest: (request: any, context: any) => {
          const login = nextLogin()
          if (!login && exhaustedAt === undefined) {
            exhaustedAt = performance.now() // every user's codes are used up: the run ends here
            stop()
          }
          context.login = login
          context.started = performance.now()
          request.body = new URLSearchParams({ username: login?.email ?? '', password: flow.password }).toString()
          return request
        },
        onResponse: (status: number, body: string, context: any) => {
          context.ticket = status === 400 ? (JSON.parse(body).detail?.ticket ?? '') : ''
        },
      },
      {
        method: 'POST',
        path: flow.codePath,
        headers: { 'content-type': 'application/json' },
        setupRequest: (request: any, context: any) => {
          request.body = JSON.stringify({ ticket: context.ticket ?? '', code: context.login?.code ?? '' })
          return request
        },
        onResponse: (status: number, _body: string, context: any) => {
          if (context.login && exhaustedAt === undefined) done(status, context.started)
        },
      },
    ],
    endedAt: () => exhaustedAt,
    save: () => writeFileSync(flow.stateFile, JSON.stringify(lastStep)),
  }
}

/**
 * wrk with a Lua script: the request (a fresh `{{unique}}` each time when the body has one), the
 * expected status counted apart, and a JSON summary at the end (latency percentiles in µs).
 */
const WRK_SCRIPT = `
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  ok, bad, badStatus, counter = 0, 0, "", 0
  base = wrk.format(METHOD, PATH, HEADERS, BODY)
end
function request()
  if not UNIQUE then return base end
  counter = counter + 1
  local body = BODY:gsub("{{unique}}", RUNID .. "-" .. id .. "-" .. counter)
  return wrk.format(METHOD, PATH, HEADERS, body)
end
function response(status, headers, body)
  if status == EXPECT then ok = ok + 1 else bad = bad + 1; badStatus = tostring(status) end
end
function done(summary, latency, requests)
  local okAll, badAll, statuses = 0, 0, {}
  for _, t in ipairs(threads) do
    okAll = okAll + t:get("ok")
    badAll = badAll + t:get("bad")
    local s = t:get("badStatus")
    if s ~= "" then statuses[#statuses + 1] = s end
  end
  local e = summary.errors
  io.write(string.format(
    '\\nWRK-RESULT {"ok":%d,"bad":%d,"badStatus":"%s","duration":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50":%f,"p90":%f,"p99":%f,"max":%f,"mean":%f}\\n',
    okAll, badAll, table.concat(statuses, ","), summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`

async function withWrk(spec: LoadSpec): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'))
  const lua = (value: string) => JSON.stringify(value) // ASCII JSON strings are valid Lua strings
  const headers = Object.entries(spec.headers ?? {})
    .map(([k, v]) => `[${lua(k)}] = ${lua(v)}`)
    .join(', ')
  const script = join(dir, 'load.lua')
  writeFileSync(
    script,
    [
      `METHOD = ${lua(spec.method)}`,
      `PATH = ${lua(spec.path)}`,
      `HEADERS = { ${headers} }`,
      `BODY = ${spec.body === undefined ? 'nil' : lua(spec.body)}`,
      `UNIQUE = ${spec.body?.includes('{{unique}}') ? 'true' : 'false'}`,
      `RUNID = ${lua(`${process.pid.toString(36)}${Date.now().toString(36)}`)}`,
      `EXPECT = ${spec.expectStatus}`,
      WRK_SCRIPT,
    ].join('\n'),
  )
  try {
    const args = ['-t1', `-c${spec.connections}`, `-d${spec.duration}s`, '--timeout', '30s', '-s', script, spec.url]
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (chunk) => {
        out += chunk
      })
      child.stderr.on('data', (chunk) => {
        out += chunk
      })
      child.on('error', reject)
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exit ${code}: ${out}`))))
    })
    const line = output.split('\n').find((l) => l.startsWith('WRK-RESULT '))
    if (!line) throw new Error(`wrk printed no result: ${output}`)
    const r = JSON.parse(line.slice('WRK-RESULT '.length)) as Record<string, number | string>
    const n = (key: string) => Number(r[key])
    const errorKinds: Record<string, number> = {}
    if (n('bad')) errorKinds[`status ${r['badStatus'] || '?'}`] = n('bad')
    for (const key of ['connect', 'read', 'write', 'timeout']) if (n(key)) errorKinds[key] = n(key)
    const seconds = n('duration') / 1e6
    return {
      ok: n('ok'),
      errors: Object.values(errorKinds).reduce((a, b) => a + b, 0),
      errorKinds,
      seconds,
      rps: n('ok') / seconds,
      p50: n('p50') / 1000,
      p90: n('p90') / 1000,
      p99: n('p99') / 1000,
      max: n('max') / 1000,
      mean: n('mean') / 1000,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec
  const result = await runLoad(spec)
  process.stdout.write(`${JSON.stringify(result)}\n`)
}
