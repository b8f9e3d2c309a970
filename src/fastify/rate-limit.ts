import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import { parse as parseCookie, serialize as serializeCookie } from 'cookie'
import type { FastifyRequest, onRequestAsyncHookHandler, preHandlerAsyncHookHandler } from 'fastify'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible'
import { ServiceUnavailable } from '../core/errors.js'
import { loginNameKey } from '../core/identifiers.js'
import type { Database } from '../stores/kysely/database.js'
import { DatabaseRateLimiter } from '../stores/kysely/rate-limit-store.js'
import { HttpError } from './errors.js'
import { type ErrorDoc, errors } from './route-docs.js'

/** The routes that carry a limit; every auth backend's /login shares `login`. */
export type RateLimitedAction =
  | 'login'
  | 'refresh'
  | 'register'
  | 'forgotPassword'
  | 'requestVerifyToken'
  | 'resetPassword'
  | 'verify'
  | 'changeCredentials'

/** The actions that name an account in their body (`email`), counted per account too. */
export type AccountAction = 'register' | 'forgotPassword' | 'requestVerifyToken'

/** At most `points` requests in `durationSeconds`, counted from the first one (a fixed window). */
export interface RateWindow {
  points: number
  durationSeconds: number
}

/** Progressive back-off of failed logins on one account, whatever the client address or backend. */
export interface LoginLockout {
  /** Failures answered at once; from then on each attempt waits for the previous one's delay. */
  freeAttempts: number
  /** The first delay; each further failure doubles it… */
  baseDelaySeconds: number
  /** …up to this cap, so a lock-out is always temporary. */
  maxDelaySeconds: number
  /** How long failures are remembered (from the first one); a successful login forgets them at once. */
  windowSeconds: number
}

export interface RateLimits {
  /** Requests per client address (IPv6 by /64) to each limited action, checked before the body is read. */
  perIp: Record<RateLimitedAction, RateWindow>
  /** Requests naming one e-mail address, per action (register, forgot-password, request-verify-token). */
  perAccount: RateWindow
  /** Failed logins per client address, any account; a successful login does not reset them. */
  loginFailuresPerIp: RateWindow
  lockout: LoginLockout
}

/** An ioredis client, typed by what the limiter reads, so that apps without Redis need no ioredis types. */
type Redis = { readonly status: string }

/**
 * Where counters live: this process's memory (one process only), Redis, or the `rate_limit` table
 * of the service's database (migration 0007): with either of the last two, every process and
 * instance counts together.
 */
export type RateLimitStore =
  | 'memory'
  /** `fallback`: where the routes other than login count while Redis is unreachable (default: this process's memory). */
  | { redis: Redis; keyPrefix?: string; fallback?: Database }
  | { database: Database; keyPrefix?: string }

/**
 * Device cookies (OWASP's "Slow Down Online Guessing Attacks with Device Cookies"): a client that
 * has signed in to an account receives a signed cookie naming that account; with it, its failed
 * logins count against its own allowance (the lock-out's policy, per device) instead of the
 * account's, so an attacker who locks the account out does not lock its owner out.
 */
export interface DeviceCookieOptions {
  /** Signs the cookies (HMAC-SHA256); the service's secret. */
  secret: string
  /** Default `fastapiusersdevice`. */
  name?: string
  /** Default 365 days. */
  maxAgeSeconds?: number
  /** Default true. */
  secure?: boolean
  /** Default `/`: sent to every backend's login. */
  path?: string
}

export interface RateLimitOptions {
  /**
   * Where counters live (default this process's memory): Redis, or the database's `rate_limit`
   * table, so that every process and instance shares them. Whenever the Redis client is not
   * connected (also before its first connection is ready), login fails closed (503) and the other
   * routes fall back to the `fallback` database, or to per-process counters without one.
   */
  store?: RateLimitStore
  /** Trusted devices keep their own allowance of failed logins; without this option every client is untrusted. */
  deviceCookies?: DeviceCookieOptions
  limits?: {
    perIp?: Partial<Record<RateLimitedAction, RateWindow>>
    perAccount?: RateWindow
    loginFailuresPerIp?: RateWindow
    lockout?: Partial<LoginLockout>
  }
}

