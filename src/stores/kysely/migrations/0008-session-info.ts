import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'
import { type UserSchema, userIdColumn } from './0001-user.js'

/**
 * What a session was opened from and when it was last used (ours; fastapi-users has none): one row
 * per database session or refresh-token family, keyed by the session's public id (a digest of its
 * token, or of its family's id), so that fastapi-users' own `accesstoken` table keeps its shape.
 * Redis sessions keep theirs in Redis. `user_id` follows the app's id type and user table.
 * Frozen: this file never changes once released.
 */
export function sessionInfoTable(capabilities: Capabilities, schema: UserSchema): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      const ts = sql.raw(capabilities.timestampColumn)
      await db.schema
        .createTable('session_info')
        .ifNotExists()
        .addColumn('session_id', 'varchar(43)', (c) => c.notNull().primaryKey())
        .addColumn('user_id', userIdColumn(capabilities, schema), (c) =>
          c.notNull().references(`${schema.tables.user}.id`).onDelete('cascade'),
        )
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('last_used_at', ts, (c) => c.notNull())
        .addColumn('user_agent', 'varchar(512)')
        .addColumn('ip', 'varchar(64)')
        .execute()
      await db.schema
        .createIndex('ix_session_info_user_id')
        .ifNotExists()
        .on('session_info')
        .column('user_id')
        .execute()
    },
  }
}
