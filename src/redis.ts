/** `fastify-users/redis`: fastapi-users' RedisStrategy, on an `ioredis` client the app creates. */

export { type RedisStateStoreOptions, redisStateStore } from './oauth/redis-state-store.js'
export { RedisStrategy, type RedisStrategyOptions } from './strategies/redis.js'
