import { type RawBuilder, sql } from 'kysely'
import { OWASP_ARGON2ID } from '../../../core/passwords.js'
import { idTypeOf } from './column-info.js'
import type { Inspection } from './inspection.js'
import type { ColumnInfo, Finding, UserCounts } from './types.js'

const sum = (condition: RawBuilder<unknown>) => sql`coalesce(sum(case when ${condition} then 1 else 0 end), 0)`

/** How many users, of which kinds, with which password hashes. */
export async function countUsers(inspection: Inspection, byName: Map<string, ColumnInfo>): Promise<UserCounts> {
  const { database, dialect } = inspection
  const table = sql.table(inspection.tables.user)
  const flag = (name: string): RawBuilder<unknown> => {
    const column = byName.get(name)
    return column ? dialect.countTrue(column, sum) : sql`0`
  }
  const hash = sql.ref('hashed_password')
  const { memoryCost: m, timeCost: t, parallelism: p } = OWASP_ARGON2ID
  const current = `$argon2id$v=19$m=${m},t=${t},p=${p}$%`
  const hasHash = byName.has('hashed_password')
  const [row] = (
    await sql<Record<string, unknown>>`select
      count(*) as total,
      ${flag('is_active')} as active,
      ${flag('is_superuser')} as superusers,
      ${flag('is_verified')} as verified,
      ${hasHash ? sum(sql`${hash} like ${current}`) : sql`0`} as current_hashes,
      ${hasHash ? sum(sql`${hash} like '$2a$%' or ${hash} like '$2b$%' or ${hash} like '$2y$%'`) : sql`0`} as bcrypt,
      ${hasHash ? sum(sql`${hash} like '$argon2%' and not ${hash} like ${current}`) : sql`0`} as argon2_other,
      ${nonCanonicalIds(inspection, byName.get('id'))} as non_canonical_ids
      from ${table}`.execute(database.db)
  ).rows
  const n = (key: string) => Number(row?.[key] ?? 0)
  const hashes = {
    current: n('current_hashes'),
    bcrypt: n('bcrypt'),
    argon2Other: n('argon2_other'),
    unrecognised: n('total') - n('current_hashes') - n('bcrypt') - n('argon2_other'),
  }
  return {
    total: n('total'),
    active: n('active'),
    superusers: n('superusers'),
    verified: n('verified'),
    hashes: hasHash ? hashes : { current: 0, bcrypt: 0, argon2Other: 0, unrecognised: 0 },
    legacy: hashes.bcrypt + hashes.argon2Other,
    emailsDifferingInCase: byName.has('email') ? await countEmailsDifferingInCase(inspection) : 0,
    nonCanonicalIds: n('non_canonical_ids'),
  }
}

/** UUIDs kept as text must be canonical (lower case, 8-4-4-4-12); native uuids and integers always are. */
function nonCanonicalIds(inspection: Inspection, id: ColumnInfo | undefined): RawBuilder<unknown> {
  if (id?.family !== 'string' || idTypeOf(id) !== 'uuid' || inspection.idType !== 'uuid') return sql`0`
  return inspection.dialect.caseSensitiveText
    ? sum(sql`length(id) <> 36 or id <> lower(id)`)
    : sum(sql`length(id) <> 36`)
}

async function countEmailsDifferingInCase(inspection: Inspection): Promise<number> {
  const { rows } = await sql<{ n: unknown }>`select count(*) as n from (
      select lower(email) as e from ${sql.table(inspection.tables.user)} group by lower(email) having count(*) > 1
    ) duplicates`.execute(inspection.database.db)
  return Number(rows[0]?.n ?? 0)
}

export function userFindings(inspection: Inspection, users: UserCounts): Finding[] {
  const findings: Finding[] = []
  if (users.total === 0) findings.push({ severity: 'note', subject: 'users', message: 'the user table is empty' })
  if (users.legacy > 0) {
    findings.push({
      severity: 'note',
      subject: 'users',
      message:
        `${users.legacy} of ${users.total} user(s) have legacy password hashes (${users.hashes.bcrypt} bcrypt, ` +
        `${users.hashes.argon2Other} argon2 with other parameters): they log in with them as they are, and each ` +
        'is replaced by an argon2id hash at that user’s next successful login',
    })
  }
  if (users.hashes.unrecognised > 0) {
    findings.push({
      severity: 'warning',
      subject: 'users',
      message:
        `${users.hashes.unrecognised} user(s) have password hashes fastify-users cannot verify (neither bcrypt nor ` +
        'argon2): they cannot log in until they reset their password',
    })
  }
  if (users.emailsDifferingInCase > 0) {
    const lower = inspection.database.capabilities.caseInsensitiveUnique === 'expression-index'
    findings.push({
      severity: 'blocker',
      subject: 'users',
      message:
        `${users.emailsDifferingInCase} e-mail address(es) belong to several users that differ only in letter case ` +
        `(find them with: SELECT lower(email), count(*) FROM "${inspection.tables.user}" GROUP BY lower(email) ` +
        `HAVING count(*) > 1): login cannot tell them apart` +
        `${lower ? ' and the migration’s unique index on lower(email) cannot be created' : ''}. ` +
        'Merge or rename them first.',
    })
  }
  if (users.nonCanonicalIds > 0) {
    findings.push({
      severity: 'warning',
      subject: 'users',
      message:
        `${users.nonCanonicalIds} user id(s) are not canonical lower-case UUIDs (8-4-4-4-12): fastify-users looks ` +
        'ids up in that form, so these users’ tokens and updates will not find them. Rewrite them as lower(id).',
    })
  }
  return findings
}
