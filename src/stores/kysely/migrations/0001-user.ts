import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'

/**
 * The `user` table exactly as fastapi-users-db-sqlalchemy creates it (same columns, types,
 * order and unique index `ix_user_email`), so an existing fastapi-users database is adopted
 * as it is: every statement is a no-op where the table and index already exist.
 * Frozen: this file never changes once released.
 */
export function userTable(capabilities: Capabilities): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('user')
        .ifNotExists()
        .addColumn('email', 'varchar(320)', (c) => c.notNull())
        .addColumn('hashed_password', 'varchar(1024)', (c) => c.notNull())
        .addColumn('is_active', 'boolean', (c) => c.notNull())
        .addColumn('is_superuser', 'boolean', (c) => c.notNull())
        .addColumn('is_verified', 'boolean', (c) => c.notNull())
        .addColumn('id', sql.raw(capabilities.uuidColumn), (c) => c.notNull().primaryKey())
        .execute()
      await db.schema.createIndex('ix_user_email').ifNotExists().unique().on('user').column('email').execute()
      if (capabilities.caseInsensitiveUnique === 'expression-index') {
        // fastapi-users refuses duplicates case-insensitively with a look-up; this index also
        // refuses them when two registrations race.
        await db.schema
          .createIndex('ix_user_email_lower')
          .ifNotExists()
          .unique()
          .on('user')
          .expression(sql`lower(email)`)
          .execute()
      }
    },
  }
}
