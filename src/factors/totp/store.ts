import type { UserId } from '../../core/ids.js'
import { type Database, idFromRow } from '../../stores/kysely/database.js'
import { unavailableOr } from '../../stores/kysely/errors.js'

export interface TotpRow {
  userId: UserId
  /** The sealed secret (SecretBox). */
  secret: string
  confirmed: boolean
  /** The last time step accepted, or null. */
  lastStep: number | null
}

/** Where TOTP secrets live (migration 0009's `totp_secret`). */
export interface TotpStore {
  get(userId: UserId): Promise<TotpRow | null>
  /** A new pending secret, replacing a pending one (never a confirmed one: false then). */
  setPending(userId: UserId, secret: string, now: number): Promise<boolean>
  /** Confirms the pending secret with the step of the code that proved it; false when it was no longer pending. */
  confirm(userId: UserId, step: number, now: number): Promise<boolean>
  /** Accepts a step once: false when this step or a later one was already used. */
  useStep(userId: UserId, step: number): Promise<boolean>
  remove(userId: UserId): Promise<boolean>
}

export function createKyselyTotpStore(database: Database): TotpStore {
  const { db } = database
  return {
    async get(userId) {
      const row = await db
        .selectFrom('totp_secret')
        .selectAll()
        .where('user_id', '=', userId)
        .executeTakeFirst()
        .catch(unavailableOr)
      if (!row) return null
      return {
        userId: idFromRow(database, row.user_id),
        secret: row.secret,
        confirmed: row.confirmed_at !== null,
        lastStep: row.last_step === null ? null : Number(row.last_step),
      }
    },
    async setPending(userId, secret, now) {
      return db
        .transaction()
        .execute(async (trx) => {
          const current = await trx
            .selectFrom('totp_secret')
            .select('confirmed_at')
            .where('user_id', '=', userId)
            .executeTakeFirst()
          if (current && current.confirmed_at !== null) return false
          await trx.deleteFrom('totp_secret').where('user_id', '=', userId).where('confirmed_at', 'is', null).execute()
          await trx
            .insertInto('totp_secret')
            .values({ user_id: userId, secret, created_at: now, confirmed_at: null, last_step: null })
            .execute()
          return true
        })
        .catch(unavailableOr)
    },
    async confirm(userId, step, now) {
      const result = await db
        .updateTable('totp_secret')
        .set({ confirmed_at: now, last_step: step })
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is', null)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numUpdatedRows) === 1
    },
    async useStep(userId, step) {
      // One conditional update: of two requests with the same code, one wins.
      const result = await db
        .updateTable('totp_secret')
        .set({ last_step: step })
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is not', null)
        .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numUpdatedRows) === 1
    },
    async remove(userId) {
      const result = await db
        .deleteFrom('totp_secret')
        .where('user_id', '=', userId)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numDeletedRows) === 1
    },
  }
}
