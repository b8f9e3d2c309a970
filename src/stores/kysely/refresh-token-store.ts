import type { UserId } from '../../core/ids.js'
import { type Database, idFromRow } from './database.js'
import { unavailableOr } from './errors.js'
import { decodeTimestamp, encodeTimestamp } from './timestamps.js'

export interface RefreshTokenRow {
  token_hash: string
  family_id: string
  backend: string
  user_id: UserId
  created_at: Date
  expires_at: Date
  used_at: Date | null
}

/** Refresh tokens, by the SHA-256 of their value (the value itself is never stored). */
export interface RefreshTokenStore {
  create(row: Omit<RefreshTokenRow, 'used_at'>): Promise<void>
  get(tokenHash: string): Promise<RefreshTokenRow | null>
  /** Marks the token spent; false when it already was (a concurrent or repeated use). */
  markUsed(tokenHash: string, at: Date): Promise<boolean>
  deleteFamily(familyId: string): Promise<void>
  deleteForUser(userId: UserId): Promise<void>
  /** Every row of the user (spent ones and revocation markers too), for the sessions list. */
  listForUser?(userId: UserId): Promise<RefreshTokenRow[]>
}

export function createKyselyRefreshTokenStore(database: Database): RefreshTokenStore {
  const { db, capabilities } = database
  const ts = (date: Date) => encodeTimestamp(capabilities, date)
  const toRow = (row: Record<string, unknown>): RefreshTokenRow => ({
    token_hash: String(row.token_hash),
    family_id: String(row.family_id),
    backend: String(row.backend),
    user_id: idFromRow(database, row.user_id),
    created_at: decodeTimestamp(row.created_at),
    expires_at: decodeTimestamp(row.expires_at),
    used_at: row.used_at === null ? null : decodeTimestamp(row.used_at),
  })
  return {
    async create(row) {
      await db
        .insertInto('refresh_token')
        .values({ ...row, created_at: ts(row.created_at), expires_at: ts(row.expires_at), used_at: null })
        .execute()
        .catch(unavailableOr)
    },
    async get(tokenHash) {
      const row = await db
        .selectFrom('refresh_token')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst()
        .catch(unavailableOr)
      if (!row) return null
      return {
        token_hash: row.token_hash,
        family_id: row.family_id,
        backend: row.backend,
        user_id: idFromRow(database, row.user_id),
        created_at: decodeTimestamp(row.created_at),
        expires_at: decodeTimestamp(row.expires_at),
        used_at: row.used_at === null ? null : decodeTimestamp(row.used_at),
      }
    },
    async markUsed(tokenHash, at) {
      const result = await db
        .updateTable('refresh_token')
        .set({ used_at: ts(at) })
        .where('token_hash', '=', tokenHash)
        .where('used_at', 'is', null)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numUpdatedRows) === 1
    },
    async deleteFamily(familyId) {
      await db.deleteFrom('refresh_token').where('family_id', '=', familyId).execute().catch(unavailableOr)
    },
    async deleteForUser(userId) {
      await db.deleteFrom('refresh_token').where('user_id', '=', userId).execute().catch(unavailableOr)
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom('refresh_token')
        .selectAll()
        .where('user_id', '=', userId)
        .execute()
        .catch(unavailableOr)
      return rows.map(toRow)
    },
  }
}
