import type { FastifyInstance } from 'fastify'
import { AuthRateLimiter } from 'fastify-users'
import type { Database } from 'fastify-users/kysely'
import type { RedisClient } from './backends.js'
import type { Config } from './config.js'

/**
 * The reference service's rate limits (RATE_LIMIT, on by default): counters in Redis (the
 * service's client, `openRedis`) when REDIS_URL is set, otherwise in the database's `rate_limit`
 * table: never one process's memory, so every worker (WEB_CONCURRENCY) and instance counts
 * together. While that Redis is unreachable, login answers 503 (fail closed); the other limited
 * routes count in the database meanwhile. Device cookies (signed with SECRET) give clients that have
 * signed in before their own allowance of failed logins.
 */
export function createRateLimiter(
  config: Config,
  stores: { redis: RedisClient | undefined; database: Database },
  app: FastifyInstance,
): AuthRateLimiter | undefined {
  const { redis, database } = stores
  const limits = config.rateLimit
  if (!limits) return undefined
  const window = { points: limits.ipRequests, durationSeconds: limits.ipWindowSeconds }
  const options = {
    limits: {
      perIp: {
        login: window,
        refresh: window,
        register: window,
        forgotPassword: window,
        requestVerifyToken: window,
        resetPassword: window,
        verify: window,
        changeCredentials: window,
      },
      perAccount: { points: limits.accountRequests, durationSeconds: limits.accountWindowSeconds },
      loginFailuresPerIp: { points: limits.loginIpFailures, durationSeconds: limits.loginIpFailureWindowSeconds },
      lockout: {
        freeAttempts: limits.loginFreeAttempts,
        maxDelaySeconds: limits.loginLockoutMaxSeconds,
        baseDelaySeconds: Math.min(1, limits.loginLockoutMaxSeconds),
        windowSeconds: limits.loginFailureWindowSeconds,
      },
    },
    deviceCookies: { secret: config.secret, secure: config.cookieSecure },
  }
  if (!redis) return new AuthRateLimiter({ ...options, store: { database, keyPrefix: limits.redisKeyPrefix } })
  // Login answers 503 until the connection is ready: wait for it at start (not forever: Redis may be down).
  app.addHook('onReady', async () => {
    if (redis.status === 'ready') return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.redisTimeoutMs)
      redis.once('ready', () => resolve(clearTimeout(timer)))
    })
  })
  return new AuthRateLimiter({ ...options, store: { redis, keyPrefix: limits.redisKeyPrefix, fallback: database } })
}

/** TRUST_PROXY as Fastify takes it (its types have no hop count: a count is a function of the hop). */
export function trustProxyOption(config: Config): boolean | string[] | ((address: string, hop: number) => boolean) {
  const trust = config.trustProxy
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust
}
