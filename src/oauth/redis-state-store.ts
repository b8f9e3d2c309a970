import type { Cluster, Redis } from 'ioredis'
import { ServiceUnavailable } from '../core/errors.js'
import type { OAuthStateStore } from './state.js'

export interface RedisStateStoreOptions {
  /** Default `fastify-users:oauth-state:`. Instances that share it share the states consumed. */
  keyPrefix?: string
}

/**
 * Consumed OAuth states in Redis: `SET <prefix><jti> 1 EX <seconds left> NX`, so a state is
 * accepted once by the whole service, whichever instance the callback reaches.
 */
export function redisStateStore(redis: Redis | Cluster, options: RedisStateStoreOptions = {}): OAuthStateStore {
  const prefix = options.keyPrefix ?? 'fastify-users:oauth-state:'
  return {
    async consume(jti, expiresAt) {
      const seconds = Math.max(1, Math.ceil(expiresAt - Date.now() / 1000))
      try {
        return (await redis.set(prefix + jti, '1', 'EX', seconds, 'NX')) === 'OK'
      } catch (error) {
        throw new ServiceUnavailable('redis unavailable', { cause: error })
      }
    },
  }
}
