/** `fastify-users/redis`: fastapi-users' RedisStrategy, on an `ioredis` client the app creates. */

export { RedisStrategy, type RedisStrategyOptions } from './strategies/redis.js'
