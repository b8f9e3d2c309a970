import { emailIndexName, type Inspection } from './inspection.js'
import type { ColumnInfo, IndexCheck, IndexInfo } from './types.js'

/** The user table's e-mail indexes, and on MariaDB/MySQL the e-mail column's collation. */
export function checkIndexes(
  inspection: Inspection,
  indexes: IndexInfo[],
  email: ColumnInfo | undefined,
  state: { tableMigrationPending: boolean; identityPending: boolean },
): IndexCheck[] {
  const missing = (what: string): Pick<IndexCheck, 'severity' | 'remark'> =>
    state.tableMigrationPending
      ? { severity: 'note', remark: `missing: the migrations will create it (${what})` }
      : {
          severity: 'warning',
          remark: `missing, and the migrations will not create it (0001-user has run): create it (${what})`,
        }
  const checks: IndexCheck[] = [emailIndex(inspection, indexes, missing)]
  const collation = emailCollation(inspection, email, state.identityPending)
  if (collation) checks.push(collation)
  // Once 0005-identity has run, ix_…_email_lower is gone: lower() is not the identity.
  if (state.identityPending && inspection.database.capabilities.caseInsensitiveUnique === 'expression-index') {
    const name = emailIndexName(inspection, '_lower')
    const lower = indexes.find((i) => i.name === name) ?? null
    checks.push(
      lower
        ? { name, found: lower, severity: 'ok', remark: 'unique, on lower(email)' }
        : { name, found: null, ...missing('unique, on lower(email)') },
    )
  }
  return checks
}

function emailIndex(
  inspection: Inspection,
  indexes: IndexInfo[],
  missing: (what: string) => Pick<IndexCheck, 'severity' | 'remark'>,
): IndexCheck {
  const name = emailIndexName(inspection)
  const email = indexes.find((i) => i.name === name) ?? null
  if (!email) return { name, found: null, ...missing('unique, on email') }
  if (email.unique && email.columns.length === 1 && email.columns[0] === 'email') {
    return { name, found: email, severity: 'ok', remark: 'unique, on email' }
  }
  return {
    name,
    found: email,
    severity: 'warning',
    remark: `is ${email.unique ? 'unique' : 'not unique'} on (${email.columns.join(', ')}); fastapi-users makes it unique on email. Left as it is.`,
  }
}

function emailCollation(
  inspection: Inspection,
  email: ColumnInfo | undefined,
  identityPending: boolean,
): IndexCheck | null {
  const exact = inspection.database.capabilities.exactCollation
  if (exact === null) return null
  const collation = email?.collation ?? null
  const isExact = collation === exact
  return {
    name: 'email collation',
    found: null,
    severity: isExact || identityPending ? 'ok' : 'warning',
    remark: isExact
      ? `byte for byte (${collation}); e-mail identity is decided by the table email_identity`
      : identityPending
        ? `${collation ?? 'none'}: folds case, accents and trailing spaces; 0005-identity changes it to ${exact}, ` +
          'so that look-alike addresses are different accounts (identity is then decided by email_identity)'
        : `${collation ?? 'none'}, not ${exact}: the database may hold look-alike addresses equal ` +
          `(ALTER TABLE \`${inspection.tables.user}\` MODIFY email … COLLATE ${exact})`,
  }
}
