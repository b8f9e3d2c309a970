import { sql } from 'kysely'
import { ID_FAMILIES, idTypeOf, idTypeSetting } from './column-info.js'
import type { Inspection } from './inspection.js'
import type { Finding, LinkedTable, TableNames } from './types.js'

type LinkedKey = Exclude<keyof TableNames, 'user'>

/** The columns fastify-users reads in each table that references users, as fastapi-users creates them. */
export const LINKED_COLUMNS: Record<LinkedKey, string[]> = {
  accessToken: ['token', 'created_at', 'user_id'],
  oauthAccount: ['id', 'oauth_name', 'access_token', 'account_id', 'account_email', 'user_id'],
}

/** The setting (service, then library) that names each table. */
export const TABLE_SETTINGS: Record<keyof TableNames, string> = {
  user: 'USER_TABLE',
  accessToken: 'ACCESS_TOKEN_TABLE',
  oauthAccount: 'OAUTH_ACCOUNT_TABLE',
}

/**
 * A table referencing users under its configured name: its rows and the type of its user_id, a blocker
 * when it lacks a column fastify-users reads or its user_id is not of the app's id type.
 */
export async function inspectLinkedTable(
  inspection: Inspection,
  key: LinkedKey,
  tables: string[],
): Promise<{ table: LinkedTable; findings: Finding[] }> {
  const name = inspection.tables[key]
  if (!tables.includes(name)) return { table: { name, exists: false, rows: null, userIdType: null }, findings: [] }
  const { database, dialect, idType } = inspection
  const columns = await dialect.describeColumns(database.db, name)
  const { rows } = await sql<{ n: unknown }>`select count(*) as n from ${sql.table(name)}`.execute(database.db)
  const userId = columns.find((c) => c.name === 'user_id')
  const table = { name, exists: true, rows: Number(rows[0]?.n ?? 0), userIdType: userId?.type ?? null }
  const findings: Finding[] = []
  const missing = LINKED_COLUMNS[key].filter((column) => !columns.some((c) => c.name === column))
  if (missing.length > 0) {
    findings.push({
      severity: 'blocker',
      subject: `table ${name}`,
      message:
        `has no column ${missing.join(', ')}: it is not fastapi-users’ table, and fastify-users reads them. ` +
        `Rename it, or name another with ${TABLE_SETTINGS[key]}.`,
    })
  }
  if (userId && !ID_FAMILIES[idType].includes(userId.family)) {
    const found = idTypeOf(userId)
    findings.push({
      severity: 'blocker',
      subject: `table ${name}`,
      message:
        `user_id is ${userId.type}, while the app declares ${idType} ids` +
        (found === 'other' ? '.' : `: set ${idTypeSetting(found)} if the user table’s ids are ${found} too.`),
    })
  }
  return { table, findings }
}

/** What the doctor says of fastapi-users' access tokens it is about to adopt. */
export function accessTokenNote(table: LinkedTable, pending: boolean): Finding[] {
  if (!table.exists || !table.rows || !pending) return []
  return [
    {
      severity: 'note',
      subject: `table ${table.name}`,
      message:
        `${table.rows} token(s) fastapi-users’ database strategy wrote (user_id ${table.userIdType}): the table is ` +
        'adopted as it is, and they keep working on a database-strategy backend',
    },
  ]
}

/**
 * Provider accounts linked by several OAuth-account rows, compared byte for byte as migration 0006's
 * unique key compares them (where string columns have a case-insensitive collation, in binary).
 */
export async function oauthDuplicates(inspection: Inspection): Promise<{ groups: number; finding: Finding } | null> {
  const name = inspection.tables.oauthAccount
  const accountId =
    inspection.database.capabilities.caseInsensitiveUnique === 'collation'
      ? sql`cast(account_id as binary)`
      : sql`account_id`
  const { rows } = await sql<{ oauth_name: string; account_id: unknown; n: unknown }>`
    select oauth_name, ${accountId} as account_id, count(*) as n from ${sql.table(name)}
    group by oauth_name, ${accountId} having count(*) > 1 order by oauth_name, 2`.execute(inspection.database.db)
  if (rows.length === 0) return null
  const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value))
  const examples = rows.slice(0, 5).map((r) => `${r.oauth_name}/${text(r.account_id)}: ${Number(r.n)} rows`)
  return {
    groups: rows.length,
    finding: {
      severity: 'blocker',
      subject: name,
      message:
        `${rows.length} provider account(s) are linked by several rows (${examples.join(', ')}` +
        `${rows.length > examples.length ? ', …' : ''}): a sign-in with one of them opens ` +
        'whichever user the database returns first, and migration 0006’s unique key on (oauth_name, account_id) ' +
        'cannot be created. Keep one row each (the user who should own it) and delete the others; find them with: ' +
        `SELECT oauth_name, account_id, user_id FROM ${name} WHERE (oauth_name, account_id) IN (SELECT ` +
        `oauth_name, account_id FROM ${name} GROUP BY oauth_name, account_id HAVING count(*) > 1)`,
    },
  }
}
