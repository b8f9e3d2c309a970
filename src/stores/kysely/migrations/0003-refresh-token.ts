import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'
import { type UserSchema, userIdColumn } from './0001-user.js'

/**
 * Refresh tokens (ours; fastapi-users has none). Only a SHA-256 of each token is stored.
 * A family is one login's chain of rotations: reuse of a spent token revokes the family.
 * Frozen: this file never changes once released.
 */
export function refreshTokenTable(capabilities: Capabilities, schema: UserSchema): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      const ts = sql.raw(capabilities.timestampColumn)
      await db.schema
        .createTable('refresh_token')
        .ifNotExists()
        .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().primaryKey())
        .addColumn('family_id', 'varchar(43)', (c) => c.notNull())
        .addColumn('backend', 'varchar(64)', (c) => c.notNull())
        .addColumn('user_id', userIdColumn(capabilities, schema), (c) =>
          c.notNull().references(`${schema.tables.user}.id`).onDelete('cascade'),
        )
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('expires_at', ts, (c) => c.notNull())
        .addColumn('used_at', ts)
        .execute()
      await db.schema
        .createIndex('ix_refresh_token_family_id')
        .ifNotExists()
        .on('refresh_token')
        .column('family_id')
        .execute()
      await db.schema
        .createIndex('ix_refresh_token_user_id')
        .ifNotExists()
        .on('refresh_token')
        .column('user_id')
        .execute()
    },
  }
}
