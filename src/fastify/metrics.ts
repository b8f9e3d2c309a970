import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { AuditLog, AuthEvent } from '../core/audit.js'
import type { HashQueueStats } from '../core/passwords.js'
import type { PoolStats } from '../stores/kysely/database.js'

/** Every series' name starts with it (the process metrics' too), unless `prefix` says otherwise. */
export const DEFAULT_METRICS_PREFIX = 'fastify_users_'

/** The failure codes `…_logins_total` names as its `reason`; any other code counts as `other`. */
export const LOGIN_FAILURE_REASONS = [
  'LOGIN_BAD_CREDENTIALS',
  'LOGIN_USER_NOT_VERIFIED',
  'LOGIN_REFUSED',
  'LOGIN_ACCOUNT_SUSPENDED',
  'LOGIN_2FA_BAD_CODE',
  'PASSKEY_INVALID',
  'PASSKEY_CHALLENGE_EXPIRED',
  'OAUTH_NOT_AVAILABLE_EMAIL',
  'OAUTH_USER_ALREADY_EXISTS',
  'OAUTH_INVALID_STATE',
  'OAUTH_PROVIDER_ERROR',
] as const

export interface MetricsOptions {
  /** Where the series are registered. Default: a new Registry of the plugin's own. */
  registry?: Registry
  /** The series' name prefix. Default `fastify_users_`. */
  prefix?: string
  /** Process metrics (prom-client's collectDefaultMetrics: CPU, memory, event loop lag, GC…). Default true. */
  defaultMetrics?: boolean
  /** The FastifyUsers instance: its audit log counts logins and lock-outs, its manager's hasher the hash queue. */
  users?: { readonly audit?: AuditLog | undefined; readonly manager?: { readonly passwords: PasswordSource } }
  /** The password hasher, when not the users' manager's. */
  passwords?: PasswordSource
  /** The database (openDatabase's): its connection pool's use. */
  database?: { poolStats(): PoolStats }
  /** The ioredis client (or Cluster): `…_redis_up` is 1 while its status is `ready`. */
  redis?: { readonly status: string }
  /** Default `/metrics`. */
  path?: string
  /** When set, the route answers only `Authorization: Bearer <token>`; 401 otherwise. */
  token?: string
  /** More login failure codes of your own to name as `reason` (LoginRefused's codes, say). */
  loginReasons?: readonly string[]
  /**
   * Where the route's text comes from instead of `registry.metrics()`: a node:cluster worker asks
   * its primary for every worker's figures (`clusterWorkerScrape`).
   */
  scrape?: () => Promise<string>
}

type PasswordSource = { readonly queue?: HashQueueStats | undefined }

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const HASH_WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Prometheus metrics (prom-client) and `GET /metrics` in its text format, outside the OpenAPI document:
 * - `<prefix>http_requests_total{method,route,status}` and `<prefix>http_request_duration_seconds{method,route,status}`,
 *   route being the route's pattern (`/users/:id`), `unmatched` for a URL no route serves; the metrics
 *   route's own requests are not counted (a scrape never moves the figures it reads);
 * - `<prefix>logins_total{outcome,reason}` and `<prefix>lockouts_total`, from the audit log's
 *   `login.succeeded`, `login.failed` and `login.locked` events;
 * - `<prefix>password_hash_queue_depth` and `<prefix>password_hash_wait_seconds`;
 * - `<prefix>db_pool_connections{state="used|idle|waiting"}`; `<prefix>redis_up`;
 * - the process metrics, with the same prefix.
 * Register it before the routes it should count (its hook is the root's).
 */
async function metrics(app: FastifyInstance, options: MetricsOptions): Promise<void> {
  const registry = options.registry ?? new Registry()
  const prefix = options.prefix ?? DEFAULT_METRICS_PREFIX
  const path = options.path ?? '/metrics'
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix })

  countRequests(app, registry, prefix, path)
  const audit = options.users?.audit
  if (audit) {
    const unsubscribe = countLogins(
      audit,
      registry,
      prefix,
      new Set([...LOGIN_FAILURE_REASONS, ...(options.loginReasons ?? [])]),
    )
    app.addHook('onClose', async () => void unsubscribe())
  }
  const queue = (options.passwords ?? options.users?.manager?.passwords)?.queue
  if (queue) {
    const unsubscribe = observeHashQueue(queue, registry, prefix)
    app.addHook('onClose', async () => void unsubscribe())
  }
  if (options.database) observePool(options.database, registry, prefix)
  if (options.redis) observeRedis(options.redis, registry, prefix)

  const expected = options.token === undefined ? undefined : digest(options.token)
  const scrape = options.scrape ?? (() => registry.metrics())
  app.get(path, { schema: { hide: true }, exposeHeadRoute: false }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    if (expected && !bearerMatches(request.headers.authorization, expected)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ detail: 'Unauthorized' })
    }
    let text: string
    try {
      text = await scrape()
    } catch (err) {
      request.log.warn({ err }, 'metrics could not be gathered')
      return reply.code(503).header('retry-after', '5').send({ detail: 'SERVICE_UNAVAILABLE' })
    }
    return reply.type(registry.contentType).send(text)
  })
}

