import { createHash } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import { emailIdentityKey } from '../../core/email.js'
import { isUniqueViolation } from './errors.js'

/**
 * What `email_identity.email_key` holds: the SHA-256 (lower-case hex) of the address's identity key.
 * Hex of one fixed length compares the same under every collation, so the database's primary
 * key and look-ups decide identity exactly as `emailIdentityKey` does, on every database.
 */
export function emailKeyDigest(email: string): string {
  return createHash('sha256').update(emailIdentityKey(email)).digest('hex')
}

/**
 * Gives an identity to the users that have none: rows another program wrote since 0005-identity
 * (fastapi-users itself, after a rollback and a switch back). A user whose identity another user
 * already has keeps none (doctor lists them). Returns how many got one.
 */
// biome-ignore lint/suspicious/noExplicitAny: the user table's columns depend on the app's custom fields
export async function assignMissingIdentities(db: Kysely<any>, userTable = 'user'): Promise<number> {
  const { rows } = await sql<{ id: unknown; email: unknown }>`select u.id, u.email from ${sql.table(userTable)} u
    where not exists (select 1 from email_identity i where i.user_id = u.id) order by u.id`.execute(db)
  let assigned = 0
  for (const row of rows) {
    const key = emailKeyDigest(String(row.email))
    try {
      await db.insertInto('email_identity').values({ email_key: key, user_id: row.id }).execute()
      assigned++
    } catch (error) {
      // Another user has this identity (or a request took it meanwhile): this one stays without.
      if (!isUniqueViolation(error)) throw error
    }
  }
  return assigned
}
