import type { SecondFactorStores } from '../../core/second-factor.js'
import { type Database, idFromRow } from './database.js'
import { unavailableOr } from './errors.js'

/**
 * Login tickets, recovery codes and step-ups in the tables of migration 0009, shared by every
 * instance of the service on this database.
 */
export function createKyselySecondFactorStores(database: Database): SecondFactorStores {
  const { db } = database
  const n = (value: unknown) => Number(value)
  return {
    tickets: {
      async create(ticket) {
        await db
          .insertInto('login_ticket')
          .values({
            ticket_hash: ticket.ticketHash,
            user_id: ticket.userId,
            backend: ticket.backend,
            expires_at: ticket.expiresAt,
            failures: ticket.failures,
          })
          .execute()
          .catch(unavailableOr)
      },
      async get(ticketHash) {
        const row = await db
          .selectFrom('login_ticket')
          .selectAll()
          .where('ticket_hash', '=', ticketHash)
          .executeTakeFirst()
          .catch(unavailableOr)
        if (!row) return null
        return {
          ticketHash: row.ticket_hash,
          userId: idFromRow(database, row.user_id),
          backend: row.backend,
          expiresAt: n(row.expires_at),
          failures: n(row.failures),
        }
      },
      async fail(ticketHash) {
        await db
          .updateTable('login_ticket')
          .set((eb) => ({ failures: eb('failures', '+', 1) }))
          .where('ticket_hash', '=', ticketHash)
          .execute()
          .catch(unavailableOr)
        const row = await db
          .selectFrom('login_ticket')
          .select('failures')
          .where('ticket_hash', '=', ticketHash)
          .executeTakeFirst()
          .catch(unavailableOr)
        return row ? n(row.failures) : 0
      },
      async spend(ticketHash) {
        const result = await db
          .deleteFrom('login_ticket')
          .where('ticket_hash', '=', ticketHash)
          .executeTakeFirst()
          .catch(unavailableOr)
        return Number(result.numDeletedRows) === 1
      },
      async prune(now) {
        await db.deleteFrom('login_ticket').where('expires_at', '<=', now).execute().catch(unavailableOr)
      },
    },
    recoveryCodes: {
      async replace(userId, hashes) {
        await db
          .transaction()
          .execute(async (trx) => {
            await trx.deleteFrom('recovery_code').where('user_id', '=', userId).execute()
            if (hashes.length > 0)
              await trx
                .insertInto('recovery_code')
                .values(hashes.map((code_hash) => ({ code_hash, user_id: userId, used_at: null })))
                .execute()
          })
          .catch(unavailableOr)
      },
      async use(userId, hash, now) {
        const result = await db
          .updateTable('recovery_code')
          .set({ used_at: now })
          .where('code_hash', '=', hash)
          .where('user_id', '=', userId)
          .where('used_at', 'is', null)
          .executeTakeFirst()
          .catch(unavailableOr)
        return Number(result.numUpdatedRows) === 1
      },
      async remaining(userId) {
        const row = await db
          .selectFrom('recovery_code')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('user_id', '=', userId)
          .where('used_at', 'is', null)
          .executeTakeFirst()
          .catch(unavailableOr)
        return n(row?.n ?? 0)
      },
      async removeAll(userId) {
        await db.deleteFrom('recovery_code').where('user_id', '=', userId).execute().catch(unavailableOr)
      },
    },
    stepUps: {
      async record(tokenHash, userId, expiresAt) {
        await db
          .transaction()
          .execute(async (trx) => {
            // this session's earlier record, and the user's that have run out (housekeeping)
            await trx
              .deleteFrom('step_up')
              .where((eb) =>
                eb.or([
                  eb('token_hash', '=', tokenHash),
                  eb.and([eb('user_id', '=', userId), eb('expires_at', '<=', Date.now())]),
                ]),
              )
              .execute()
            await trx
              .insertInto('step_up')
              .values({ token_hash: tokenHash, user_id: userId, expires_at: expiresAt })
              .execute()
          })
          .catch(unavailableOr)
      },
      async isRecent(tokenHash, userId, now) {
        const row = await db
          .selectFrom('step_up')
          .select('token_hash')
          .where('token_hash', '=', tokenHash)
          .where('user_id', '=', userId)
          .where('expires_at', '>', now)
          .executeTakeFirst()
          .catch(unavailableOr)
        return row !== undefined
      },
      async removeForUser(userId) {
        await db.deleteFrom('step_up').where('user_id', '=', userId).execute().catch(unavailableOr)
      },
    },
  }
}
