import type { Kysely, Migration } from 'kysely'

/**
 * Rate-limit and lock-out counters (ours): one row per limiter key, so that every process of a
 * service sharing this database counts together when there is no Redis. `points` is the count in
 * the current window, `expires_at` its end in milliseconds since the epoch (null: never).
 * Frozen: this file never changes once released.
 */
export function rateLimitTable(): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('rate_limit')
        .ifNotExists()
        .addColumn('id', 'varchar(255)', (c) => c.notNull().primaryKey())
        .addColumn('points', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .execute()
      await db.schema
        .createIndex('ix_rate_limit_expires_at')
        .ifNotExists()
        .on('rate_limit')
        .column('expires_at')
        .execute()
    },
  }
}
