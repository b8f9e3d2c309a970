/**
 * The physical limit of the password routes: how many password hashes (or verifications) per
 * second this process does, with `concurrency` of them in flight at once on libuv's thread pool,
 * as the server's routes do. The bench runs it as it runs the server: pinned to the server's
 * core(s), with the server's environment (so the same UV_THREADPOOL_SIZE and node flags), while the
 * server idles. argv[2] is a HashRateSpec as JSON; prints one HashRateResult as JSON.
 *
 * - argon2id: the service's own hasher (server/passwords.ts: the parameters and the concurrency
 *   bound that the service reads from that environment, the same @node-rs/argon2 calls).
 * - scrypt: Better Auth's parameters (N=16384, r=16, p=1, 64 bytes, node:crypto), for its routes.
 *
 * A warm-up first (the thread pool's threads start, each one's allocator gets its 19 MiB blocks),
 * then `rounds` timed rounds: the rate is their median, the spread half their range over it, and
 * each round records how much CPU other processes used meanwhile (they share the pinned core:
 * taskset pins this process, not theirs).
 */
import { randomBytes, scrypt } from 'node:crypto'
import { createPasswordHasher } from 'fastify-users'
import { loadConfig } from '../../server/config.js'
import { servicePasswordHasher } from '../../server/passwords.js'
import { machineBusySeconds } from './proc.js'
import { median } from './stats.js'

export interface HashRateSpec {
  algorithm: 'argon2id' | 'scrypt'
  operation: 'hash' | 'verify'
  concurrency: number
  /** Timed rounds, and seconds each. */
  rounds: number
  roundSeconds: number
  /** Seconds of the same work before the first round, not counted. */
  warmupSeconds: number
  /**
   * This process runs with the server's environment: the service's hasher is built from it
   * (argon2id), as the server builds it. Unset: the library's defaults.
   */
  asServer?: boolean
}

export interface HashRateRound {
  rate: number
  /** Mean milliseconds for one operation, as the caller waits for it. */
  meanMs: number
  /** Cores other processes kept busy during the round (noise on the shared cores). */
  otherCpu: number
}

export interface HashRateResult extends HashRateSpec {
  /** The median of the rounds' rates. */
  rate: number
  /** Half the range of the rounds' rates, as a fraction of the median: 0.02 = ±2 %. */
  spread: number
  meanMs: number
  rounds: number
  perRound: HashRateRound[]
  /** libuv's thread pool size in this process (UV_THREADPOOL_SIZE, default 4). */
  threadPool: number
  /** The argon2id parameters measured. */
  params?: string
}

const PASSWORD = 'correct horse battery staple'
const SCRYPT = { N: 16384, r: 16, p: 1, maxmem: 128 * 16384 * 16 * 2 }

function scryptKey(password: string, salt: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, 64, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

async function operationFor(spec: HashRateSpec): Promise<{ run: () => Promise<unknown>; params?: string }> {
  if (spec.algorithm === 'argon2id') {
    const hasher = spec.asServer ? servicePasswordHasher(loadConfig(process.env)) : createPasswordHasher()
    const stored = await hasher.hash(PASSWORD)
    const params = stored.split('$').slice(1, 4).join(' ')
    if (spec.operation === 'hash') return { run: () => hasher.hash(PASSWORD), params }
    return {
      params,
      run: async () => {
        if (!(await hasher.verify(PASSWORD, stored)).valid) throw new Error('argon2id verification failed')
      },
    }
  }
  if (spec.operation === 'hash') return { run: () => scryptKey(PASSWORD, randomBytes(16).toString('hex')) }
  const salt = randomBytes(16).toString('hex')
  const key = (await scryptKey(PASSWORD, salt)).toString('hex')
  return {
    run: async () => {
      if ((await scryptKey(PASSWORD, salt)).toString('hex') !== key) throw new Error('scrypt verification failed')
    },
  }
}

/** `concurrency` loops of `operation` for `seconds`. */
async function timed(operation: () => Promise<unknown>, concurrency: number, seconds: number): Promise<HashRateRound> {
  let count = 0
  let waited = 0
  const busy0 = machineBusySeconds()
  const own0 = process.cpuUsage()
  const started = performance.now()
  const deadline = started + seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      await operation()
      waited += performance.now() - t0
      count++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (performance.now() - started) / 1000
  const own = process.cpuUsage(own0)
  const others = machineBusySeconds() - busy0 - (own.user + own.system) / 1e6
  return { rate: count / elapsed, meanMs: count ? waited / count : 0, otherCpu: Math.max(0, others / elapsed) }
}

export async function measureHashRate(spec: HashRateSpec): Promise<HashRateResult> {
  const { run, params } = await operationFor(spec)
  if (spec.warmupSeconds > 0) await timed(run, spec.concurrency, spec.warmupSeconds)
  const perRound: HashRateRound[] = []
  for (let round = 0; round < spec.rounds; round++) perRound.push(await timed(run, spec.concurrency, spec.roundSeconds))
  const rates = perRound.map((r) => r.rate)
  const rate = median(rates)
  return {
    ...spec,
    rate,
    spread: rate > 0 ? (Math.max(...rates) - Math.min(...rates)) / 2 / rate : 0,
    meanMs: median(perRound.map((r) => r.meanMs)),
    perRound,
    threadPool: Number(process.env.UV_THREADPOOL_SIZE) || 4,
    ...(params && { params }),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as HashRateSpec
  process.stdout.write(`${JSON.stringify(await measureHashRate(spec))}\n`)
}
