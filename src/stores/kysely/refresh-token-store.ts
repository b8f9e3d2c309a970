import { sql } from 'kysely'
import type { UserId } from '../../core/ids.js'
import { compiledOnce } from './compiled-once.js'
import { type Database, idFromRow } from './database.js'
import { isTransientConflict, isUniqueViolation, unavailableOr } from './errors.js'
import { insertSessionInfo, type SessionInfoRow } from './session-info-store.js'
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
  /**
   * The usual refresh in one step: marks the token of `backend` spent at `at` if it is unspent and
   * its family carries no revocation marker (`revoked:<family_id>`), and returns its row as it was
   * before; null otherwise (unknown, another backend's, spent, revoked), and nothing changed. The
   * caller then looks closer with get() and markUsed(). Optional: without it, those are used alone.
   */
  spend?(tokenHash: string, backend: string, at: Date): Promise<RefreshTokenRow | null>
  /**
   * Stores a rotation's new token only while the spent token's row (`spentHash`) still exists, in
   * one statement: false (nothing stored) when it is gone (its family ended meanwhile). Fails as
   * create() does when the row exists already. Optional: without it, create() and get() are used.
   */
  createSuccessor?(row: Omit<RefreshTokenRow, 'used_at'>, spentHash: string): Promise<boolean>
  /**
   * A login's new family: its first token and its session_info row, stored together (SQLite: one
   * transaction, one commit to wait for instead of two). Only where the session_info table is the
   * one RefreshTokens' `sessions` store writes (the Kysely store on the same database): see the
   * `sessionInfo` option of createKyselyRefreshTokenStore. Optional.
   */
  openFamily?(row: Omit<RefreshTokenRow, 'used_at'>, session: SessionInfoRow): Promise<void>
  deleteFamily(familyId: string): Promise<void>
  /**
   * A reuse's revocation in one step: deletes the family's tokens and stores its revocation marker
   * (`marker`, whose token_hash is `revoked:<family_id>`; kept if one is there already) together, so
   * that no one ever sees the family gone without its marker (a racing rotation would take that for
   * a logout and refuse its legitimate winner). Optional: without it, deleteFamily() then create().
   */
  revokeFamily?(marker: Omit<RefreshTokenRow, 'used_at'>): Promise<void>
  deleteForUser(userId: UserId): Promise<void>
  /** Every row of the user (spent ones and revocation markers too), for the sessions list. */
  listForUser?(userId: UserId): Promise<RefreshTokenRow[]>
}

const REVOKED_PREFIX = 'revoked:'

/**
 * A refresh costs one statement for the spent token (an `UPDATE … RETURNING` where the database
 * has it; MariaDB, without it: a read of the token and of its family's marker, then the
 * conditional UPDATE) and one for its successor (an `INSERT … SELECT` conditional on the spent row).
 */
