import { type CreateTableBuilder, type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities, Database } from '../database.js'

/** What the frozen migrations take from the app's user model: the id type and the table names. */
export type UserSchema = Pick<Database, 'userIdType' | 'tables'>

/** The column type of a `user_id`: the user table's id type. */
export function userIdColumn(capabilities: Capabilities, schema: UserSchema) {
  return sql.raw(schema.userIdType === 'integer' ? 'integer' : capabilities.uuidColumn)
}

/**
 * The `user` table exactly as fastapi-users-db-sqlalchemy creates it (same columns, types,
 * order and unique index `ix_user_email`), so an existing fastapi-users database is adopted
 * as it is: every statement is a no-op where the table and index already exist. The table and its
 * indexes take the app's name (`__tablename__`); with integer ids (IntegerIDMixin) `id` is the
 * autoincrement integer key SQLAlchemy creates on each database.
 * Frozen: this file never changes once released.
 */
export function userTable(capabilities: Capabilities, schema: UserSchema): Migration {
  const table = schema.tables.user
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable(table)
        .ifNotExists()
        .addColumn('email', 'varchar(320)', (c) => c.notNull())
        .addColumn('hashed_password', 'varchar(1024)', (c) => c.notNull())
        .addColumn('is_active', 'boolean', (c) => c.notNull())
        .addColumn('is_superuser', 'boolean', (c) => c.notNull())
        .addColumn('is_verified', 'boolean', (c) => c.notNull())
        .$call((t) =>
          schema.userIdType === 'integer'
            ? integerKey(t, capabilities)
            : t.addColumn('id', sql.raw(capabilities.uuidColumn), (c) => c.notNull().primaryKey()),
        )
        .execute()
      await db.schema.createIndex(`ix_${table}_email`).ifNotExists().unique().on(table).column('email').execute()
      if (capabilities.caseInsensitiveUnique === 'expression-index') {
        // fastapi-users refuses duplicates case-insensitively with a look-up; this index also
        // refuses them when two registrations race.
        await db.schema
          .createIndex(`ix_${table}_email_lower`)
          .ifNotExists()
          .unique()
          .on(table)
          .expression(sql`lower(email)`)
          .execute()
      }
    },
  }
}

/** `id`, an integer primary key the database numbers itself, as SQLAlchemy creates `Integer` keys. */
export function integerKey(table: CreateTableBuilder<string, never>, capabilities: Capabilities) {
  switch (capabilities.integerKey) {
    case 'serial':
      return table.addColumn('id', 'serial', (c) => c.notNull().primaryKey())
    case 'auto-increment':
      return table.addColumn('id', 'integer', (c) => c.notNull().autoIncrement().primaryKey())
    default:
      return table.addColumn('id', 'integer', (c) => c.notNull().primaryKey())
  }
}
