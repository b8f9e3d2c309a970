import { AuditLog, type AuditSink } from './audit.js'

export interface AuditRetentionOptions {
  /** Events older than this many days are deleted; 0 keeps them forever (nothing is scheduled). */
  days: number
  /** How often to prune after the first time, at start. Default one hour. */
  intervalMs?: number
  /** Where a failed prune is reported (it is tried again at the next interval) and what was pruned. */
  logger?: { info(obj: object, msg?: string): void; error(obj: object, msg?: string): void }
  clock?: () => Date
}

const DAY_MS = 24 * 3600 * 1000

/**
 * Prunes the audit log's sink now and every `intervalMs`: events older than `days` go. The timer is
 * `unref`'d (it never keeps a process alive). Resolves to the stop function, which waits for a prune
 * under way: call it before closing the database. Several processes may run it on one database at once:
 * deleting what another already deleted is no error.
 */
export function startAuditRetention(target: AuditLog | AuditSink, options: AuditRetentionOptions): () => Promise<void> {
  const sink = target instanceof AuditLog ? target.sink : target
  if (!Number.isFinite(options.days) || options.days < 0)
    throw new TypeError(`startAuditRetention: days must be 0 or more (got ${options.days})`)
  if (options.days === 0 || !sink.prune) return async () => {}
  const prune = sink.prune.bind(sink)
  const clock = options.clock ?? (() => new Date())
  const { logger } = options
  let running: Promise<void> | null = null
  const run = () => {
    if (running) return // the previous one is still at it
    const before = new Date(clock().getTime() - options.days * DAY_MS)
    running = prune(before)
      .then((pruned) => {
        if (pruned > 0) logger?.info({ pruned, before }, 'audit events past their retention deleted')
      })
      .catch((err) => logger?.error({ err }, 'pruning the audit log failed; retried at the next interval'))
      .finally(() => {
        running = null
      })
  }
  run()
  const timer = setInterval(run, options.intervalMs ?? 3600 * 1000)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await running
  }
}