export function createKyselyRefreshTokenStore(
  database: Database,
  options: {
    /**
     * RefreshTokens' `sessions` is createKyselySessionInfoStore(database), the same database: a
     * login's first token and its session_info row are then written together (openFamily).
     */
    sessionInfo?: boolean
  } = {},
): RefreshTokenStore {
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
  // The statements of every refresh, built and compiled once (compiled-once.ts).
  const selectByHash = compiledOnce(db, (value) =>
    db.selectFrom('refresh_token').selectAll().where('token_hash', '=', value(0)),
  )
  const get = async (tokenHash: string): Promise<RefreshTokenRow | null> => {
    const [row] = (await selectByHash([tokenHash]).catch(unavailableOr)).rows
    return row ? toRow(row) : null
  }
  const updateUsedAt = compiledOnce(db, (value) =>
    db
      .updateTable('refresh_token')
      .set({ used_at: value(0) })
      .where('token_hash', '=', value(1))
      .where('used_at', 'is', null),
  )
  const markUsed = async (tokenHash: string, at: Date): Promise<boolean> => {
    const result = await updateUsedAt([ts(at), tokenHash]).catch(unavailableOr)
    return Number(result.numAffectedRows) === 1
  }
  const spendUnlessRevoked = compiledOnce(db, (value) =>
    // run where the database has RETURNING only (elsewhere spend() reads first)
    db
      .updateTable('refresh_token')
      .set({ used_at: value(0) })
      .where('token_hash', '=', value(1))
      .where('backend', '=', value(2))
      .where('used_at', 'is', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('refresh_token as marker')
              .select(sql.lit(1).as('one'))
              .where('marker.token_hash', '=', sql`${sql.lit(REVOKED_PREFIX)} || refresh_token.family_id`),
          ),
        ),
      )
      .returningAll(),
  )
  const SUCCESSOR_COLUMNS = ['token_hash', 'family_id', 'backend', 'user_id', 'created_at', 'expires_at'] as const
  const insertSuccessor = compiledOnce(db, (value) =>
    db
      .insertInto('refresh_token')
      .columns([...SUCCESSOR_COLUMNS, 'used_at'])
      .expression(
        db
          .selectFrom('refresh_token as spent')
          .select([...SUCCESSOR_COLUMNS.map((column, i) => sql`${value(i)}`.as(column)), sql`${null}`.as('used_at')])
          .where('spent.token_hash', '=', value(SUCCESSOR_COLUMNS.length))
          // PostgreSQL: a concurrent deletion of the family is waited for, never read past
          .$if(database.kind === 'postgres', (query) => query.forShare()),
      ),
  )
  const insert = (into: Database['db'], row: Omit<RefreshTokenRow, 'used_at'>) =>
    into
      .insertInto('refresh_token')
      .values({ ...row, created_at: ts(row.created_at), expires_at: ts(row.expires_at), used_at: null })
  return {
    async create(row) {
      await insert(db, row).execute().catch(unavailableOr)
    },
    ...(options.sessionInfo && {
      async openFamily(row: Omit<RefreshTokenRow, 'used_at'>, session: SessionInfoRow) {
        // SQLite commits synchronously, fsync included, on the event loop: one commit, not two.
        // Elsewhere a transaction would cost two more round trips: both rows at once, as before.
        const written =
          database.kind === 'sqlite'
            ? db.transaction().execute(async (trx) => {
                await insert(trx, row).execute()
                await insertSessionInfo(trx, capabilities, session).execute()
              })
            : Promise.all([insert(db, row).execute(), insertSessionInfo(db, capabilities, session).execute()])
        await written.catch(unavailableOr)
      },
    }),
    get,
    async spend(tokenHash, backend, at) {
      if (!capabilities.returning) {
        const row = await get(tokenHash)
        if (!row || row.backend !== backend || row.used_at !== null) return null
        if (await get(REVOKED_PREFIX + row.family_id)) return null
        return (await markUsed(tokenHash, at)) ? row : null
      }
      const [row] = (await spendUnlessRevoked([ts(at), tokenHash, backend]).catch(unavailableOr)).rows
      return row ? { ...toRow(row), used_at: null } : null
    },
    async createSuccessor(row, spentHash) {
      const { token_hash, family_id, backend, user_id, created_at, expires_at } = row
      const result = await insertSuccessor([
        token_hash,
        family_id,
        backend,
        user_id,
        ts(created_at),
        ts(expires_at),
        spentHash,
      ]).catch(unavailableOr)
      return Number(result.numAffectedRows ?? 0) === 1
    },
    markUsed,
    async deleteFamily(familyId) {
      await db.deleteFrom('refresh_token').where('family_id', '=', familyId).execute().catch(unavailableOr)
    },
    async revokeFamily(marker) {
      const revoke = (withMarker: boolean) =>
        db.transaction().execute(async (trx) => {
          await trx
            .deleteFrom('refresh_token')
            .where('family_id', '=', marker.family_id)
            .where('token_hash', '<>', marker.token_hash)
            .execute()
          if (withMarker) await insert(trx, marker).execute()
        })
      for (let attempt = 1; ; attempt++) {
        try {
          return await revoke(true)
        } catch (error) {
          // A concurrent revocation stored the marker first: the deletion alone, then.
          if (isUniqueViolation(error)) return await revoke(false).catch(unavailableOr)
          // Two revocations of one family deleting the same rows: one was chosen to give way.
          if (isTransientConflict(error) && attempt < 5) continue
          return unavailableOr(error)
        }
      }
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
