import type { AuditQuery, AuditReader, AuditSink, AuthEvent, StoredAuthEvent } from '../../core/audit.js'
import { compiledOnce } from './compiled-once.js'
import type { Database } from './database.js'
import { isTransientConflict, unavailableOr } from './errors.js'
import { decodeTimestamp, encodeTimestamp } from './timestamps.js'

export interface KyselyAuditSinkOptions {
  /** Rows `prune` deletes per statement, so that no statement holds locks for long. Default 1000. */
  pruneChunk?: number
}

/** The width of each string column of `auth_event` (migration 0012), in characters. */
const COLUMNS = {
  type: 64,
  outcome: 16,
  user_id: 64,
  actor_id: 64,
  email: 320,
  reason: 128,
  backend: 64,
  ip: 64,
  user_agent: 512,
  request_id: 64,
} as const

/** `detail` is TEXT: 65,535 bytes on MariaDB; a detail past this is stored as `{"truncated":true}`. */
const MAX_DETAIL_BYTES = 16_384

/** Rows per INSERT: 12 parameters each, far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
const INSERT_ROWS = 1000

/** The inserts kept compiled: of 1 to 100 rows, the AuditLog's batches. */
const CACHED_ROWS = 100

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what is replaced
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * A string as every database stores it: NUL and unpaired surrogates (which PostgreSQL refuses and
 * drivers mangle) replaced by U+FFFD, then cut to `max` code points (never inside a surrogate pair).
 */
export function storableText(value: string | null, max: number): string | null {
  if (value === null) return null
  const clean = value.replace(UNSTORABLE, '\ufffd')
  if (clean.length <= max) return clean
  let end = 0
  let count = 0
  for (const char of clean) {
    if (count === max) break
    end += char.length
    count++
  }
  return clean.slice(0, end)
}

function detailText(detail: AuthEvent['detail']): string | null {
  if (detail === null) return null
  // JSON.stringify escapes NUL and lone surrogates: the text itself is always storable
  const text = JSON.stringify(detail)
  return Buffer.byteLength(text, 'utf8') > MAX_DETAIL_BYTES ? '{"truncated":true}' : text
}

/**
 * The audit log in the database's `auth_event` table (migration 0012): a sink (`write`, one
 * multi-row insert per batch; `prune`) and the reader the read routes query (`list`).
 * Every value is bounded to its column and made storable first: no database refuses an event.
 */
export function createKyselyAuditSink(
  database: Database,
  options: KyselyAuditSinkOptions = {},
): AuditSink & AuditReader & { prune(before: Date): Promise<number> } {
  const { db, capabilities } = database
  const chunk = options.pruneChunk ?? 1000
  const ts = (date: Date) => encodeTimestamp(capabilities, date)
  const row = (event: AuthEvent) => ({
    type: storableText(event.type, COLUMNS.type),
    at: ts(event.at),
    outcome: storableText(event.outcome, COLUMNS.outcome),
    user_id: storableText(event.user_id, COLUMNS.user_id),
    actor_id: storableText(event.actor_id, COLUMNS.actor_id),
    email: storableText(event.email, COLUMNS.email),
    reason: storableText(event.reason, COLUMNS.reason),
    backend: storableText(event.backend, COLUMNS.backend),
    ip: storableText(event.ip, COLUMNS.ip),
    user_agent: storableText(event.user_agent, COLUMNS.user_agent),
    request_id: storableText(event.request_id, COLUMNS.request_id),
    detail: detailText(event.detail),
  })

  const columns = Object.keys({ ...COLUMNS, at: 0, detail: 0 }) as (keyof ReturnType<typeof row>)[]
  // The insert of n rows, built and compiled once for each n up to the log's batch (compiled-once.ts)
  const inserts = new Map<number, (values: readonly unknown[]) => Promise<unknown>>()
  const insertOf = (n: number) => {
    let insert = inserts.get(n)
    if (!insert) {
      insert = compiledOnce(db, (value) =>
        db
          .insertInto('auth_event')
          .values(
            Array.from({ length: n }, (_, i) =>
              Object.fromEntries(columns.map((column, j) => [column, value(i * columns.length + j)])),
            ),
          ),
      )
      if (n <= CACHED_ROWS) inserts.set(n, insert)
    }
    return insert
  }

  return {
    async write(events) {
      // one insert per batch of the log (100); a longer array in inserts of INSERT_ROWS, within every
      // database's limit of bound parameters
      for (let i = 0; i < events.length; i += INSERT_ROWS) {
        const chunk = events.slice(i, i + INSERT_ROWS)
        const values: unknown[] = []
        for (const event of chunk) {
          const stored = row(event)
          for (const column of columns) values.push(stored[column])
        }
        await insertOf(chunk.length)(values).catch(unavailableOr)
      }
    },

    async prune(before) {
      let deleted = 0
      for (let retries = 0; ; ) {
        try {
          // the newest id of the oldest `chunk` rows: a range every database deletes by its primary key
          const last = await db
            .selectFrom('auth_event')
            .select('id')
            .where('at', '<', ts(before))
            .orderBy('id')
            .limit(1)
            .offset(chunk - 1)
            .executeTakeFirst()
          const result = await db
            .deleteFrom('auth_event')
            .where('at', '<', ts(before))
            .$if(last !== undefined, (q) => q.where('id', '<=', last?.id))
            .executeTakeFirst()
          const n = Number(result.numDeletedRows)
          deleted += n
          if (last === undefined) return deleted // that was the last, short chunk
        } catch (error) {
          // deadlocks between instances pruning the same rows at once: try again
          if (isTransientConflict(error) && ++retries < 5) continue
          return unavailableOr(error)
        }
      }
    },

    async list(query: AuditQuery): Promise<StoredAuthEvent[]> {
      const rows = await db
        .selectFrom('auth_event')
        .selectAll()
        .$if(query.user_id !== undefined, (q) => q.where('user_id', '=', query.user_id))
        .$if(query.type !== undefined, (q) => q.where('type', '=', query.type))
        .$if(query.since !== undefined, (q) => q.where('at', '>=', ts(query.since as Date)))
        .$if(query.until !== undefined, (q) => q.where('at', '<', ts(query.until as Date)))
        .$if(query.before !== undefined, (q) => q.where('id', '<', cursor(query.before as string)))
        .orderBy('id', 'desc')
        .limit(query.limit)
        .execute()
        .catch(unavailableOr)
      return rows.map(storedEvent)
    },
  }
}

/** A cursor as a number where it is one (compared as text, MariaDB would not use the index for it). */
const cursor = (before: string): number | string => {
  const n = Number(before)
  return Number.isSafeInteger(n) ? n : before
}

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value))

function storedEvent(row: Record<string, unknown>): StoredAuthEvent {
  return {
    id: String(row.id),
    type: String(row.type) as StoredAuthEvent['type'],
    at: decodeTimestamp(row.at),
    outcome: String(row.outcome) as StoredAuthEvent['outcome'],
    user_id: text(row.user_id),
    actor_id: text(row.actor_id),
    email: text(row.email),
    reason: text(row.reason),
    backend: text(row.backend),
    ip: text(row.ip),
    user_agent: text(row.user_agent),
    request_id: text(row.request_id),
    detail: row.detail === null || row.detail === undefined ? null : JSON.parse(String(row.detail)),
  }
}
