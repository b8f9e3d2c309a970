import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'
import { type UserSchema, userIdColumn } from './0001-user.js'

/**
 * The DatabaseStrategy's table, as fastapi-users-db-sqlalchemy creates it (token VARCHAR(43)
 * primary key, created_at indexed, user_id cascading on delete): an existing one is adopted.
 * Frozen: this file never changes once released.
 */
export function accessTokenTable(capabilities: Capabilities, schema: UserSchema): Migration {
  const { user, accessToken: table } = schema.tables
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable(table)
        .ifNotExists()
        .addColumn('token', 'varchar(43)', (c) => c.notNull().primaryKey())
        .addColumn('created_at', sql.raw(capabilities.timestampColumn), (c) => c.notNull())
        .addColumn('user_id', userIdColumn(capabilities, schema), (c) =>
          c.notNull().references(`${user}.id`).onDelete('cascade'),
        )
        .execute()
      await db.schema.createIndex(`ix_${table}_created_at`).ifNotExists().on(table).column('created_at').execute()
    },
  }
}
