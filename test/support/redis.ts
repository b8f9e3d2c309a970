import { Redis } from 'ioredis'

/** The Redis the session suites use; a database index of its own keeps them out of other data. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/9'

/**
 * The URL of a reachable Redis. Where it is unreachable: under CI=true the error is thrown (the
 * test fails, never skips); elsewhere null, and the caller skips loudly, as with the databases.
 */
export async function testRedisUrl(): Promise<string | null> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  redis.on('error', () => {}) // reported below
  try {
    await redis.connect()
    const pong = await redis.ping()
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`)
    return REDIS_URL
  } catch (error) {
    if (process.env.CI === 'true') {
      throw new Error(
        `Redis is required under CI=true but is not reachable at ${REDIS_URL}: ${(error as Error).message}`,
      )
    }
    return null
  } finally {
    redis.disconnect()
  }
}

/** A client of the test Redis, to look at the keys a service wrote. */
export function openRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1 })
}
