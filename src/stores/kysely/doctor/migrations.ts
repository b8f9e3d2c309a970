import { sql } from 'kysely'
import { builtInMigrations } from '../migrate.js'
import { fieldColumnType } from './columns.js'
import { identityChanges } from './identity.js'
import { emailIndexName, type Inspection, idColumnType } from './inspection.js'
import type { ColumnInfo, DoctorReport, Finding, IndexInfo, LinkedTable } from './types.js'

export type MigrationState = Omit<DoctorReport['migrations'], 'wouldDo'>

/** Which of fastify-users' migrations kysely_migration records, which are pending, which are an app's own. */
export async function migrationState(inspection: Inspection, tables: string[]): Promise<MigrationState> {
  const tableExists = tables.includes('kysely_migration')
  const applied = tableExists
    ? (
        await sql<{ name: string }>`select name from kysely_migration order by name`.execute(inspection.database.db)
      ).rows.map((r) => r.name)
    : []
  const ours = Object.keys(builtInMigrations(inspection.database))
  return {
    tableExists,
    applied,
    pending: ours.filter((name) => !applied.includes(name)),
    unknown: applied.filter((name) => !ours.includes(name)),
  }
}

export function migrationFindings(state: MigrationState): Finding[] {
  const findings: Finding[] = []
  if (!state.tableExists) {
    findings.push({
      severity: 'note',
      subject: 'migrations',
      message: `fastify-users has not migrated this database yet; pending: ${state.pending.join(', ')}`,
    })
  } else if (state.pending.length > 0) {
    findings.push({ severity: 'note', subject: 'migrations', message: `pending: ${state.pending.join(', ')}` })
  }
  if (state.unknown.length > 0) {
    findings.push({
      severity: 'warning',
      subject: 'migrations',
      message:
        `kysely_migration records migrations fastify-users does not ship (${state.unknown.join(', ')}): an app's own. ` +
        'Pass them to migrateToLatest({ migrations }); without them Kysely refuses to migrate.',
    })
  }
  return findings
}

export interface PlanInput {
  state: MigrationState
  userTable: { exists: boolean; indexes: IndexInfo[]; byName: Map<string, ColumnInfo> }
  linked: { accessToken: LinkedTable; oauthAccount: LinkedTable }
}

/** What running the migrations would change here, in order. */
export function plannedChanges(inspection: Inspection, { state, userTable, linked }: PlanInput): string[] {
  const changes: string[] = []
  if (!state.tableExists) changes.push('create the tables kysely_migration and kysely_migration_lock')
  const steps: Record<string, () => string[]> = {
    '0001-user': () => userTableChanges(inspection, userTable),
    '0002-accesstoken': () => [linkedTableChange(inspection, linked.accessToken)],
    '0003-refresh-token': () => [`create the table refresh_token (user_id ${idColumnType(inspection)})`],
    '0004-oauth-account': () => [linkedTableChange(inspection, linked.oauthAccount)],
    '0005-identity': () => identityChanges(inspection),
    '0006-oauth-unique-and-state': () => [
      `add email_verified and the unique key on (oauth_name, account_id) to ${inspection.tables.oauthAccount}; create the table oauth_state`,
    ],
    '0007-rate-limit': () => ['create the table rate_limit'],
    '0008-session-info': () => [`create the table session_info (user_id ${idColumnType(inspection)})`],
    '0009-second-factor': () => [
      `create the tables totp_secret, recovery_code, login_ticket and step_up (user_id ${idColumnType(inspection)})`,
    ],
    '0010-passkeys': () => [`create the tables passkey and passkey_challenge (user_id ${idColumnType(inspection)})`],
    '0011-login-identity': () => [
      `create the table login_identity (field, identity_key, user_id ${idColumnType(inspection)}): the keys of the ` +
        'login identifiers besides the e-mail (a username), empty until the app names some',
    ],
    '0012-audit-events': () => ['create the table auth_event (the audit log; user_id as text, no foreign key)'],
  }
  for (const name of state.pending) {
    const step = steps[name]
    if (!step) {
      changes.push(`run ${name}`)
      continue
    }
    changes.push(...step())
    if (name !== '0005-identity') changes.push(`record ${name} in kysely_migration`)
  }
  for (const [name, spec] of Object.entries(inspection.fields)) {
    if (userTable.byName.has(name)) continue
    changes.push(
      `add the column ${name} ${fieldColumnType(spec)} ${spec.nullable ? 'NULL' : 'NOT NULL with a default'}`,
    )
  }
  return changes
}

function userTableChanges(inspection: Inspection, userTable: PlanInput['userTable']): string[] {
  const changes: string[] = []
  if (!userTable.exists) changes.push(`create the table "${inspection.tables.user}" (id ${idColumnType(inspection)})`)
  const has = (index: string) => userTable.indexes.some((i) => i.name === index)
  const email = emailIndexName(inspection)
  if (!has(email)) changes.push(`create the unique index ${email} on email`)
  const lower = emailIndexName(inspection, '_lower')
  if (inspection.database.capabilities.caseInsensitiveUnique === 'expression-index' && !has(lower)) {
    changes.push(`create the unique index ${lower} on lower(email)`)
  }
  return changes
}

function linkedTableChange(inspection: Inspection, table: LinkedTable): string {
  return table.exists
    ? `keep the table "${table.name}" and its ${table.rows} row(s) as they are`
    : `create the table "${table.name}" (user_id ${idColumnType(inspection)})`
}