export const metricsPlugin = fp(metrics, { name: 'fastify-users-metrics', fastify: '5.x' })

function countRequests(app: FastifyInstance, registry: Registry, prefix: string, path: string) {
  const labelNames = ['method', 'route', 'status'] as const
  const total = new Counter({
    name: `${prefix}http_requests_total`,
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames,
    registers: [registry],
  })
  const duration = new Histogram({
    name: `${prefix}http_request_duration_seconds`,
    help: 'Time from a request to its answer (seconds), by method, route pattern and status',
    labelNames,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  })
  // one child per label set, found again without hashing the labels on every request
  const children = new Map<string, { count: () => void; observe: (seconds: number) => void }>()
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    if (route === path) return done()
    const key = `${request.method} ${route} ${reply.statusCode}`
    let child = children.get(key)
    if (!child) {
      const labels = { method: request.method, route, status: String(reply.statusCode) }
      const counter = total.labels(labels)
      const histogram = duration.labels(labels)
      child = { count: () => counter.inc(), observe: (seconds) => histogram.observe(seconds) }
      children.set(key, child)
    }
    child.count()
    child.observe(reply.elapsedTime / 1000)
    done()
  })
}

function countLogins(audit: AuditLog, registry: Registry, prefix: string, reasons: ReadonlySet<string>) {
  const logins = new Counter({
    name: `${prefix}logins_total`,
    help: 'Logins by outcome (success, failure) and, for failures, the error code (other when not a known one)',
    labelNames: ['outcome', 'reason'],
    registers: [registry],
  })
  const lockouts = new Counter({
    name: `${prefix}lockouts_total`,
    help: 'Logins refused because the account or address is locked out (too many failures)',
    registers: [registry],
  })
  // Both outcomes exist from the start: a rate of failures is 0, not absent, before the first one.
  logins.inc({ outcome: 'success', reason: '' }, 0)
  logins.inc({ outcome: 'failure', reason: 'LOGIN_BAD_CREDENTIALS' }, 0)
  return audit.subscribe((event: AuthEvent) => {
    if (event.type === 'login.succeeded') logins.inc({ outcome: 'success', reason: '' })
    else if (event.type === 'login.failed') {
      const reason = event.reason !== null && reasons.has(event.reason) ? event.reason : 'other'
      logins.inc({ outcome: 'failure', reason })
    } else if (event.type === 'login.locked') lockouts.inc()
  })
}

/** Returns the unsubscribe of the wait observer. */
function observeHashQueue(queue: HashQueueStats, registry: Registry, prefix: string) {
  new Gauge({
    name: `${prefix}password_hash_queue_depth`,
    help: 'Password hashes waiting for a free hashing slot now',
    registers: [registry],
    collect() {
      this.set(queue.waiting)
    },
  })
  const wait = new Histogram({
    name: `${prefix}password_hash_wait_seconds`,
    help: 'Time a password hash waited for a free hashing slot (seconds)',
    buckets: HASH_WAIT_BUCKETS,
    registers: [registry],
  })
  return queue.onWait((seconds) => wait.observe(seconds))
}

function observePool(database: { poolStats(): PoolStats }, registry: Registry, prefix: string) {
  new Gauge({
    name: `${prefix}db_pool_connections`,
    help: 'Database connections by state: used by a query, idle in the pool, or requests waiting for one',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const stats = database.poolStats()
      this.set({ state: 'used' }, stats.used)
      this.set({ state: 'idle' }, stats.idle)
      this.set({ state: 'waiting' }, stats.waiting)
    },
  })
}

function observeRedis(redis: { readonly status: string }, registry: Registry, prefix: string) {
  new Gauge({
    name: `${prefix}redis_up`,
    help: 'Whether the Redis client is connected and ready (1) or not (0)',
    registers: [registry],
    // of several workers, Redis counts as up only when it is for every one
    aggregator: 'min',
    collect() {
      this.set(redis.status === 'ready' ? 1 : 0)
    },
  })
}

const digest = (value: string) => createHash('sha256').update(value).digest()

/** Compares digests, so that neither the token's length nor its content shows in the time taken. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '')
  return match !== null && timingSafeEqual(digest(match[1] as string), expected)
}
