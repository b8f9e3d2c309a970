import { availableParallelism } from 'node:os'
import { hash as argon2Hash, parseOptions as argon2Params, verify as argon2Verify } from '@node-rs/argon2'
import { hash as bcryptHash, parseOptions as bcryptParams, verify as bcryptVerify } from '@node-rs/bcrypt'

/** argon2id parameters. The default is OWASP's first recommendation (19 MiB, 2 passes, 1 lane). */
export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19456, timeCost: 2, parallelism: 1 }

/** Longest password we hash, counted in code points: bounds the work a request can cause. */
export const MAX_PASSWORD_LENGTH = 4096

export interface PasswordCheck {
  valid: boolean
  /** Set when the password was right but its hash is outdated (bcrypt, other argon2 parameters). */
  upgradedHash?: string
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  verify(password: string, storedHash: string): Promise<PasswordCheck>
  /** Whether the password matches, without computing an upgraded hash. */
  matches(password: string, storedHash: string): Promise<boolean>
  /** Costs what a real verification costs, for users that do not exist. */
  verifyDummy(password: string): Promise<void>
  /** The queue in front of the hashing threads, for metrics (createPasswordHasher's hashers have one). */
  readonly queue?: HashQueueStats
}

export interface HasherOptions {
  /**
   * The scheme of new hashes (fastapi-users' `PasswordHelper`). `argon2id` (the default) with the
   * parameters given; `bcrypt` writes `$2b$` hashes with `bcryptRounds`, as passlib does, so that an
   * old Python service still reads them during a migration's overlap (bcrypt reads only a password's
   * first 72 bytes). Hashes of the other scheme, or with other parameters, verify and are re-hashed
   * to this one at the next successful login.
   */
  algorithm?: PasswordAlgorithm
  /** bcrypt's cost (log2 rounds), 4 to 31. Default 12, passlib's. */
  bcryptRounds?: number
  /**
   * Hashes computed at once; the rest wait in line (FIFO). Default: the cores this process may
   * run on (os.availableParallelism(), which honours taskset/cgroup affinity). More than that
   * only makes every hash slower and takes the event loop's core away from other requests.
   */
  concurrency?: number
}

/**
 * What a hash queue tells an observer (the metrics plugin): how many hashes run and wait now, and
 * each hash's wait for its slot. Kept free of any metrics library.
 */
export interface HashQueueStats {
  /** Hashes computing now. */
  readonly running: number
  /** Hashes waiting for a slot now (the queue's depth). */
  readonly waiting: number
  /** Called with each hash's wait for its slot, in seconds (0 when a slot was free). Returns the unsubscribe. */
  onWait(listener: (seconds: number) => void): () => void
}

/** A function that runs a task when a slot is free, with its queue's figures. */
export type BoundedRunner = (<T>(task: () => Promise<T>) => Promise<T>) & { readonly stats: HashQueueStats }

/** Runs at most `n` tasks at once, the others in arrival order. */
export function bounded(n: number): BoundedRunner {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('password hashing concurrency must be a positive integer')
  let running = 0
  const waiting: (() => void)[] = []
  const listeners = new Set<(seconds: number) => void>()
  const waited = (seconds: number) => {
    for (const listener of listeners) listener(seconds)
  }
  // a finished task hands its slot straight to the next in line, so no newcomer can slip in between
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else running--
  }
  const run = async <T>(task: () => Promise<T>): Promise<T> => {
    if (running < n) {
      running++
      if (listeners.size > 0) waited(0)
    } else {
      const queued = performance.now()
      await new Promise<void>((resolve) => waiting.push(resolve))
      if (listeners.size > 0) waited((performance.now() - queued) / 1000)
    }
    try {
      return await task()
    } finally {
      release()
    }
  }
  const stats: HashQueueStats = {
    get running() {
      return running
    },
    get waiting() {
      return waiting.length
    },
    onWait(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
  return Object.assign(run, { stats })
}

export type PasswordAlgorithm = 'argon2id' | 'bcrypt'

/** passlib's bcrypt cost, and fastapi-users'. */
export const DEFAULT_BCRYPT_ROUNDS = 12

const ARGON2ID = 2 // Algorithm.Argon2id (a const enum the isolated-module build cannot import)

/**
 * fastapi-users' `PasswordHelper`: argon2id for every new hash by default (or bcrypt, see
 * `HasherOptions.algorithm`); argon2 (any variant) and bcrypt ($2a/$2b/$2y, as passlib
 * wrote them for fastapi-users) are verified. The native work runs on libuv's thread pool,
 * never on the event loop.
 */
export function createPasswordHasher(
  params: Argon2Params = OWASP_ARGON2ID,
  {
    concurrency = availableParallelism(),
    algorithm = 'argon2id',
    bcryptRounds = DEFAULT_BCRYPT_ROUNDS,
  }: HasherOptions = {},
): PasswordHasher {
  if (algorithm !== 'argon2id' && algorithm !== 'bcrypt')
    throw new TypeError(`createPasswordHasher: unknown algorithm "${String(algorithm)}"`)
  if (!Number.isInteger(bcryptRounds) || bcryptRounds < 4 || bcryptRounds > 31)
    throw new TypeError('createPasswordHasher: `bcryptRounds` must be a whole number from 4 to 31')
  const options = { ...params, algorithm: ARGON2ID }
  const limit = bounded(concurrency)
  let dummyHash: Promise<string> | undefined

  const hash = (password: string) =>
    limit(() =>
      algorithm === 'bcrypt'
        ? bcryptHash(password, { cost: bcryptRounds, version: '2b' })
        : argon2Hash(password, options),
    )

  const isCurrent = (storedHash: string): boolean => {
    if (algorithm === 'bcrypt') {
      if (!storedHash.startsWith('$2b$')) return false
      try {
        return bcryptParams(storedHash).cost === bcryptRounds
      } catch {
        return false
      }
    }
    if (!storedHash.startsWith('$argon2id$')) return false
    const p = argon2Params(storedHash)
    return p.memoryCost === params.memoryCost && p.timeCost === params.timeCost && p.parallelism === params.parallelism
  }

  const check = async (password: string, storedHash: string): Promise<boolean> => {
    if (storedHash.startsWith('$argon2')) return limit(() => argon2Verify(storedHash, password)).catch(() => false)
    if (/^\$2[aby]\$/.test(storedHash)) return limit(() => bcryptVerify(password, storedHash))
    return false
  }

  return {
    hash,
    queue: limit.stats,
    async verify(password, storedHash) {
      if (!(await check(password, storedHash))) return { valid: false }
      if (isCurrent(storedHash)) return { valid: true }
      return { valid: true, upgradedHash: await hash(password) }
    },
    matches: check,
    async verifyDummy(password) {
      dummyHash ??= hash('fastify-users dummy password')
      await check(password, await dummyHash)
    },
  }
}

/** Code points, not UTF-16 units: seven emoji are seven characters, as in Python. */
export function passwordLength(password: string): number {
  let count = 0
  for (const _ of password) count++
  return count
}