const MINUTE = 60
const HOUR = 3600

export const DEFAULT_RATE_LIMITS: RateLimits = {
  perIp: {
    login: { points: 30, durationSeconds: MINUTE },
    refresh: { points: 30, durationSeconds: MINUTE },
    register: { points: 30, durationSeconds: MINUTE },
    forgotPassword: { points: 30, durationSeconds: MINUTE },
    requestVerifyToken: { points: 30, durationSeconds: MINUTE },
    resetPassword: { points: 30, durationSeconds: MINUTE },
    verify: { points: 30, durationSeconds: MINUTE },
    changeCredentials: { points: 30, durationSeconds: MINUTE },
  },
  perAccount: { points: 5, durationSeconds: HOUR },
  loginFailuresPerIp: { points: 100, durationSeconds: 15 * MINUTE },
  lockout: { freeAttempts: 5, baseDelaySeconds: 1, maxDelaySeconds: 15 * MINUTE, windowSeconds: 24 * HOUR },
}

/** One failed or successful password check, counted before the check so parallel attempts cannot race past. */
export interface LoginAttempt {
  /**
   * The password was right: the failures this attempt counted against (the account's, or a trusted
   * device's own) are forgotten, the address keeps its own. Returns the Set-Cookie value of a fresh
   * device cookie when device cookies are on.
   */
  succeeded(): Promise<string | undefined>
  /** The check could not run (a store outage): the attempt is not held against anyone. */
  abandoned(): Promise<void>
}

type Limiter = RateLimiterMemory | RateLimiterRedis | DatabaseRateLimiter | FallbackLimiter

/** Redis first; whenever it fails (not a refusal), the database's shared counters instead. */
class FallbackLimiter {
  constructor(
    private readonly primary: RateLimiterRedis,
    private readonly secondary: DatabaseRateLimiter,
  ) {}

  consume(key: string, points?: number, options?: { customDuration: number }): Promise<RateLimiterRes> {
    return this.primary.consume(key, points, options).catch((error: unknown) => {
      if (error instanceof RateLimiterRes) throw error
      return this.secondary.consume(key, points, options)
    })
  }

  penalty(key: string, points?: number): Promise<RateLimiterRes> {
    return this.primary.penalty(key, points).catch(() => this.secondary.penalty(key, points))
  }

  reward(key: string, points?: number): Promise<RateLimiterRes> {
    return this.primary.reward(key, points).catch(() => this.secondary.reward(key, points))
  }

  delete(key: string): Promise<boolean> {
    return this.primary.delete(key).catch(() => this.secondary.delete(key))
  }
}

/**
 * Told of each login attempt the lock-out refuses (429 before any password check): `account` when the
 * account's (or a trusted device's) progressive delay refused it, `address` when the client address
 * failed too many logins. `username` is the account name the attempt counted against.
 */
export type LockoutListener = (
  request: FastifyRequest,
  username: string,
  scope: 'account' | 'address',
) => void | Promise<void>

/**
 * Rate limits and brute-force lock-out for the routes of FastifyUsers. Routers attach
 * `perIp(action)` to each limited route (so every path Fastify routes there is counted, never
 * a raw URL string), `perAccount(action)` after validation, and wrap the password check in
 * `beginLogin`. Over a limit: 429 `{"detail":"TOO_MANY_REQUESTS"}` with Retry-After.
 */
export class AuthRateLimiter {
  readonly limits: RateLimits
  private readonly perIpLimiters: Record<RateLimitedAction, Limiter>
  private readonly perAccountLimiter: Limiter
  private readonly ipFailures: Limiter
  private readonly accountFailures: Limiter
  private readonly accountGate: Limiter
  private readonly devices: Required<DeviceCookieOptions> | undefined
  private readonly lockoutListeners: LockoutListener[] = []

