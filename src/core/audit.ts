/**
 * The audit log: one event per security-relevant thing (a login that failed, a lock-out, a session
 * ended, …). Routes `record` events without waiting; the log hands them to its sink in batches, off
 * the request's critical path, and `close()` flushes what is still queued on a clean shutdown.
 * An event never carries a password, a token or a hash: only who, what, when, from where and how.
 */

/** Every event type, named `<subject>.<what happened>`. */
export const AUTH_EVENT_TYPES = [
  'register',
  'login.succeeded',
  'login.failed',
  'login.locked',
  'logout',
  'refresh',
  'refresh.reuse_detected',
  'session.ended',
  'password.changed',
  'password.forgot_requested',
  'password.reset',
  'email_change.requested',
  'email_change.done',
  'verify.requested',
  'verify.done',
  'oauth.linked',
  'oauth.unlinked',
  'second_factor.enabled',
  'second_factor.disabled',
  'second_factor.recovery_codes_renewed',
  'second_factor.failed',
  'step_up.succeeded',
  'passkey.added',
  'passkey.removed',
  'user.updated',
  'user.deleted',
] as const

export type AuthEventType = (typeof AUTH_EVENT_TYPES)[number]

export type AuthEventOutcome = 'success' | 'failure'

/** The longest e-mail (as typed) an event keeps, and the longest user agent. */
export const AUDIT_EMAIL_MAX = 320
export const AUDIT_USER_AGENT_MAX = 512

/** One recorded event; `id` is given by the sink that stores it. */
export interface AuthEvent {
  type: AuthEventType
  at: Date
  outcome: AuthEventOutcome
  /** The user the event is about, when known (as a string: UUID or integer id). */
  user_id: string | null
  /** Who did it when not the user itself: a superuser's id for admin actions, null otherwise. */
  actor_id: string | null
  /** The e-mail as typed, for failures against an address no account has (bounded to AUDIT_EMAIL_MAX). */
  email: string | null
  /** A stable code for why it failed or how it ended (`LOGIN_BAD_CREDENTIALS`, `admin`, `password_changed`…). */
  reason: string | null
  /** The authentication backend, for logins, logouts, refreshes and sessions. */
  backend: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
  /** A few more facts of the type's own (provider name, factor method, changed field names); never a secret. */
  detail: Record<string, string | number | boolean> | null
}

/** A stored event, as the read routes answer it. */
export interface StoredAuthEvent extends AuthEvent {
  id: string
}

/** What a route passes to `record`: the type and outcome, plus whatever it knows. */
export type AuthEventInput = Pick<AuthEvent, 'type' | 'outcome'> & Partial<Omit<AuthEvent, 'type' | 'outcome'>>

/** Where events go: the database (createKyselyAuditSink), the log (logAuditSink) or your own function. */
export interface AuditSink {
  write(events: readonly AuthEvent[]): Promise<void>
  /** Deletes events older than `before`; sinks that keep nothing leave it out. */
  prune?(before: Date): Promise<number>
}

/** Newest first; `before` is the cursor (an event id) the previous page ended with. */
export interface AuditQuery {
  user_id?: string
  type?: AuthEventType
  since?: Date
  until?: Date
  limit: number
  before?: string
}

/** A sink the read routes can query (the database one). */
export interface AuditReader {
  list(query: AuditQuery): Promise<StoredAuthEvent[]>
}

export type AuditListener = (event: AuthEvent) => void

export interface AuditLogOptions {
  sink: AuditSink
  /** Where a sink's failure is reported (events of that batch are then dropped, never the request). */
  logger?: { error(obj: object, msg?: string): void }
  /** Events handed to the sink at once. Default 100. */
  batchSize?: number
  /** Events kept waiting at most; past it the oldest are dropped and counted. Default 10 000. */
  maxQueue?: number
  clock?: () => Date
}

