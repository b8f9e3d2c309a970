import { availableParallelism } from 'node:os'
import { createPasswordHasher, type PasswordHasher } from 'fastify-users'
import type { Config } from './config.js'

/**
 * The service's password hasher: the configured scheme and parameters, bounded so that a login
 * flood cannot take every core from the event loops (each worker process gets its share). The
 * bench measures its raw rate through this same function (bench/lib/hashrate.ts).
 */
export function servicePasswordHasher(config: Config): PasswordHasher {
  return createPasswordHasher(config.passwordHash.argon2, {
    algorithm: config.passwordHash.algorithm,
    bcryptRounds: config.passwordHash.bcryptRounds,
    concurrency:
      config.passwordHashConcurrency ?? Math.max(1, Math.floor(availableParallelism() / config.webConcurrency)),
  })
}