  constructor(options: RateLimitOptions = {}) {
    const { limits = {} } = options
    this.limits = {
      perIp: { ...DEFAULT_RATE_LIMITS.perIp, ...limits.perIp },
      perAccount: limits.perAccount ?? DEFAULT_RATE_LIMITS.perAccount,
      loginFailuresPerIp: limits.loginFailuresPerIp ?? DEFAULT_RATE_LIMITS.loginFailuresPerIp,
      lockout: { ...DEFAULT_RATE_LIMITS.lockout, ...limits.lockout },
    }
    checkLimits(this.limits)
    const store = options.store ?? 'memory'
    const devices = options.deviceCookies
    if (devices && !devices.secret) throw new TypeError('rate limits: deviceCookies.secret is required')
    this.devices = devices && {
      name: 'fastapiusersdevice',
      maxAgeSeconds: 365 * 24 * HOUR,
      secure: true,
      path: '/',
      ...devices,
    }
    // Login's limiters have no fallback: without their counters, login is refused (fail closed).
    const make = (name: string, window: RateWindow, fallback: boolean): Limiter => {
      const base = { points: window.points, duration: window.durationSeconds }
      if (store === 'memory') return new RateLimiterMemory({ ...base, keyPrefix: name })
      if ('database' in store) {
        const keyPrefix = `${store.keyPrefix ?? 'fastify-users'}:${name}`
        return new DatabaseRateLimiter(store.database, { keyPrefix, ...window })
      }
      if (fallback && store.fallback) {
        const keyPrefix = `${store.keyPrefix ?? 'fastify-users:rate-limit'}:${name}`
        const redis = new RateLimiterRedis({
          ...base,
          storeClient: store.redis,
          keyPrefix,
          rejectIfRedisNotReady: true,
        })
        return new FallbackLimiter(redis, new DatabaseRateLimiter(store.fallback, { keyPrefix, ...window }))
      }
      return new RateLimiterRedis({
        ...base,
        storeClient: store.redis,
        keyPrefix: `${store.keyPrefix ?? 'fastify-users:rate-limit'}:${name}`,
        // A client that is not connected fails at once rather than queueing each request behind reconnects.
        rejectIfRedisNotReady: true,
        insuranceLimiter: fallback ? new RateLimiterMemory({ ...base, keyPrefix: `fallback:${name}` }) : undefined,
      })
    }
    const { perIp, perAccount, loginFailuresPerIp, lockout } = this.limits
    this.perIpLimiters = Object.fromEntries(
      Object.entries(perIp).map(([action, window]) => [action, make(`ip:${action}`, window, action !== 'login')]),
    ) as Record<RateLimitedAction, Limiter>
    this.perAccountLimiter = make('account', perAccount, true)
    this.ipFailures = make('login-failures:ip', loginFailuresPerIp, false)
    const failureMemory = { points: Number.MAX_SAFE_INTEGER, durationSeconds: lockout.windowSeconds }
    this.accountFailures = make('login-failures:account', failureMemory, false)
    // One admission per delay: the first attempt creates the key (atomically), the others find it taken.
    this.accountGate = make('login-gate:account', { points: 1, durationSeconds: lockout.maxDelaySeconds }, false)
  }

  /** An onRequest hook counting the client address's requests to this action. */
  perIp(action: RateLimitedAction): onRequestAsyncHookHandler {
    const limiter = this.perIpLimiters[action]
    return async (request) => {
      await take(limiter, clientKey(request.ip), action === 'login')
    }
  }

  /** A preHandler hook counting requests naming the body's `email` (already validated). */
  perAccount(action: AccountAction): preHandlerAsyncHookHandler {
    return async (request) => {
      const email = (request.body as { email?: unknown } | undefined)?.email
      if (typeof email !== 'string') return
      await take(this.perAccountLimiter, `${action}:${accountKey(email)}`, false)
    }
  }

