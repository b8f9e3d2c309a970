import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'
import { integerKey, type UserSchema, userIdColumn } from './0001-user.js'

/**
 * The `oauth_account` table exactly as fastapi-users-db-sqlalchemy creates it
 * (SQLAlchemyBaseOAuthAccountTableUUID): same columns, types, indexes and a user_id that
 * cascades on delete, so an existing fastapi-users database is adopted as it is.
 * Frozen: this file never changes once released.
 */
export function oauthAccountTable(capabilities: Capabilities, schema: UserSchema): Migration {
  const { user, oauthAccount: table } = schema.tables
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable(table)
        .ifNotExists()
        .addColumn('oauth_name', 'varchar(100)', (c) => c.notNull())
        .addColumn('access_token', 'varchar(1024)', (c) => c.notNull())
        .addColumn('expires_at', 'integer')
        .addColumn('refresh_token', 'varchar(1024)')
        .addColumn('account_id', 'varchar(320)', (c) => c.notNull())
        .addColumn('account_email', 'varchar(320)', (c) => c.notNull())
        .$call((t) =>
          schema.userIdType === 'integer'
            ? integerKey(t, capabilities)
            : t.addColumn('id', sql.raw(capabilities.uuidColumn), (c) => c.notNull().primaryKey()),
        )
        .addColumn('user_id', userIdColumn(capabilities, schema), (c) =>
          c.notNull().references(`${user}.id`).onDelete('cascade'),
        )
        .execute()
      await db.schema.createIndex(`ix_${table}_oauth_name`).ifNotExists().on(table).column('oauth_name').execute()
      await db.schema.createIndex(`ix_${table}_account_id`).ifNotExists().on(table).column('account_id').execute()
    },
  }
}
