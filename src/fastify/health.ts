import type { FastifyInstance } from 'fastify'

export interface HealthRoutesOptions {
  /**
   * What readiness depends on, by name (`database`, `redis`…): each check resolves when that
   * dependency answers and rejects when it does not. See `pingDatabase`; for ioredis, `() => redis.ping()`.
   */
  checks: Record<string, () => Promise<unknown>>
  /** A check still unanswered after this long counts as down (ms; default 5000). */
  timeoutMs?: number
  /** Default `/health`. */
  healthPath?: string
  /** Default `/ready`. */
  readyPath?: string
  /**
   * True once the process is shutting down (SIGTERM): `/ready` answers 503 at once, without
   * running the checks, so that a load balancer stops sending requests while those in flight finish.
   */
  draining?: () => boolean
}

type Outcome = 'ok' | 'unavailable'

/**
 * Liveness and readiness for orchestrators and load balancers, kept out of the OpenAPI document:
 * - `GET /health`: 200 `{"status":"ok"}` while the process serves requests; it checks nothing else,
 *   so a database outage never gets a healthy process restarted.
 * - `GET /ready`: every check at once, each bounded by `timeoutMs`: 200 `{"status":"ok","checks":{…}}`,
 *   or 503 `{"detail":"SERVICE_UNAVAILABLE","checks":{"database":"unavailable",…}}`. Only names and
 *   `ok` / `unavailable` are told; why a check failed goes to the log, never to the client.
 *   While `draining()`: 503 `{"detail":"SERVICE_UNAVAILABLE","checks":{},"draining":true}`.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const { checks, timeoutMs = 5000, healthPath = '/health', readyPath = '/ready', draining = () => false } = options
  const route = { schema: { hide: true } }

  app.get(healthPath, route, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return { status: 'ok' }
  })

  app.get(readyPath, route, async (request, reply) => {
    if (draining()) {
      reply.header('cache-control', 'no-store').header('retry-after', '5')
      return reply.code(503).send({ detail: 'SERVICE_UNAVAILABLE', checks: {}, draining: true })
    }
    const outcomes = await Promise.all(
      Object.entries(checks).map(async ([name, check]): Promise<[string, Outcome]> => {
        try {
          await withDeadline(check, timeoutMs)
          return [name, 'ok']
        } catch (error) {
          request.log.warn({ check: name, err: (error as Error)?.message }, 'readiness check failed')
          return [name, 'unavailable']
        }
      }),
    )
    const results = Object.fromEntries(outcomes)
    reply.header('cache-control', 'no-store')
    if (outcomes.every(([, outcome]) => outcome === 'ok')) return { status: 'ok', checks: results }
    return reply.code(503).header('retry-after', '5').send({ detail: 'SERVICE_UNAVAILABLE', checks: results })
  })
}

async function withDeadline(check: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    await Promise.race([check(), deadline])
  } finally {
    clearTimeout(timer)
  }
}
