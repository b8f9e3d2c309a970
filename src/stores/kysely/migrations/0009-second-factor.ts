import type { Kysely, Migration } from 'kysely'
import type { Capabilities } from '../database.js'
import { type UserSchema, userIdColumn } from './0001-user.js'

/**
 * Second factors (ours; fastapi-users has none). Times are milliseconds since the epoch (bigint).
 *
 * - `totp_secret`: one row per user, the secret sealed with AES-256-GCM; `confirmed_at` null while
 *   enrolment is pending; `last_step` the last RFC 6238 time step accepted (a code works once).
 * - `recovery_code`: a keyed hash of each code, `used_at` once used.
 * - `login_ticket`: logins waiting for their second factor (the SHA-256 of the ticket), bound to a
 *   user and a backend, with the wrong codes counted.
 * - `step_up`: recent authentications, per session (the SHA-256 of the access token).
 *
 * Every `user_id` has the user table's id type and goes with its user (on delete cascade).
 * Frozen: this file never changes once released.
 */
export function secondFactorTables(capabilities: Capabilities, schema: UserSchema): Migration {
  const userId = userIdColumn(capabilities, schema)
  const user = `${schema.tables.user}.id`
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('totp_secret')
        .ifNotExists()
        .addColumn('user_id', userId, (c) => c.notNull().primaryKey().references(user).onDelete('cascade'))
        .addColumn('secret', 'varchar(255)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('confirmed_at', 'bigint')
        .addColumn('last_step', 'bigint')
        .execute()
      await db.schema
        .createTable('recovery_code')
        .ifNotExists()
        .addColumn('code_hash', 'varchar(64)', (c) => c.notNull().primaryKey())
        .addColumn('user_id', userId, (c) => c.notNull().references(user).onDelete('cascade'))
        .addColumn('used_at', 'bigint')
        .execute()
      await db.schema
        .createIndex('ix_recovery_code_user_id')
        .ifNotExists()
        .on('recovery_code')
        .column('user_id')
        .execute()
      await db.schema
        .createTable('login_ticket')
        .ifNotExists()
        .addColumn('ticket_hash', 'varchar(64)', (c) => c.notNull().primaryKey())
        .addColumn('user_id', userId, (c) => c.notNull().references(user).onDelete('cascade'))
        .addColumn('backend', 'varchar(64)', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('ix_login_ticket_expires_at')
        .ifNotExists()
        .on('login_ticket')
        .column('expires_at')
        .execute()
      await db.schema
        .createTable('step_up')
        .ifNotExists()
        .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().primaryKey())
        .addColumn('user_id', userId, (c) => c.notNull().references(user).onDelete('cascade'))
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('ix_step_up_user_id').ifNotExists().on('step_up').column('user_id').execute()
    },
  }
}