  /**
   * Counts a login attempt as a failure for the client address and the account before the
   * password is checked, refusing it (429) when either is over its limit; `succeeded()` then
   * takes the failure back. Any store error is a 503: login never runs unlimited.
   */
  async beginLogin(request: FastifyRequest, username: string): Promise<LoginAttempt> {
    const ip = clientKey(request.ip)
    const account = accountKey(username)
    // A trusted device (its cookie names this account) is its own lock-out key; any other client shares the account's.
    const device = this.trustedDevice(request, account)
    const key = device === undefined ? account : `device:${device}`
    try {
      await take(this.ipFailures, ip, true)
    } catch (error) {
      await this.lockedOut(error, request, username, 'address')
      throw error
    }
    try {
      await this.admitAccount(key)
    } catch (error) {
      await this.ipFailures.reward(ip).catch(() => {})
      await this.lockedOut(error, request, username, 'account')
      throw error
    }
    return {
      succeeded: async () => {
        await failClosed(() =>
          Promise.all([this.ipFailures.reward(ip), this.accountFailures.delete(key), this.accountGate.delete(key)]),
        )
        return this.devices && this.deviceCookie(account)
      },
      abandoned: async () => {
        await Promise.allSettled([this.ipFailures.reward(ip), this.accountFailures.reward(key)])
      },
    }
  }

  /** Registers a listener of the login attempts the lock-out refuses (FastifyUsers' audit log: `login.locked`). */
  onLockout(listener: LockoutListener): void {
    this.lockoutListeners.push(listener)
  }

  private async lockedOut(error: unknown, request: FastifyRequest, username: string, scope: 'account' | 'address') {
    if (!(error instanceof HttpError) || error.statusCode !== 429) return
    for (const listener of this.lockoutListeners) {
      try {
        await listener(request, username, scope)
      } catch (err) {
        request.log.error({ err }, 'lock-out listener failed')
      }
    }
  }

  /**
   * A preHandler for PATCH /users/me (after authentication and validation): a change of e-mail
   * address or password is counted per client address, per user, and per new address (each change
   * of address mails a notice: no address receives more than the per-account limit of them).
   */
  credentialChange(userId: (request: FastifyRequest) => string | undefined): preHandlerAsyncHookHandler {
    const perIp = this.perIpLimiters.changeCredentials
    return async (request) => {
      const body = request.body as { email?: unknown; password?: unknown } | undefined
      const email = typeof body?.email === 'string' ? body.email : undefined
      if (email === undefined && body?.password === undefined) return
      await take(perIp, clientKey(request.ip), false)
      const id = userId(request)
      if (id !== undefined) await take(this.perAccountLimiter, `changeCredentials:${id}`, false)
      if (email !== undefined) await take(this.perAccountLimiter, `newEmail:${accountKey(email)}`, false)
    }
  }

  /** The nonce of the request's device cookie when it is valid, unexpired and names this account. */
  private trustedDevice(request: FastifyRequest, account: string): string | undefined {
    const devices = this.devices
    const header = request.headers.cookie
    if (!devices || !header) return undefined
    const value = parseCookie(header)[devices.name]
    const [nonce, issued, signature, extra] = value?.split('.') ?? []
    if (!nonce || !issued || !signature || extra !== undefined || !/^\d{1,12}$/.test(issued)) return undefined
    if (Number(issued) + devices.maxAgeSeconds <= Date.now() / 1000) return undefined
    const expected = Buffer.from(this.signDevice(account, nonce, issued))
    const given = Buffer.from(signature)
    return given.length === expected.length && timingSafeEqual(given, expected) ? nonce : undefined
  }

  private signDevice(account: string, nonce: string, issued: string): string {
    const secret = this.devices?.secret ?? ''
    return createHmac('sha256', secret).update(`device-cookie:${account}:${nonce}:${issued}`).digest('base64url')
  }

  /** A fresh device cookie for the account (a new nonce: a new allowance of its own). */
  private deviceCookie(account: string): string | undefined {
    const devices = this.devices
    if (!devices) return undefined
    const nonce = randomBytes(16).toString('base64url')
    const issued = String(Math.floor(Date.now() / 1000))
    return serializeCookie(devices.name, `${nonce}.${issued}.${this.signDevice(account, nonce, issued)}`, {
      path: devices.path,
      secure: devices.secure,
      httpOnly: true,
      sameSite: 'strict',
      maxAge: devices.maxAgeSeconds,
    })
  }

