import type { FastifyInstance } from 'fastify'
import {
  type AuthenticationBackend,
  authenticationBackend,
  BearerTransport,
  CookieTransport,
  DatabaseStrategy,
  JWTStrategy,
  RefreshTokens,
  SessionLimit,
} from 'fastify-users'
import {
  createKyselyAccessTokenStore,
  createKyselyRefreshTokenStore,
  createKyselySessionInfoStore,
  type Database,
} from 'fastify-users/kysely'
import { RedisStrategy } from 'fastify-users/redis'
import type { Cluster, Redis, RedisOptions } from 'ioredis'
import type { Config, RedisConfig } from './config.js'
import { accessTokenClaims, type User } from './user.js'

/** The service's Redis client: one server (directly or through Sentinel) or a Cluster. */
export type RedisClient = Redis | Cluster

/** MAX_SESSIONS_PER_USER's cap, shared by every backend, or none. */
export function sessionLimit(config: Config): SessionLimit | undefined {
  return config.maxSessionsPerUser > 0 ? new SessionLimit(config.maxSessionsPerUser) : undefined
}

/**
 * The reference service's backends, tried in this order:
 * /auth/jwt (LOGIN_URI_PREFIX; Bearer + JWT, with refresh tokens), /auth/cookie (Cookie + database, CSRF-checked),
 * and /auth/redis (Bearer + Redis) when REDIS_URL is set.
 */
export function createBackends(
  config: Config,
  database: Database,
  redis: RedisClient | undefined,
  /** The cap on each user's sessions (MAX_SESSIONS_PER_USER); `sessionLimit(config)` by default. */
  limit: SessionLimit | undefined = sessionLimit(config),
): AuthenticationBackend<User>[] {
  const lifetimeSeconds = config.accessTokenLifetime
  // Where database sessions and refresh families keep their User-Agent, address and last use (Redis keeps its own).
  const sessions = createKyselySessionInfoStore(database)
  const jwtStrategy = config.jwtKeys
    ? new JWTStrategy<User>({
        secret: config.secret,
        algorithm: config.jwtKeys.algorithm,
        keys: [
          { privateKey: config.jwtKeys.privateKey },
          ...config.jwtKeys.publicKeys.map((publicKey) => ({ publicKey })),
        ],
        lifetimeSeconds,
        claims: accessTokenClaims,
      })
    : new JWTStrategy<User>({
        secret: config.secret,
        algorithm: config.jwtHmacAlgorithm,
        lifetimeSeconds,
        claims: accessTokenClaims,
      })

  const backends = [
    authenticationBackend<User>({
      name: 'jwt',
      transport: new BearerTransport({ tokenUrl: `${config.loginUriPrefix.slice(1)}/login` }),
      strategy: jwtStrategy,
      refresh: new RefreshTokens({
        store: createKyselyRefreshTokenStore(database, { sessionInfo: true }), // `sessions` is this database's
        lifetimeSeconds: config.refreshTokenLifetime,
        reuseIntervalSeconds: config.refreshReuseInterval,
        secret: config.secret,
        sessions,
        limit,
      }),
    }),
    authenticationBackend<User>({
      name: 'cookie',
      transport: new CookieTransport({
        cookieMaxAge: lifetimeSeconds,
        cookieSecure: config.cookieSecure,
        csrf: { trustedOrigins: [new URL(config.publicUrl).origin, ...config.csrfTrustedOrigins] },
      }),
      strategy: new DatabaseStrategy<User>({
        store: createKyselyAccessTokenStore(database),
        lifetimeSeconds,
        sessions,
        limit,
      }),
    }),
  ]
  if (redis) {
    backends.push(
      authenticationBackend<User>({
        name: 'redis',
        transport: new BearerTransport({ tokenUrl: 'auth/redis/login', schemeName: 'OAuth2PasswordBearerRedis' }),
        strategy: new RedisStrategy<User>({ redis, lifetimeSeconds, limit }),
      }),
    )
  }
  return backends
}

/**
 * The service's Redis client (REDIS_URL, or Sentinel: see RedisConfig). While Redis is down or out
 * of reach a command fails within `timeoutMs` (a 503), queued or not; the client keeps reconnecting
 * by itself, so the service recovers when Redis is back, without a restart. Through Sentinel it
 * asks the sentinels for the current primary at each (re)connection, so it follows a failover.
 * A Cluster client learns the slots from the nodes named and follows MOVED/ASK redirections; while
 * the cluster is out of reach a command fails at once (no offline queue: a Cluster's would wait
 * without a bound), and the service waits up to `timeoutMs` for it to be ready when it starts.
 * ioredis is loaded here, only when Redis is configured (it costs start-up time and memory otherwise).
 */
export async function openRedis(redis: RedisConfig, timeoutMs: number, app: FastifyInstance): Promise<RedisClient> {
  const { Cluster, Redis } = await import('ioredis')
  const options: RedisOptions = {
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs, // also bounds a command waiting in the offline queue
    maxRetriesPerRequest: 0, // a queued command fails as soon as a reconnection attempt does
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000), // never gives up
  }
  if (redis.mode === 'cluster') return watch(openCluster(Cluster, redis, options, timeoutMs, app), app)
  const client =
    redis.mode === 'standalone'
      ? new Redis(redis.url, options)
      : new Redis({
          ...options,
          sentinels: redis.sentinels,
          name: redis.name,
          password: redis.password,
          sentinelPassword: redis.sentinelPassword,
          db: redis.db,
          sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
        })
  return watch(client, app)
}

function openCluster(
  ClusterClient: typeof Cluster,
  redis: Extract<RedisConfig, { mode: 'cluster' }>,
  options: RedisOptions,
  timeoutMs: number,
  app: FastifyInstance,
): Cluster {
  const { retryStrategy, ...nodeOptions } = options
  const cluster = new ClusterClient(redis.nodes, {
    redisOptions: { ...nodeOptions, password: redis.password },
    clusterRetryStrategy: retryStrategy,
    enableOfflineQueue: false,
    slotsRefreshTimeout: timeoutMs,
  })
  app.addHook('onReady', async () => {
    if (cluster.status === 'ready') return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      cluster.once('ready', () => resolve(clearTimeout(timer)))
    })
  })
  return cluster
}

function watch<C extends RedisClient>(client: C, app: FastifyInstance): C {
  client.on('error', (err: Error) => app.log.warn({ err: err.message }, 'redis connection'))
  app.addHook('onClose', async () => void (await client.quit().catch(() => client.disconnect())))
  return client
}
