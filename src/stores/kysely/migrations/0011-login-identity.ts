import type { Kysely, Migration } from 'kysely'
import type { Capabilities } from '../database.js'
import { type UserSchema, userIdColumn } from './0001-user.js'

/**
 * Login identifiers besides the e-mail (issue #17): the table `login_identity` holds, for each
 * user and each of the app's `loginIdentifiers` (a `username`, say) that has a value, the digest
 * of the value's `identifierKey` (core/identifiers.ts). Its primary key (field, identity_key) is
 * what keeps a value unique under concurrent writes, on every database, as `email_identity` does
 * for addresses; (user_id, field) is unique too, and the rows go with their user. Created empty:
 * which fields identify users is the app's choice, and `migrateToLatest({ loginIdentifiers })`
 * keys the users that have a value and no row. The user table is not touched.
 * Frozen: this file never changes once released.
 */
export function loginIdentityTable(capabilities: Capabilities, schema: UserSchema): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no app type
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('login_identity')
        .addColumn('field', 'varchar(64)', (c) => c.notNull())
        .addColumn('identity_key', 'varchar(64)', (c) => c.notNull())
        .addColumn('user_id', userIdColumn(capabilities, schema), (c) =>
          c.notNull().references(`${schema.tables.user}.id`).onDelete('cascade'),
        )
        .addPrimaryKeyConstraint('pk_login_identity', ['field', 'identity_key'])
        .addUniqueConstraint('uq_login_identity_user_field', ['user_id', 'field'])
        .execute()
    },
  }
}