function bounded(value: string | null | undefined, max: number): string | null {
  if (value === undefined || value === null) return null
  return value.length > max ? value.slice(0, max) : value
}

/**
 * The queue in front of a sink. `record` returns at once; a write is started on the next turn of the
 * event loop and batches whatever arrived meanwhile. Listeners (metrics) see every event synchronously.
 */
export class AuditLog {
  readonly sink: AuditSink
  private readonly logger: AuditLogOptions['logger']
  private readonly batchSize: number
  private readonly maxQueue: number
  private readonly clock: () => Date
  private queue: AuthEvent[] = []
  private writing: Promise<void> | null = null
  private readonly listeners = new Set<AuditListener>()
  /** Events dropped because the queue was full or the sink failed. */
  dropped = 0

  constructor(options: AuditLogOptions) {
    this.sink = options.sink
    this.logger = options.logger
    this.batchSize = options.batchSize ?? 100
    this.maxQueue = options.maxQueue ?? 10_000
    this.clock = options.clock ?? (() => new Date())
  }

  /** Queues one event; never throws, never waits. */
  record(input: AuthEventInput): void {
    const event: AuthEvent = {
      type: input.type,
      at: input.at ?? this.clock(),
      outcome: input.outcome,
      user_id: input.user_id ?? null,
      actor_id: input.actor_id ?? null,
      email: bounded(input.email, AUDIT_EMAIL_MAX),
      reason: input.reason ?? null,
      backend: input.backend ?? null,
      ip: input.ip ?? null,
      user_agent: bounded(input.user_agent, AUDIT_USER_AGENT_MAX),
      request_id: input.request_id ?? null,
      detail: input.detail ?? null,
    }
    for (const listener of this.listeners) {
      try {
        listener(event)
      } catch (err) {
        this.logger?.error({ err }, 'audit listener failed')
      }
    }
    if (this.queue.length >= this.maxQueue) {
      this.queue.shift()
      this.dropped++
    }
    this.queue.push(event)
    if (!this.writing) this.writing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain())
  }

  /** Called with every event as it is recorded (before it is written). Returns the unsubscribe. */
  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Resolves once every event recorded so far has been handed to the sink. */
  async flush(): Promise<void> {
    while (this.writing || this.queue.length > 0) {
      if (!this.writing) this.writing = this.drain()
      await this.writing
    }
  }

  /** Flushes; call it on shutdown (the reference service does, before closing the database). */
  async close(): Promise<void> {
    await this.flush()
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.batchSize)
        try {
          await this.sink.write(batch)
        } catch (err) {
          this.dropped += batch.length
          this.logger?.error({ err, events: batch.length }, 'audit sink failed; events dropped')
        }
      }
    } finally {
      this.writing = null
    }
  }
}

/** A sink that writes each event as one structured log line (`audit: <type>`). */
export function logAuditSink(logger: { info(obj: object, msg?: string): void }): AuditSink {
  return {
    async write(events) {
      for (const event of events) logger.info({ audit: event }, `audit: ${event.type}`)
    },
  }
}

/** A sink that calls your function with each batch. */
export function functionAuditSink(write: (events: readonly AuthEvent[]) => void | Promise<void>): AuditSink {
  return {
    async write(events) {
      await write(events)
    },
  }
}

/**
 * Several sinks at once (the database and the log, say); pruning reaches those that prune, and it
 * lists (for the read routes) through the first that can.
 */
export function multiAuditSink(...sinks: AuditSink[]): AuditSink & Partial<AuditReader> {
  const reader = sinks.find((s): s is AuditSink & AuditReader => typeof (s as Partial<AuditReader>).list === 'function')
  return {
    ...(reader && { list: (query: AuditQuery) => reader.list(query) }),
    async write(events) {
      const results = await Promise.allSettled(sinks.map((s) => s.write(events)))
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason
    },
    async prune(before) {
      let n = 0
      for (const s of sinks) n += (await s.prune?.(before)) ?? 0
      return n
    },
  }
}
