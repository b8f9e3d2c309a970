import { createHash } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import { extraIdentifiers, identifierKey } from '../../core/identifiers.js'
import { DuplicateIdentifier } from '../../core/store.js'
import type { UserFields } from '../../core/user.js'
import { isUniqueViolation, scrubDatabaseError } from './errors.js'

/**
 * What `login_identity.identity_key` holds (migration 0011): the SHA-256 (lower-case hex) of the
 * value's `identifierKey`, so that the database compares identities byte for byte, under any collation.
 */
export function identifierDigest(value: string): string {
  return createHash('sha256').update(identifierKey(value)).digest('hex')
}

/** The extra login identifiers of a store, checked against the app's fields: a TypeError for one that is none. */
export function storeIdentifiers(identifiers: readonly string[] | undefined, fields: UserFields): string[] {
  const extra = extraIdentifiers(identifiers ?? [])
  for (const field of extra) {
    if (!(field in fields))
      throw new TypeError(`loginIdentifiers: "${field}" is not one of the user's fields (defineUserFields)`)
  }
  return extra
}

/**
 * Writes the identity of `field` for the user (inside the caller's transaction): the old one goes,
 * the new one (for a string value) comes; another user's identity refuses it (DuplicateIdentifier).
 */
export async function writeIdentity(
  // biome-ignore lint/suspicious/noExplicitAny: the user table's columns depend on the app's custom fields
  trx: Kysely<any>,
  userId: unknown,
  field: string,
  value: unknown,
  replace: boolean,
): Promise<void> {
  if (replace) await trx.deleteFrom('login_identity').where('user_id', '=', userId).where('field', '=', field).execute()
  if (typeof value !== 'string') return
  try {
    await trx
      .insertInto('login_identity')
      .values({ field, identity_key: identifierDigest(value), user_id: userId })
      .execute()
  } catch (error) {
    if (isUniqueViolation(error)) throw new DuplicateIdentifier(field, { cause: scrubDatabaseError(error) })
    throw error
  }
}

/**
 * Gives an identity to the users that have a value of an identifier and no row for it: rows another
 * program wrote, or values already there when the field became an identifier. A user whose value
 * another user already has keeps none (they cannot sign in by it). Returns how many got one.
 */
export async function assignMissingLoginIdentities(
  // biome-ignore lint/suspicious/noExplicitAny: as above
  db: Kysely<any>,
  userTable: string,
  identifiers: readonly string[],
): Promise<number> {
  let assigned = 0
  for (const field of identifiers) {
    const { rows } = await sql<{ id: unknown; value: unknown }>`select u.id, u.${sql.ref(field)} as value
      from ${sql.table(userTable)} u where u.${sql.ref(field)} is not null and not exists
      (select 1 from login_identity i where i.user_id = u.id and i.field = ${field}) order by u.id`.execute(db)
    for (const row of rows) {
      try {
        await writeIdentity(db, row.id, field, String(row.value), false)
        assigned++
      } catch (error) {
        if (!(error instanceof DuplicateIdentifier)) throw error
      }
    }
  }
  return assigned
}