  /** Counts a failure on the account; past the free attempts, only one attempt per delay gets through. */
  private async admitAccount(account: string): Promise<void> {
    const { freeAttempts, baseDelaySeconds, maxDelaySeconds } = this.limits.lockout
    const { consumedPoints: failures } = await failClosed(() => this.accountFailures.penalty(account))
    if (failures < freeAttempts) return
    const delay = Math.min(baseDelaySeconds * 2 ** (failures - freeAttempts), maxDelaySeconds)
    try {
      await take(this.accountGate, account, true, { customDuration: Math.ceil(delay) })
    } catch (error) {
      // Refused without a check: not a failure, so waiting out the delay is enough.
      await this.accountFailures.reward(account).catch(() => {})
      throw error
    }
  }
}

/** Consumes a point: over the limit is a 429 with Retry-After; a store error is a 503 where `closed`. */
async function take(limiter: Limiter, key: string, closed: boolean, options?: { customDuration: number }) {
  try {
    return await limiter.consume(key, 1, options)
  } catch (error) {
    if (error instanceof RateLimiterRes) throw tooManyRequests(error.msBeforeNext)
    if (closed) throw new ServiceUnavailable('rate limiter store unavailable', { cause: error })
    throw error
  }
}

async function failClosed<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw new ServiceUnavailable('rate limiter store unavailable', { cause: error })
  }
}

export function tooManyRequests(msBeforeNext: number): HttpError {
  const seconds = Math.max(1, Math.ceil(msBeforeNext / 1000))
  return new HttpError(429, 'TOO_MANY_REQUESTS', { 'retry-after': String(seconds) })
}

/**
 * The rate-limit key of a client address: IPv4 as it is (also when IPv4-mapped), IPv6 by its
 * /64, since one host usually holds a whole /64.
 */
export function clientKey(ip: string): string {
  const address = ip.replace(/%.*$/, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1]
  if (!isIPv6(address)) return address
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`
}

function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('::')
  const groups = (part: string) => part.split(':').filter(Boolean).flatMap(ipv4AsGroups)
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const zeros = Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16).toString(16))
}

function ipv4AsGroups(group: string): string[] {
  if (!group.includes('.')) return [group]
  const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number)
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)]
}

/**
 * The rate-limit key of an account: the core's e-mail normalisation, lower-cased (as the store
 * matches addresses), or a username's identifier key (`loginNameKey`), hashed so no address is
 * kept in the limiter's store.
 */
export function accountKey(identifier: string): string {
  return createHash('sha256').update(loginNameKey(identifier)).digest('base64url')
}

function checkLimits(limits: RateLimits) {
  const windows = [...Object.values(limits.perIp), limits.perAccount, limits.loginFailuresPerIp]
  for (const w of windows) {
    if (!(Number.isInteger(w.points) && w.points >= 1 && Number.isInteger(w.durationSeconds) && w.durationSeconds >= 1))
      throw new TypeError('rate limits: points and durationSeconds must be whole numbers of at least 1')
  }
  const { freeAttempts, baseDelaySeconds, maxDelaySeconds, windowSeconds } = limits.lockout
  if (!(Number.isInteger(freeAttempts) && freeAttempts >= 1))
    throw new TypeError('rate limits: lockout.freeAttempts must be a whole number of at least 1')
  if (!(baseDelaySeconds >= 1 && maxDelaySeconds >= baseDelaySeconds && windowSeconds >= 1))
    throw new TypeError('rate limits: lockout needs 1 <= baseDelaySeconds <= maxDelaySeconds and windowSeconds >= 1')
}

/**
 * What a router spreads into a limited route's options: the per-address hook (before the body is
 * read), the per-account hook (after validation) and the 429 in the route's docs. Nothing without a limiter.
 */
export function rateLimited(
  limiter: AuthRateLimiter | undefined,
  action: RateLimitedAction,
  account?: AccountAction,
): { onRequest: onRequestAsyncHookHandler[]; preHandler: preHandlerAsyncHookHandler[]; errors: ErrorDoc[] } {
  if (!limiter) return { onRequest: [], preHandler: [], errors: [] }
  return {
    onRequest: [limiter.perIp(action)],
    preHandler: account ? [limiter.perAccount(account)] : [],
    errors: [errors.tooManyRequests],
  }
}
