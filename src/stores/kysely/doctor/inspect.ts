import type { Database } from '../database.js'
import { idTypeOf } from './column-info.js'
import { checkColumns } from './columns.js'
import { dialectOf } from './dialect.js'
import { redactUrl } from './format.js'
import { identityFindings, inspectIdentity } from './identity.js'
import { checkIndexes } from './indexes.js'
import type { Inspection } from './inspection.js'
import { accessTokenNote, inspectLinkedTable, oauthDuplicates } from './linked-tables.js'
import { loginIdentityFindings } from './login-identity.js'
import { findLookalikes, lookalikeFindings } from './lookalikes.js'
import { migrationFindings, migrationState, plannedChanges } from './migrations.js'
import { DEFAULT_TABLES, type DoctorReport, type Finding, type InspectOptions } from './types.js'
import { countUsers, userFindings } from './users.js'

const ALEMBIC: Finding = {
  severity: 'note',
  subject: 'alembic_version',
  message:
    'Alembic manages this database. fastify-users records its own migrations in kysely_migration and never ' +
    'touches alembic_version; stop running Alembic revisions on the user table once you have switched.',
}

/** Everything the doctor knows about this database, for the app declaring this model. Only reads. */
export async function inspectDatabase(database: Database, options: InspectOptions = {}): Promise<DoctorReport> {
  // The model the options name, else the one the database was opened with (openDatabase's userIdType, tables).
  const idType = options.idType ?? database.userIdType ?? 'uuid'
  const tableNames = { ...DEFAULT_TABLES, ...database.tables, ...options.tables }
  const inspection: Inspection = {
    database: { ...database, userIdType: idType, tables: tableNames },
    dialect: dialectOf(database),
    idType,
    tables: tableNames,
    fields: options.fields ?? {},
  }
  const { dialect, tables: names } = inspection
  const tables = await dialect.listTables(database.db)
  const exists = tables.includes(names.user)
  const columns = exists ? await dialect.describeColumns(database.db, names.user) : []
  const indexes = exists ? await dialect.listIndexes(database.db, names.user) : []
  const byName = new Map(columns.map((c) => [c.name, c]))
  const state = await migrationState(inspection, tables)
  const identityPending = state.pending.includes('0005-identity')
  const findings: Finding[] = []

  // The user table: its columns (base, declared, others), then its indexes.
  const checks = exists ? await checkColumns(inspection, columns) : []
  for (const check of checks) {
    if (check.severity !== 'ok' && check.remark) {
      findings.push({ severity: check.severity, subject: `column ${check.name}`, message: check.remark })
    }
  }
  const users = exists ? await countUsers(inspection, byName) : null
  const indexChecks = exists
    ? checkIndexes(inspection, indexes, byName.get('email'), {
        tableMigrationPending: state.pending.includes('0001-user'),
        identityPending,
      })
    : []
  for (const check of indexChecks) {
    if (check.severity !== 'ok')
      findings.push({ severity: check.severity, subject: `index ${check.name}`, message: check.remark })
  }

  // The tables referencing users, and those an app may have named otherwise.
  const accessToken = await inspectLinkedTable(inspection, 'accessToken', tables)
  const oauthAccount = await inspectLinkedTable(inspection, 'oauthAccount', tables)
  const lookalikes = await findLookalikes(inspection, tables, {
    user: !exists,
    accessToken: !accessToken.table.exists,
    oauthAccount: !oauthAccount.table.exists,
  })
  findings.push(...lookalikeFindings(inspection, lookalikes, exists))
  const alembic = tables.includes('alembic_version')
  if (alembic) findings.push(ALEMBIC)

  if (users) findings.push(...userFindings(inspection, users))
  const duplicates = oauthAccount.table.exists ? await oauthDuplicates(inspection) : null
  if (duplicates) findings.push(duplicates.finding)
  findings.push(...accessToken.findings, ...oauthAccount.findings)
  findings.push(...accessTokenNote(accessToken.table, state.pending.includes('0002-accesstoken')))

  const identity = exists
    ? await inspectIdentity(inspection, tables.includes('email_identity') && !identityPending)
    : { collisions: [], unkeyed: null }
  findings.push(...identityFindings(identity, identityPending, tables.includes('email_identity')))
  findings.push(
    ...loginIdentityFindings(state.pending.includes('0011-login-identity'), tables.includes('login_identity')),
  )

  const linkedTables = { accessToken: accessToken.table, oauthAccount: oauthAccount.table }
  const wouldDo = plannedChanges(inspection, { state, userTable: { exists, indexes, byName }, linked: linkedTables })
  findings.push(...migrationFindings(state))

  const id = byName.get('id')
  return {
    database: { kind: database.kind, url: redactUrl(options.url ?? '') },
    idType: inspection.idType,
    table: { name: names.user, exists, rows: users?.total ?? null, idType: id ? idTypeOf(id) : null },
    columns: checks,
    indexes: indexChecks,
    users,
    linkedTables,
    migrations: { ...state, wouldDo },
    identity,
    otherTables: {
      alembic,
      lookalikes: lookalikes.user.map((t) => t.name),
      accessTokenLookalikes: lookalikes.accessToken.map((t) => t.name),
      oauthAccountLookalikes: lookalikes.oauthAccount.map((t) => t.name),
    },
    oauthDuplicates: duplicates?.groups ?? 0,
    findings,
    ready: !findings.some((f) => f.severity === 'blocker'),
  }
}
