/**
 * The physical limit of the password routes: how many password hashes (or verifications) per
 * second this process does, with `concurrency` of them in flight at once on libuv's thread pool,
 * as the server's routes do. The bench runs it pinned to the server's core(s), while the server
 * idles. argv[2] is a HashRateSpec as JSON; prints one HashRateResult as JSON.
 *
 * - argon2id: fastify-users' own `createPasswordHasher()` (the parameters the routes use).
 * - scrypt: Better Auth's parameters (N=16384, r=16, p=1, 64 bytes, node:crypto), for its routes.
 */
import { randomBytes, scrypt } from 'node:crypto'
import { createPasswordHasher } from 'fastify-users'

export interface HashRateSpec {
  algorithm: 'argon2id' | 'scrypt'
  operation: 'hash' | 'verify'
  seconds: number
  concurrency: number
}

export interface HashRateResult extends HashRateSpec {
  count: number
  elapsed: number
  rate: number
  /** Mean milliseconds for one operation, as the caller waits for it. */
  meanMs: number
}

const PASSWORD = 'correct horse battery staple'
const SCRYPT = { N: 16384, r: 16, p: 1, maxmem: 128 * 16384 * 16 * 2 }

function scryptKey(password: string, salt: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, 64, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

async function operationFor(spec: HashRateSpec): Promise<() => Promise<unknown>> {
  if (spec.algorithm === 'argon2id') {
    const hasher = createPasswordHasher()
    if (spec.operation === 'hash') return () => hasher.hash(PASSWORD)
    const stored = await hasher.hash(PASSWORD)
    return async () => {
      if (!(await hasher.verify(PASSWORD, stored)).valid) throw new Error('argon2id verification failed')
    }
  }
  if (spec.operation === 'hash') return () => scryptKey(PASSWORD, randomBytes(16).toString('hex'))
  const salt = randomBytes(16).toString('hex')
  const key = (await scryptKey(PASSWORD, salt)).toString('hex')
  return async () => {
    if ((await scryptKey(PASSWORD, salt)).toString('hex') !== key) throw new Error('scrypt verification failed')
  }
}

export async function measureHashRate(spec: HashRateSpec): Promise<HashRateResult> {
  const operation = await operationFor(spec)
  await Promise.all(Array.from({ length: spec.concurrency }, () => operation())) // warm the thread pool
  let count = 0
  let waited = 0
  const started = performance.now()
  const deadline = started + spec.seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      await operation()
      waited += performance.now() - t0
      count++
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker))
  const elapsed = (performance.now() - started) / 1000
  return { ...spec, count, elapsed, rate: count / elapsed, meanMs: count ? waited / count : 0 }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as HashRateSpec
  process.stdout.write(`${JSON.stringify(await measureHashRate(spec))}\n`)
}
