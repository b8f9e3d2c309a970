import type { UserId } from '../../core/ids.js'
import { type Capabilities, type Database, idFromRow } from './database.js'
import { unavailableOr } from './errors.js'
import { decodeTimestamp, encodeTimestamp } from './timestamps.js'

/** What a session was opened from, and when it was last used (the `session_info` table, migration 0008). */
export interface SessionInfoRow {
  /** The session's public id (a digest, never a token). */
  session_id: string
  user_id: UserId
  created_at: Date
  last_used_at: Date
  user_agent: string | null
  ip: string | null
}

/** The metadata of database sessions and refresh-token families, keyed by their public ids. */
export interface SessionInfoStore {
  create(row: SessionInfoRow): Promise<void>
  listForUser(userId: UserId): Promise<SessionInfoRow[]>
  /** Sets `last_used_at` to `at` unless it is already later than `unlessAfter` (one write a minute at most). */
  touch(sessionId: string, at: Date, unlessAfter: Date): Promise<void>
  delete(sessionIds: string[]): Promise<void>
}

export const MAX_USER_AGENT = 512
export const MAX_IP = 64

/** The INSERT of one session_info row (on `db`, or the caller's transaction). */
export function insertSessionInfo(db: Database['db'], capabilities: Capabilities, row: SessionInfoRow) {
  const ts = (date: Date) => encodeTimestamp(capabilities, date)
  return db.insertInto('session_info').values({
    ...row,
    user_agent: row.user_agent?.slice(0, MAX_USER_AGENT) ?? null,
    ip: row.ip?.slice(0, MAX_IP) ?? null,
    created_at: ts(row.created_at),
    last_used_at: ts(row.last_used_at),
  })
}

export function createKyselySessionInfoStore(database: Database): SessionInfoStore {
  const { db, capabilities } = database
  const ts = (date: Date) => encodeTimestamp(capabilities, date)
  return {
    async create(row) {
      await insertSessionInfo(db, capabilities, row).execute().catch(unavailableOr)
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom('session_info')
        .selectAll()
        .where('user_id', '=', userId)
        .execute()
        .catch(unavailableOr)
      return rows.map((row) => ({
        session_id: String(row.session_id),
        user_id: idFromRow(database, row.user_id),
        created_at: decodeTimestamp(row.created_at),
        last_used_at: decodeTimestamp(row.last_used_at),
        user_agent: row.user_agent === null ? null : String(row.user_agent),
        ip: row.ip === null ? null : String(row.ip),
      }))
    },
    async touch(sessionId, at, unlessAfter) {
      await db
        .updateTable('session_info')
        .set({ last_used_at: ts(at) })
        .where('session_id', '=', sessionId)
        .where('last_used_at', '<', ts(unlessAfter))
        .execute()
        .catch(unavailableOr)
    },
    async delete(sessionIds) {
      if (sessionIds.length === 0) return
      await db.deleteFrom('session_info').where('session_id', 'in', sessionIds).execute().catch(unavailableOr)
    },
  }
}
