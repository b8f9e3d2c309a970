import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities, TableNames } from '../database.js'
import { emailKeyDigest } from '../identity.js'
import { type UserSchema, userIdColumn } from './0001-user.js'

/** The columns whose values are identities or secrets: compared byte for byte, never by a collation. */
export const exactColumns = (tables: TableNames) =>
  [
    [tables.user, 'email'],
    [tables.oauthAccount, 'oauth_name'],
    [tables.oauthAccount, 'account_id'],
    [tables.accessToken, 'token'],
    ['refresh_token', 'token_hash'],
    ['refresh_token', 'family_id'],
  ] as const

/**
 * One identity per person, decided in code (issue #13):
 * - the table `email_identity` (email_key varchar(64) primary key, user_id unique, cascading on
 *   delete): each user's address as the digest of its `emailIdentityKey`, compared byte for byte.
 *   It is filled here for every existing user; where existing users share one identity, the first
 *   by id gets it and the others none (they cannot sign in by e-mail until their address is
 *   changed); `doctor` lists them. The `user` table itself keeps its definition and rows.
 * - `ix_user_email_lower` (0001, SQLite and PostgreSQL) is dropped: lower() is ASCII-only on
 *   SQLite and locale-dependent on PostgreSQL, so it refused addresses that are different accounts.
 * - Where the default collation folds case, accents and trailing spaces (MariaDB), the identity and
 *   token columns get the exact collation; their types, nullability and indexes stay as they are
 *   (fastapi-users' `ix_user_email` then refuses only byte-equal addresses, as on PostgreSQL).
 * Frozen: this file never changes once released (the key is the core's; a change of the core's
 * normalisation comes with a migration of its own that recomputes the keys).
 */
export function identityKeys(capabilities: Capabilities, schema: UserSchema): Migration {
  const { user } = schema.tables
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      if (capabilities.exactCollation !== null) {
        for (const [table, column] of exactColumns(schema.tables))
          await makeExact(db, table, column, capabilities.exactCollation)
      }
      await db.schema
        .createTable('email_identity')
        .addColumn('email_key', 'varchar(64)', (c) => c.notNull().primaryKey())
        .addColumn('user_id', userIdColumn(capabilities, schema), (c) =>
          c.notNull().unique().references(`${user}.id`).onDelete('cascade'),
        )
        .execute()
      const users = await db.selectFrom(user).select(['id', 'email']).orderBy('id').execute()
      const keys = new Map<string, unknown>()
      for (const user of users) {
        const key = emailKeyDigest(String(user.email))
        if (!keys.has(key)) keys.set(key, user.id)
      }
      const rows = [...keys].map(([email_key, user_id]) => ({ email_key, user_id }))
      for (let i = 0; i < rows.length; i += 500) {
        await db
          .insertInto('email_identity')
          .values(rows.slice(i, i + 500))
          .execute()
      }
      if (capabilities.caseInsensitiveUnique === 'expression-index') {
        await db.schema.dropIndex(`ix_${user}_email_lower`).ifExists().execute()
      }
    },
  }
}

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
async function makeExact(db: Kysely<any>, table: string, column: string, collation: string): Promise<void> {
  const { rows } = await sql<{ column_type: string; is_nullable: string }>`
    select column_type, is_nullable from information_schema.columns
    where table_schema = database() and table_name = ${table} and column_name = ${column}`.execute(db)
  const found = rows[0]
  if (!found) return
  const nullability = found.is_nullable === 'YES' ? 'null' : 'not null'
  await sql`alter table ${sql.table(table)} modify ${sql.ref(column)} ${sql.raw(found.column_type)} character set utf8mb4 collate ${sql.raw(collation)} ${sql.raw(nullability)}`.execute(
    db,
  )
}
