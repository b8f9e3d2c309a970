import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'

/**
 * The audit log (issue #18): one row per security event (core/audit.ts). `id` is a 64-bit integer the
 * database numbers itself: the read routes' cursor, newest first by id descending. `user_id` and
 * `actor_id` are text wide enough for a UUID or an integer id and reference no user: events outlive
 * the accounts they are about. `detail` is JSON text. Indexes serve the read routes (a user's events,
 * events of a type, both newest first) and retention (by `at`). The string columns' sizes are those
 * the store bounds its values to (audit-store.ts). Frozen: this file never changes once released.
 */
export function auditEventTable(capabilities: Capabilities): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('auth_event')
        .ifNotExists()
        .$call((t) => {
          switch (capabilities.integerKey) {
            case 'serial':
              return t.addColumn('id', 'bigserial', (c) => c.notNull().primaryKey())
            case 'auto-increment':
              return t.addColumn('id', 'bigint', (c) => c.notNull().autoIncrement().primaryKey())
            default:
              // SQLite's rowid (64-bit), never reused once pruned
              return t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
          }
        })
        .addColumn('type', 'varchar(64)', (c) => c.notNull())
        .addColumn('at', sql.raw(capabilities.timestampColumn), (c) => c.notNull())
        .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(64)')
        .addColumn('actor_id', 'varchar(64)')
        .addColumn('email', 'varchar(320)')
        .addColumn('reason', 'varchar(128)')
        .addColumn('backend', 'varchar(64)')
        .addColumn('ip', 'varchar(64)')
        .addColumn('user_agent', 'varchar(512)')
        .addColumn('request_id', 'varchar(64)')
        .addColumn('detail', 'text')
        .execute()
      const index = (name: string, columns: string[]) =>
        db.schema.createIndex(name).ifNotExists().on('auth_event').columns(columns).execute()
      await index('ix_auth_event_user_id_id', ['user_id', 'id'])
      await index('ix_auth_event_type_id', ['type', 'id'])
      await index('ix_auth_event_at', ['at'])
    },
  }
}
