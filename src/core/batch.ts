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
        for (const entry of entries) {
          const row = found.get(options.keyOf(entry.key))
          for (const waiter of entry.waiters) waiter.resolve(row)
        }
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
