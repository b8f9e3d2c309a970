import { type Kysely, type Migration, sql } from 'kysely'
import type { Capabilities } from '../database.js'
import type { UserSchema } from './0001-user.js'

/** Thrown when oauth_account already links one provider account to several rows: the unique key cannot be made. */
export class DuplicateOAuthAccounts extends Error {}

/**
 * One provider account, one user; single-use OAuth states shared by every instance.
 *
 * - `oauth_account.email_verified`: whether the provider vouched for `account_email` when the link
 *   was made or last used. Rows written before this migration are false (nobody knows).
 * - the unique key `ux_oauth_account_oauth_name_account_id` on (oauth_name, account_id). Where string
 *   columns compare by a case-insensitive collation (MariaDB/MySQL), 0005 has already given `account_id`
 *   the exact collation: provider subjects are case-sensitive. Duplicates already there stop the migration
 *   with a message naming them, before anything is changed (`fastify-users doctor` lists them too).
 * - the table `oauth_state` (jti primary key, expires_at in epoch seconds): the states already consumed.
 *
 * Frozen: this file never changes once released.
 */
export function oauthUniqueAndState(capabilities: Capabilities, schema: UserSchema): Migration {
  const table = schema.tables.oauthAccount
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      // Checked before anything changes, so the migration can simply be run again once they are settled.
      // Subjects compare byte for byte, as the key will (in binary where the collation ignores case).
      const accountId =
        capabilities.caseInsensitiveUnique === 'collation' ? sql`cast(account_id as binary)` : sql`account_id`
      const { rows } = await sql<{ oauth_name: string; account_id: unknown; n: unknown }>`
        select oauth_name, ${accountId} as account_id, count(*) as n from ${sql.table(table)}
        group by oauth_name, ${accountId} having count(*) > 1 order by oauth_name, 2`.execute(db)
      if (rows.length > 0) {
        const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value))
        const listed = rows
          .slice(0, 10)
          .map((r) => `${r.oauth_name}/${text(r.account_id)} (${Number(r.n)} rows)`)
          .join(', ')
        throw new DuplicateOAuthAccounts(
          `${table} links ${rows.length} provider account(s) to several rows: ${listed}${rows.length > 10 ? ', …' : ''}. ` +
            'Keep one row per (oauth_name, account_id) (the user who should own it), delete the others, then migrate again. ' +
            `Find them with: SELECT oauth_name, account_id, user_id FROM ${table} WHERE (oauth_name, account_id) IN ` +
            `(SELECT oauth_name, account_id FROM ${table} GROUP BY oauth_name, account_id HAVING count(*) > 1)`,
        )
      }
      const bool = sql.raw(capabilities.bindsBooleans ? 'false' : '0')
      await db.schema
        .alterTable(table)
        .addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(bool))
        .execute()
      // account_id already compares byte for byte everywhere (0005 gave it the exact collation on MariaDB)
      await db.schema
        .createIndex(`ux_${table}_oauth_name_account_id`)
        .unique()
        .on(table)
        .columns(['oauth_name', 'account_id'])
        .execute()
      await db.schema
        .createTable('oauth_state')
        .ifNotExists()
        .addColumn('jti', 'varchar(64)', (c) => c.notNull().primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('ix_oauth_state_expires_at')
        .ifNotExists()
        .on('oauth_state')
        .column('expires_at')
        .execute()
    },
  }
}
