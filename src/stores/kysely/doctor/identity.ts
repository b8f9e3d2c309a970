import { sql } from 'kysely'
import { emailIdentityKey } from '../../../core/email.js'
import { emailIndexName, type Inspection } from './inspection.js'
import type { DoctorReport, Finding } from './types.js'

/** E-mail identity (migration 0005): users sharing one identity, and users without their row in email_identity. */
export async function inspectIdentity(inspection: Inspection, keyed: boolean): Promise<DoctorReport['identity']> {
  const { db } = inspection.database
  const table = inspection.tables.user
  const rows = await db.selectFrom(table).select(['id', 'email']).orderBy('id').execute()
  const groups = new Map<string, string[]>()
  for (const row of rows) {
    const key = emailIdentityKey(String(row.email))
    groups.set(key, [...(groups.get(key) ?? []), String(row.id)])
  }
  const collisions = [...groups.values()].filter((ids) => ids.length > 1)
  if (!keyed) return { collisions, unkeyed: null }
  const { rows: counts } = await sql<{ n: unknown }>`select count(*) as n from ${sql.table(table)} u
    where not exists (select 1 from email_identity i where i.user_id = u.id)`.execute(db)
  return { collisions, unkeyed: Number(counts[0]?.n ?? 0) }
}

export function identityFindings(
  identity: DoctorReport['identity'],
  identityPending: boolean,
  tableExists: boolean,
): Finding[] {
  const findings: Finding[] = []
  if (identityPending && tableExists) {
    findings.push({
      severity: 'blocker',
      subject: 'table email_identity',
      message: 'exists, but 0005-identity has not run: the migration would fail creating it. Rename or drop it.',
    })
  }
  if (identity.collisions.length > 0) {
    const shown = identity.collisions
      .slice(0, 10)
      .map((ids) => ids.join(' = '))
      .join('; ')
    findings.push({
      severity: 'warning',
      subject: 'users',
      message:
        `${identity.collisions.length} e-mail identit${identity.collisions.length === 1 ? 'y is' : 'ies are'} shared ` +
        `by several users (their addresses are equal once normalised and lower-cased): ${shown}. ` +
        `${identityPending ? '0005-identity will give the identity to the first by id' : 'Only the first by id has the identity'}; ` +
        'the others cannot sign in, reset or verify by e-mail until an admin changes their address ' +
        '(PATCH /users/{id}) or merges them.',
    })
  }
  if (identity.unkeyed !== null && identity.unkeyed > 0) {
    findings.push({
      severity: 'warning',
      subject: 'users',
      message:
        `${identity.unkeyed} user(s) have no row in email_identity (written by another program since ` +
        '0005-identity, or sharing an identity with another user): they cannot sign in by e-mail. The next migrate ' +
        '(every start) gives each its identity unless another user already has it; those are listed above.',
    })
  }
  return findings
}

/** What 0005-identity would do here. */
export function identityChanges(inspection: Inspection): string[] {
  const { capabilities } = inspection.database
  const { user, accessToken, oauthAccount } = inspection.tables
  const changes: string[] = []
  const exact = capabilities.exactCollation
  if (exact !== null) {
    changes.push(
      `change the collation of ${user}.email, ${oauthAccount}.oauth_name and account_id, ${accessToken}.token, ` +
        `refresh_token.token_hash and refresh_token.family_id to ${exact} (types, nullability and indexes kept)`,
    )
  }
  changes.push(
    'create the table email_identity (email_key varchar(64) primary key, user_id unique) with the digest of each ' +
      'user’s e-mail identity (normalised, lower-cased): the user table’s rows and columns stay as they are',
  )
  if (capabilities.caseInsensitiveUnique === 'expression-index') {
    changes.push(`drop the index ${emailIndexName(inspection, '_lower')} (lower() is not the identity)`)
  }
  changes.push('record 0005-identity in kysely_migration')
  return changes
}
