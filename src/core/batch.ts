/**
 * The look-ups of every authenticated request (a user by id, a session token), on a database the
 * process reaches over a connection (PostgreSQL, MariaDB) or in Redis: those asked for in the same
 * turn of the event loop go out as one query (`… where id in (…)`, one `MGET`) when the turn
 * ends. Under load, requests arrive together, and one round trip, one pool check-out and one parse
 * serve them all (issue 19: the round trips, not the queries, were the cost of the PostgreSQL path).
 *
 * Nothing is cached: each look-up is answered by a query sent after it was asked for, so a row
 * deleted or changed before that (a revoked session, a deactivated user) is seen as such. Callers
 * asking for the same key get the same raw row: each store decodes it into a new object per caller,
 * so one request cannot change what another sees.
 */
export interface BatchOptions<K, R> {
  /** The key a row answers, as `keyOfRow` gives it: two asks with the same key share one row. */
  keyOf(key: K): string
  keyOfRow(row: R): string
  /** Reads the rows of these keys (at most `max` of them, distinct); rows not found are left out. */
  load(keys: K[]): Promise<R[]>
  /** At most this many keys per query (100). */
  max?: number
  /**
   * Callers resumed per macrotask once the rows are in (all at once when unset). A batch answered
   * synchronously resumes all its requests together; heavy routes then hold all their allocations
   * at once, and the young generation overflows into the old one.
   */
  resumeAtOnce?: number
}

export function batchedLookup<K, R>(options: BatchOptions<K, R>): (key: K) => Promise<R | undefined> {
  const max = options.max ?? 100
  type Entry = { key: K; waiters: { resolve(row: R | undefined): void; reject(error: unknown): void }[] }
  let pending: Map<string, Entry> | undefined

  const send = (entries: Entry[]) => {
    options.load(entries.map((entry) => entry.key)).then(
      (rows) => {
        const found = new Map<string, R>()
        for (const row of rows) found.set(options.keyOfRow(row), row)
        const answers: (() => void)[] = []
        for (const entry of entries) {
          const row = found.get(options.keyOf(entry.key))
          for (const waiter of entry.waiters) answers.push(() => waiter.resolve(row))
        }
        const step = options.resumeAtOnce ?? answers.length
        const resume = (from: number) => {
          for (let i = from; i < Math.min(from + step, answers.length); i++) answers[i]!()
          if (from + step < answers.length) setImmediate(resume, from + step)
        }
        resume(0)
      },
      (error: unknown) => {
        for (const entry of entries) for (const waiter of entry.waiters) waiter.reject(error)
      },
    )
  }

  const flush = () => {
    const entries = [...pending!.values()]
    pending = undefined
    for (let i = 0; i < entries.length; i += max) send(entries.slice(i, i + max))
  }

  return (key) =>
    new Promise<R | undefined>((resolve, reject) => {
      if (!pending) {
        pending = new Map()
        setImmediate(flush)
      }
      const id = options.keyOf(key)
      const entry = pending.get(id)
      if (entry) entry.waiters.push({ resolve, reject })
      else pending.set(id, { key, waiters: [{ resolve, reject }] })
    })
}
