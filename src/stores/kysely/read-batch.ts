import { batchedLookup } from '../../core/batch.js'

/** The largest batch: statements are prepared for 1, 2, 4 … 64 keys. */
const MAX_KEYS = 64
/**
 * Callers resumed per macrotask. All of a turn's requests resumed at once made the sessions list
 * (a heavier route) slower: their allocations overflow the young generation together. With `npm
 * start`'s 4-MB semi-space, paired A/Bs against 16 (bench/PROFILE-NOTES.md, sixth round): 32 gave
 * GET /users/me 2–6 % and cost the sessions list 5 %; all at once, 5 % and 14 %.
 */
const RESUME_AT_ONCE = 16

/**
 * The look-ups of every authenticated request (a user by id, a session token) on a SQLite file:
 * those asked for in one turn of the event loop are read together when it ends (batch.ts), in one
 * statement on the read-only connection (`Database.readRowsNow`). One read transaction, with its
 * two lock calls, and one statement run serve them all: on SQLite these, not the rows, were the
 * cost of an authenticated request (issue 19). Nothing is cached; each look-up is read after it
 * was asked for.
 *
 * Statements come in sizes of powers of two up to 64 keys, the keys padded with the last one, so
 * that a handful of statements are prepared once. `sqlFor(n)` is the select with n key
 * placeholders; `parameters` puts the (padded) keys where the statement wants them.
 */
export function batchedRowsNow<K>(
  readRowsNow: (sql: string, parameters: readonly unknown[]) => unknown[][],
  options: {
    sqlFor(count: number): string
    parameters(keys: K[]): unknown[]
    /** The key as the database compares it: two asks with the same key share one row. */
    keyOf(key: K): string
    keyOfRow(row: unknown[]): string
  },
): (key: K) => Promise<unknown[] | undefined> {
  const statements = new Map<number, string>()
  const sqlFor = (count: number) => {
    let text = statements.get(count)
    if (text === undefined) {
      text = options.sqlFor(count)
      statements.set(count, text)
    }
    return text
  }
  return batchedLookup<K, unknown[]>({
    keyOf: options.keyOf,
    keyOfRow: options.keyOfRow,
    max: MAX_KEYS,
    // the read answers synchronously: its callers resume 16 per macrotask (batch.ts), not all at once
    resumeAtOnce: RESUME_AT_ONCE,
    load: async (keys) => {
      let size = 1
      while (size < keys.length) size *= 2
      const padded = keys.slice()
      while (padded.length < size) padded.push(keys[keys.length - 1] as K)
      return readRowsNow(sqlFor(size), options.parameters(padded))
    },
  })
}
