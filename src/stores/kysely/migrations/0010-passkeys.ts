import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'
import { type UserSchema, userIdColumn } from './0001-user.js'

/**
 * Passkeys (WebAuthn credentials, ours) and the challenges they answer.
 * - `passkey`: one row per registered credential. `id` is ours (the API's), `credential_key` the
 *   SHA-256 (hex) of the authenticator's credential id: a unique key of fixed length that compares
 *   byte for byte on every database, whatever the collation; `credential_id` (base64url) is kept
 *   as sent and compared exactly in code. `counter` is the signature counter last seen.
 * - `passkey_challenge`: each challenge handed out, by the SHA-256 of its value, until it is used
 *   once or expires (`expires_at`, ms since the epoch): stored here, never in one process's memory,
 *   so that every instance sharing the database accepts it once. `user_id` binds it to the signed-in
 *   user it was made for (registration, a second factor); null for a sign-in with a passkey alone.
 * Both cascade with their user. Frozen: this file never changes once released.
 */
export function passkeyTables(capabilities: Capabilities, schema: UserSchema): Migration {
  const { user } = schema.tables
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      const ts = sql.raw(capabilities.timestampColumn)
      const idType = userIdColumn(capabilities, schema)
      await db.schema
        .createTable('passkey')
        .ifNotExists()
        .addColumn('id', 'varchar(43)', (c) => c.notNull().primaryKey())
        .addColumn('user_id', idType, (c) => c.notNull().references(`${user}.id`).onDelete('cascade'))
        .addColumn('credential_key', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('credential_id', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('counter', 'bigint', (c) => c.notNull())
        .addColumn('transports', 'varchar(255)', (c) => c.notNull())
        .addColumn('name', 'varchar(100)', (c) => c.notNull())
        .addColumn('device_type', 'varchar(32)', (c) => c.notNull())
        .addColumn('backed_up', 'boolean', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('last_used_at', ts)
        .execute()
      await db.schema.createIndex('ix_passkey_user_id').ifNotExists().on('passkey').column('user_id').execute()
      await db.schema
        .createTable('passkey_challenge')
        .ifNotExists()
        .addColumn('challenge_hash', 'varchar(64)', (c) => c.notNull().primaryKey())
        .addColumn('purpose', 'varchar(16)', (c) => c.notNull())
        .addColumn('user_id', idType, (c) => c.references(`${user}.id`).onDelete('cascade'))
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('ix_passkey_challenge_expires_at')
        .ifNotExists()
        .on('passkey_challenge')
        .column('expires_at')
        .execute()
    },
  }
}
