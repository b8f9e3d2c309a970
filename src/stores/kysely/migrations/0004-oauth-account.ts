import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'

/**
 * The `oauth_account` table exactly as fastapi-users-db-sqlalchemy creates it
 * (SQLAlchemyBaseOAuthAccountTableUUID): same columns, types, indexes and a user_id that
 * cascades on delete, so an existing fastapi-users database is adopted as it is.
 * Frozen: this file never changes once released.
 */
export function oauthAccountTable(capabilities: Capabilities): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      const uuid = sql.raw(capabilities.uuidColumn)
      await db.schema
        .createTable('oauth_account')
        .ifNotExists()
        .addColumn('oauth_name', 'varchar(100)', (c) => c.notNull())
        .addColumn('access_token', 'varchar(1024)', (c) => c.notNull())
        .addColumn('expires_at', 'integer')
        .addColumn('refresh_token', 'varchar(1024)')
        .addColumn('account_id', 'varchar(320)', (c) => c.notNull())
        .addColumn('account_email', 'varchar(320)', (c) => c.notNull())
        .addColumn('id', uuid, (c) => c.notNull().primaryKey())
        .addColumn('user_id', uuid, (c) => c.notNull().references('user.id').onDelete('cascade'))
        .execute()
      await db.schema
        .createIndex('ix_oauth_account_oauth_name')
        .ifNotExists()
        .on('oauth_account')
        .column('oauth_name')
        .execute()
      await db.schema
        .createIndex('ix_oauth_account_account_id')
        .ifNotExists()
        .on('oauth_account')
        .column('account_id')
        .execute()
    },
  }
}
