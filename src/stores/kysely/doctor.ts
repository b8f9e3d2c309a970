import { existsSync } from 'node:fs'
import { Kysely, type RawBuilder, SqliteDialect, sql } from 'kysely'
import { emailIdentityKey } from '../../core/email.js'
import { OWASP_ARGON2ID } from '../../core/passwords.js'
import type { FieldSpec, UserFields } from '../../core/user.js'
import { type Database, type DatabaseOptions, openDatabase } from './database.js'
import { builtInMigrations, columnTypeOf } from './migrate.js'
import { sqliteDriver } from './sqlite-driver.js'

/**
 * The doctor: looks at a database (typically one fastapi-users wrote) and says whether fastify-users can
 * adopt it as it is, what its migrations would do there and what needs attention first. It only reads.
 */

/** ok: as expected; note: worth knowing; warning: works, but look at it; blocker: fix it before switching. */
export type Severity = 'ok' | 'note' | 'warning' | 'blocker'

export interface Finding {
  severity: Exclude<Severity, 'ok'>
  /** What it is about: `column email`, `index ix_user_email`, `users`, `migrations`, `table user`… */
  subject: string
  message: string
}

export type TypeFamily = 'uuid' | 'string' | 'boolean' | 'integer' | 'number' | 'datetime' | 'json' | 'other'

/** A column as the database describes it. */
export interface ColumnInfo {
  name: string
  /** The type as the database spells it, lower case (`varchar(320)`, `uuid`, `tinyint(1)`, `text`). */
  type: string
  family: TypeFamily
  maxLength: number | null
  nullable: boolean
  hasDefault: boolean
  /** MariaDB/MySQL string columns only. */
  collation: string | null
}

export interface IndexInfo {
  name: string
  unique: boolean
  /** Column names, or expressions such as `lower(email)`. */
  columns: string[]
}

export interface ColumnCheck {
  name: string
  /** base: every fastify-users user has it; field: a custom field the app declares; undeclared: nobody declared it. */
  role: 'base' | 'field' | 'undeclared'
  /** What fastify-users expects, e.g. `varchar(320) NOT NULL`. */
  expected: string | null
  /** What the database has; null when the column is missing. */
  found: ColumnInfo | null
  severity: Severity
  remark?: string
  /** For a custom column: the `defineUserFields` entry that declares it. */
  declaration?: string
}

export interface IndexCheck {
  name: string
  found: IndexInfo | null
  severity: Severity
  remark: string
}

export interface UserCounts {
  total: number
  active: number
  superusers: number
  verified: number
  hashes: {
    /** argon2id with the parameters fastify-users uses: nothing to do. */
    current: number
    /** passlib bcrypt ($2a$, $2b$, $2y$): verified, re-hashed with argon2id at the next login. */
    bcrypt: number
    /** argon2 with other parameters or variants (pwdlib, fastapi-users 13+): verified, re-hashed at the next login. */
    argon2Other: number
    /** Anything else: these users cannot log in until they reset their password. */
    unrecognised: number
  }
  /** bcrypt + argon2Other. */
  legacy: number
  /** Addresses that differ only in letter case (groups): login cannot tell them apart. */
  emailsDifferingInCase: number
  /** Text ids not in the canonical lower-case 8-4-4-4-12 form. */
  nonCanonicalIds: number
}

export interface DoctorReport {
  database: { kind: Database['kind']; url: string }
  table: { name: 'user'; exists: boolean; rows: number | null }
  columns: ColumnCheck[]
  indexes: IndexCheck[]
  users: UserCounts | null
  migrations: {
    /** Whether kysely_migration, where fastify-users records its migrations, exists. */
    tableExists: boolean
    applied: string[]
    pending: string[]
    /** Recorded migrations fastify-users does not ship (an app's own). */
    unknown: string[]
    /** What running the migrations would change here, in order. */
    wouldDo: string[]
  }
  /**
   * E-mail identity (migration 0005): groups of user ids whose addresses are one identity
   * (`emailIdentityKey`), and, once 0005 has run, how many rows have no `email_key`.
   */
  identity: { collisions: string[][]; unkeyed: number | null }
  /** Other tables of note: alembic_version; tables that look like a renamed user table. */
  otherTables: { alembic: boolean; lookalikes: string[] }
  /** Provider accounts (oauth_name, account_id, compared byte for byte) linked by more than one oauth_account row. */
  oauthDuplicates: number
  findings: Finding[]
  /** No blocker: `fastify-users migrate` and the service can start on this database as it is. */
  ready: boolean
}

export interface InspectOptions {
  /** The app's custom fields (`defineUserFields`), as it passes them to migrateToLatest. */
  fields?: UserFields
  /** Shown in the report (its password masked). */
  url?: string
}

export class DoctorError extends Error {}

const TABLE = 'user'
/** The length of the argon2id hashes fastify-users writes ($argon2id$v=19$m=19456,t=2,p=1$ + salt + hash). */
const ARGON2ID_HASH_LENGTH = 97
const EMAIL_LENGTH = 320
const FLAGS = ['is_active', 'is_superuser', 'is_verified'] as const

/**
 * Opens a database for inspection without changing it: SQLite files read-only (never created, never switched
 * to WAL), PostgreSQL and MariaDB/MySQL through one pooled connection that only runs SELECTs.
 */
export async function openDatabaseReadOnly(url: string, options: DatabaseOptions = {}): Promise<Database> {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase()
  if (scheme !== 'sqlite') return openDatabase(url, { ...options, poolSize: 1 })
  const file = url.replace(/^sqlite:(\/\/)?/i, '')
  if (file === '' || file === ':memory:') throw new DoctorError('an in-memory SQLite database has nothing to inspect')
  if (!existsSync(file)) throw new DoctorError(`${file} does not exist (the service would create an empty database)`)
  // SQLite's capabilities exactly as openDatabase gives them, read from a throwaway in-memory database.
  const memory = openDatabase('sqlite::memory:', options)
  const { capabilities, userIdType, tables } = memory
  await memory.close()
  const SQLite = sqliteDriver()
  const sqlite = new SQLite(file, { readonly: true, fileMustExist: true, timeout: options.timeoutMs ?? 5000 })
  const db = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) })
  return { db, kind: 'sqlite', capabilities, userIdType, tables, close: () => db.destroy() }
}

/** Everything the doctor knows about this database, for the app declaring these fields. Only reads. */
export async function inspectDatabase(database: Database, options: InspectOptions = {}): Promise<DoctorReport> {
  const fields = options.fields ?? {}
  const findings: Finding[] = []
  const tables = await listTables(database)
  const exists = tables.includes(TABLE)
  const columns = exists ? await describeColumns(database, TABLE) : []
  const indexes = exists ? await listIndexes(database, TABLE) : []
  const byName = new Map(columns.map((c) => [c.name, c]))

  const migrationTable = tables.includes('kysely_migration')
  const applied = migrationTable
    ? (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(database.db)).rows.map(
        (r) => r.name,
      )
    : []
  const ours = Object.keys(builtInMigrations(database))
  const pending = ours.filter((name) => !applied.includes(name))
  const unknown = applied.filter((name) => !ours.includes(name))
  const tableMigrationPending = pending.includes('0001-user')
  const identityPending = pending.includes('0005-identity')

  // Columns: the base user, the declared fields, then whatever else the table has.
  const checks: ColumnCheck[] = []
  if (exists) {
    for (const base of baseColumns(database)) checks.push(checkBase(base, byName.get(base.name), database))
    for (const [name, spec] of Object.entries(fields)) {
      checks.push(await checkField(database, name, spec, byName.get(name)))
    }
    const known = new Set([...baseColumns(database).map((b) => b.name), ...Object.keys(fields)])
    for (const column of columns.filter((c) => !known.has(c.name))) checks.push(checkUndeclared(column))
  }
  for (const check of checks) {
    if (check.severity !== 'ok' && check.remark) {
      findings.push({ severity: check.severity, subject: `column ${check.name}`, message: check.remark })
    }
  }

  const users = exists ? await countUsers(database, byName) : null
  const indexChecks = exists ? checkIndexes(database, indexes, byName, tableMigrationPending, identityPending) : []
  for (const check of indexChecks) {
    if (check.severity !== 'ok')
      findings.push({ severity: check.severity, subject: `index ${check.name}`, message: check.remark })
  }

  // Tables: the user table itself, and what else a fastapi-users app may have left.
  const lookalikes = exists ? [] : await findLookalikes(database, tables)
  if (!exists && lookalikes.length > 0) {
    findings.push({
      severity: 'blocker',
      subject: 'table user',
      message:
        `there is no table "user", but ${lookalikes.map((t) => `"${t}"`).join(', ')} has fastapi-users' columns: ` +
        'fastify-users reads the table named "user" and would create a second, empty one beside it. ' +
        'Rename the table (ALTER TABLE … RENAME TO "user") or point DATABASE_URL at the right database.',
    })
  } else if (!exists) {
    findings.push({
      severity: 'warning',
      subject: 'table user',
      message:
        'there is no table "user": the migrations will create it, empty. If you meant to adopt a fastapi-users ' +
        'database, DATABASE_URL points somewhere else.',
    })
  }
  const alembic = tables.includes('alembic_version')
  if (alembic) {
    findings.push({
      severity: 'note',
      subject: 'alembic_version',
      message:
        'Alembic manages this database. fastify-users records its own migrations in kysely_migration and never ' +
        'touches alembic_version; stop running Alembic revisions on the user table once you have switched.',
    })
  }

  if (users) findings.push(...userFindings(users, database))
  const oauthDuplicates = tables.includes('oauth_account') ? await countOAuthDuplicates(database) : null
  if (oauthDuplicates) {
    findings.push({
      severity: 'blocker',
      subject: 'oauth_account',
      message:
        `${oauthDuplicates.groups} provider account(s) are linked by several rows (${oauthDuplicates.examples.join(', ')}` +
        `${oauthDuplicates.groups > oauthDuplicates.examples.length ? ', …' : ''}): a sign-in with one of them opens ` +
        'whichever user the database returns first, and migration 0006’s unique key on (oauth_name, account_id) ' +
        'cannot be created. Keep one row each (the user who should own it) and delete the others; find them with: ' +
        'SELECT oauth_name, account_id, user_id FROM oauth_account WHERE (oauth_name, account_id) IN (SELECT ' +
        'oauth_name, account_id FROM oauth_account GROUP BY oauth_name, account_id HAVING count(*) > 1)',
    })
  }
  const identity = exists
    ? await inspectIdentity(database, tables.includes('email_identity') && !identityPending)
    : { collisions: [], unkeyed: null }
  findings.push(...identityFindings(identity, identityPending, tables.includes('email_identity')))

  const wouldDo = plannedChanges(database, { exists, indexes, byName, fields, migrationTable, pending })
  if (!migrationTable) {
    findings.push({
      severity: 'note',
      subject: 'migrations',
      message: `fastify-users has not migrated this database yet; pending: ${pending.join(', ')}`,
    })
  } else if (pending.length > 0) {
    findings.push({ severity: 'note', subject: 'migrations', message: `pending: ${pending.join(', ')}` })
  }
  if (unknown.length > 0) {
    findings.push({
      severity: 'warning',
      subject: 'migrations',
      message:
        `kysely_migration records migrations fastify-users does not ship (${unknown.join(', ')}): an app's own. ` +
        'Pass them to migrateToLatest({ migrations }); without them Kysely refuses to migrate.',
    })
  }

  return {
    database: { kind: database.kind, url: redactUrl(options.url ?? '') },
    table: { name: TABLE, exists, rows: users?.total ?? null },
    columns: checks,
    indexes: indexChecks,
    users,
    migrations: { tableExists: migrationTable, applied, pending, unknown, wouldDo },
    identity,
    otherTables: { alembic, lookalikes },
    oauthDuplicates: oauthDuplicates?.groups ?? 0,
    findings,
    ready: !findings.some((f) => f.severity === 'blocker'),
  }
}

// ---------------------------------------------------------------------------------------------
// Columns

interface BaseColumn {
  name: string
  expected: string
  families: TypeFamily[]
  /** Shorter than this (when the type has a length): severity given. */
  minLength?: { length: number; severity: 'warning' | 'blocker'; why: string }
}

function baseColumns(database: Database): BaseColumn[] {
  // Integer flags work where booleans are 0/1 anyway; PostgreSQL binds real booleans.
  const flag: TypeFamily[] = database.kind === 'postgres' ? ['boolean'] : ['boolean', 'integer']
  return [
    {
      name: 'email',
      expected: `varchar(${EMAIL_LENGTH}) NOT NULL`,
      families: ['string'],
      minLength: {
        length: EMAIL_LENGTH,
        severity: 'warning',
        why: 'longer addresses, which are valid, cannot be stored',
      },
    },
    {
      name: 'hashed_password',
      expected: 'varchar(1024) NOT NULL',
      families: ['string'],
      minLength: {
        length: ARGON2ID_HASH_LENGTH,
        severity: 'blocker',
        why: `the argon2id hashes fastify-users writes are ${ARGON2ID_HASH_LENGTH} characters`,
      },
    },
    ...FLAGS.map((name) => ({ name, expected: 'boolean NOT NULL', families: flag })),
    {
      name: 'id',
      expected: `${database.capabilities.uuidColumn} NOT NULL`,
      families: ['uuid', 'string'],
      minLength: { length: 36, severity: 'blocker', why: 'ids are stored as 36-character UUIDs' },
    },
  ]
}

function checkBase(base: BaseColumn, found: ColumnInfo | undefined, database: Database): ColumnCheck {
  const check = { name: base.name, role: 'base' as const, expected: base.expected, found: found ?? null }
  if (!found) {
    return {
      ...check,
      severity: 'blocker',
      remark: 'missing: fastify-users reads and writes it, and its migrations never alter an existing user table',
    }
  }
  if (!base.families.includes(found.family)) {
    const hint =
      database.kind === 'postgres' && base.families.includes('boolean') && found.family === 'integer'
        ? ' (PostgreSQL needs a boolean column here)'
        : ''
    return { ...check, severity: 'blocker', remark: `is ${found.type}, expected ${base.expected}${hint}` }
  }
  if (base.minLength && found.maxLength !== null && found.maxLength < base.minLength.length) {
    return {
      ...check,
      severity: base.minLength.severity,
      remark: `is ${found.type}: ${base.minLength.why} (expected ${base.expected})`,
    }
  }
  if (found.nullable) {
    return { ...check, severity: 'warning', remark: `accepts NULL; fastify-users expects ${base.expected}` }
  }
  return { ...check, severity: 'ok' }
}

async function checkField(
  database: Database,
  name: string,
  spec: FieldSpec,
  found: ColumnInfo | undefined,
): Promise<ColumnCheck> {
  const type = spec.column ?? schemaColumnType(spec.schema)
  const expected = `${type} ${spec.nullable ? 'NULL' : 'NOT NULL'}`
  const check = { name, role: 'field' as const, expected, found: found ?? null }
  if (!found) {
    return { ...check, severity: 'note', remark: `declared but missing: the migrations will add it (${expected})` }
  }
  const declaration = declarationFor(found)
  const wanted = familiesFor(spec.schema, database)
  if (wanted && !wanted.includes(found.family)) {
    return {
      ...check,
      declaration,
      severity: 'warning',
      remark: `declared as ${schemaType(spec.schema)} but the column is ${found.type}; declare it as: ${declaration}`,
    }
  }
  if (spec.nullable && !found.nullable) {
    return {
      ...check,
      declaration,
      severity: 'warning',
      remark: 'declared nullable, but the column is NOT NULL: writing null to it fails',
    }
  }
  if (!spec.nullable && found.nullable) {
    const nulls = await countNulls(database, name)
    if (nulls > 0) {
      return {
        ...check,
        declaration,
        severity: 'warning',
        remark: `declared not nullable, but ${nulls} user(s) have NULL in it; declare it with nullable: true`,
      }
    }
  }
  return { ...check, declaration, severity: 'ok' }
}

function checkUndeclared(found: ColumnInfo): ColumnCheck {
  const declaration = declarationFor(found)
  const check = { name: found.name, role: 'undeclared' as const, expected: null, found, declaration }
  if (!found.nullable && !found.hasDefault) {
    return {
      ...check,
      severity: 'blocker',
      remark: `a custom column, NOT NULL without a default: registration would fail. Declare it: ${declaration}`,
    }
  }
  return {
    ...check,
    severity: 'warning',
    remark:
      'a custom column (fastapi-users served it in UserRead): undeclared, it is neither read nor written and ' +
      `new users get ${found.nullable ? 'NULL' : 'its default'}. Declare it: ${declaration}`,
  }
}

/** The `defineUserFields` entry for an existing column. */
export function declarationFor(column: ColumnInfo): string {
  const parts = [`schema: ${schemaFor(column)}`]
  if (column.nullable) parts.push('nullable: true')
  else if (!column.hasDefault) parts.push("onCreate: 'required'")
  const type = columnTypeFor(column)
  if (type) parts.push(`column: '${type}'`)
  const key = /^[A-Za-z_$][\w$]*$/.test(column.name) ? column.name : `'${column.name}'`
  return `${key}: { ${parts.join(', ')} }`
}

function schemaFor(column: ColumnInfo): string {
  switch (column.family) {
    case 'string':
      return column.maxLength !== null && !/^text/.test(column.type)
        ? `Type.String({ maxLength: ${column.maxLength} })`
        : 'Type.String()'
    case 'uuid':
      return "Type.String({ format: 'uuid' })"
    case 'boolean':
      return 'Type.Boolean()'
    case 'integer':
      return 'Type.Integer()'
    case 'number':
      return 'Type.Number()'
    case 'datetime':
      return "Type.String({ format: 'date-time' })"
    default:
      return 'Type.Unknown()'
  }
}

/** The ColumnType a field may name, when one matches the column exactly. */
function columnTypeFor(column: ColumnInfo): string | null {
  if (column.type === 'text' || column.type === 'varchar(255)') return column.type
  if (column.family === 'boolean') return 'boolean'
  if (column.type === 'integer') return 'integer'
  if (column.type === 'double precision') return 'double precision'
  return null
}

function schemaType(schema: unknown): string {
  return String((schema as { type?: unknown }).type ?? 'unknown')
}

function schemaColumnType(schema: unknown): string {
  return columnTypeOf({ type: schemaType(schema) })
}

function familiesFor(schema: unknown, database: Database): TypeFamily[] | null {
  switch (schemaType(schema)) {
    case 'string':
      return ['string', 'uuid', 'datetime', 'other']
    case 'boolean':
      return database.kind === 'postgres' ? ['boolean'] : ['boolean', 'integer']
    case 'integer':
      return ['integer']
    case 'number':
      return ['number', 'integer']
    default:
      return null
  }
}

/** The rough kind of a column type, as each database spells it. */
export function familyOf(type: string): TypeFamily {
  const t = type.toLowerCase()
  if (t === 'uuid') return 'uuid'
  if (/^(bool|boolean|tinyint\(1\))$/.test(t)) return 'boolean'
  if (/char|text|clob|string/.test(t)) return 'string'
  if (/^(tiny|small|medium|big)?int|^integer/.test(t)) return 'integer'
  if (/real|floa|doub|numeric|decimal/.test(t)) return 'number'
  if (/date|time/.test(t)) return 'datetime'
  if (/json/.test(t)) return 'json'
  return 'other'
}

// ---------------------------------------------------------------------------------------------
// Indexes

function checkIndexes(
  database: Database,
  indexes: IndexInfo[],
  byName: Map<string, ColumnInfo>,
  tableMigrationPending: boolean,
  identityPending: boolean,
): IndexCheck[] {
  const missing = (what: string): Pick<IndexCheck, 'severity' | 'remark'> =>
    tableMigrationPending
      ? { severity: 'note', remark: `missing: the migrations will create it (${what})` }
      : {
          severity: 'warning',
          remark: `missing, and the migrations will not create it (0001-user has run): create it (${what})`,
        }
  const checks: IndexCheck[] = []
  const email = indexes.find((i) => i.name === 'ix_user_email') ?? null
  if (!email) checks.push({ name: 'ix_user_email', found: null, ...missing('unique, on email') })
  else if (email.unique && email.columns.length === 1 && email.columns[0] === 'email') {
    checks.push({ name: 'ix_user_email', found: email, severity: 'ok', remark: 'unique, on email' })
  } else {
    checks.push({
      name: 'ix_user_email',
      found: email,
      severity: 'warning',
      remark: `is ${email.unique ? 'unique' : 'not unique'} on (${email.columns.join(', ')}); fastapi-users makes it unique on email. Left as it is.`,
    })
  }
  const exact = database.capabilities.exactCollation
  if (exact !== null) {
    const collation = byName.get('email')?.collation ?? null
    const isExact = collation === exact
    checks.push({
      name: 'email collation',
      found: null,
      severity: isExact || identityPending ? 'ok' : 'warning',
      remark: isExact
        ? `byte for byte (${collation}); e-mail identity is decided by the table email_identity`
        : identityPending
          ? `${collation ?? 'none'}: folds case, accents and trailing spaces; 0005-identity changes it to ${exact}, ` +
            'so that look-alike addresses are different accounts (identity is then decided by email_identity)'
          : `${collation ?? 'none'}, not ${exact}: the database may hold look-alike addresses equal ` +
            `(ALTER TABLE \`user\` MODIFY email … COLLATE ${exact})`,
    })
  }
  if (!identityPending) {
    // 0005-identity dropped ix_user_email_lower: lower() is not the identity.
  } else if (database.capabilities.caseInsensitiveUnique === 'expression-index') {
    const lower = indexes.find((i) => i.name === 'ix_user_email_lower') ?? null
    if (lower)
      checks.push({ name: 'ix_user_email_lower', found: lower, severity: 'ok', remark: 'unique, on lower(email)' })
    else checks.push({ name: 'ix_user_email_lower', found: null, ...missing('unique, on lower(email)') })
  }
  return checks
}

// ---------------------------------------------------------------------------------------------
// Users

async function countUsers(database: Database, byName: Map<string, ColumnInfo>): Promise<UserCounts> {
  const { db } = database
  const table = sql.table(TABLE)
  const sum = (condition: RawBuilder<unknown>) => sql`coalesce(sum(case when ${condition} then 1 else 0 end), 0)`
  const flag = (name: string): RawBuilder<unknown> => {
    const column = byName.get(name)
    if (!column) return sql`0`
    if (column.family === 'boolean' && database.kind === 'postgres') return sum(sql.ref(name))
    if (database.kind === 'postgres') return sql`0`
    return sum(sql`${sql.ref(name)} <> 0`)
  }
  const hash = sql.ref('hashed_password')
  const { memoryCost: m, timeCost: t, parallelism: p } = OWASP_ARGON2ID
  const current = `$argon2id$v=19$m=${m},t=${t},p=${p}$%`
  const hasHash = byName.has('hashed_password')
  const hasId = byName.get('id')
  const nonCanonical =
    !hasId || hasId.family === 'uuid'
      ? sql`0`
      : database.kind === 'sqlite'
        ? sum(sql`length(id) <> 36 or id <> lower(id)`)
        : sum(sql`length(id) <> 36`)
  const [row] = (
    await sql<Record<string, unknown>>`select
      count(*) as total,
      ${flag('is_active')} as active,
      ${flag('is_superuser')} as superusers,
      ${flag('is_verified')} as verified,
      ${hasHash ? sum(sql`${hash} like ${current}`) : sql`0`} as current_hashes,
      ${hasHash ? sum(sql`${hash} like '$2a$%' or ${hash} like '$2b$%' or ${hash} like '$2y$%'`) : sql`0`} as bcrypt,
      ${hasHash ? sum(sql`${hash} like '$argon2%' and not ${hash} like ${current}`) : sql`0`} as argon2_other,
      ${nonCanonical} as non_canonical_ids
      from ${table}`.execute(db)
  ).rows
  const n = (key: string) => Number(row?.[key] ?? 0)
  let emailsDifferingInCase = 0
  if (byName.has('email')) {
    const { rows } = await sql<{ n: unknown }>`select count(*) as n from (
        select lower(email) as e from ${table} group by lower(email) having count(*) > 1
      ) duplicates`.execute(db)
    emailsDifferingInCase = Number(rows[0]?.n ?? 0)
  }
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
    emailsDifferingInCase,
    nonCanonicalIds: n('non_canonical_ids'),
  }
}

function userFindings(users: UserCounts, database: Database): Finding[] {
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
    const lower = database.capabilities.caseInsensitiveUnique === 'expression-index'
    findings.push({
      severity: 'blocker',
      subject: 'users',
      message:
        `${users.emailsDifferingInCase} e-mail address(es) belong to several users that differ only in letter case ` +
        '(find them with: SELECT lower(email), count(*) FROM "user" GROUP BY lower(email) HAVING count(*) > 1): ' +
        `login cannot tell them apart${lower ? ' and the migration’s unique index on lower(email) cannot be created' : ''}. ` +
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

/**
 * Provider accounts linked by several oauth_account rows, compared byte for byte as migration 0006's
 * unique key compares them (where string columns have a case-insensitive collation, in binary).
 */
async function countOAuthDuplicates(database: Database): Promise<{ groups: number; examples: string[] } | null> {
  const accountId =
    database.capabilities.caseInsensitiveUnique === 'collation' ? sql`cast(account_id as binary)` : sql`account_id`
  const { rows } = await sql<{ oauth_name: string; account_id: unknown; n: unknown }>`
    select oauth_name, ${accountId} as account_id, count(*) as n from oauth_account
    group by oauth_name, ${accountId} having count(*) > 1 order by oauth_name, 2`.execute(database.db)
  if (rows.length === 0) return null
  const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value))
  return {
    groups: rows.length,
    examples: rows.slice(0, 5).map((r) => `${r.oauth_name}/${text(r.account_id)}: ${Number(r.n)} rows`),
  }
}

async function countNulls(database: Database, column: string): Promise<number> {
  const { rows } = await sql<{ n: unknown }>`select count(*) as n from ${sql.table(TABLE)} where ${sql.ref(
    column,
  )} is null`.execute(database.db)
  return Number(rows[0]?.n ?? 0)
}

// ---------------------------------------------------------------------------------------------
// What the migrations would do

function plannedChanges(
  database: Database,
  state: {
    exists: boolean
    indexes: IndexInfo[]
    byName: Map<string, ColumnInfo>
    fields: UserFields
    migrationTable: boolean
    pending: string[]
  },
): string[] {
  const changes: string[] = []
  if (!state.migrationTable) changes.push('create the tables kysely_migration and kysely_migration_lock')
  for (const name of state.pending) {
    if (name === '0005-identity') {
      changes.push(...identityChanges(database))
      continue
    }
    if (name !== '0001-user') {
      changes.push(`run ${name}`)
      continue
    }
    if (!state.exists) changes.push(`create the table "user" (id ${database.capabilities.uuidColumn})`)
    const has = (index: string) => state.indexes.some((i) => i.name === index)
    if (!has('ix_user_email')) changes.push('create the unique index ix_user_email on email')
    if (database.capabilities.caseInsensitiveUnique === 'expression-index' && !has('ix_user_email_lower')) {
      changes.push('create the unique index ix_user_email_lower on lower(email)')
    }
    changes.push('record 0001-user in kysely_migration')
  }
  for (const [name, spec] of Object.entries(state.fields)) {
    if (state.byName.has(name)) continue
    const type = spec.column ?? schemaColumnType(spec.schema)
    changes.push(`add the column ${name} ${type} ${spec.nullable ? 'NULL' : 'NOT NULL with a default'}`)
  }
  return changes
}

// ---------------------------------------------------------------------------------------------
// Catalogue queries, per database

async function listTables(database: Database): Promise<string[]> {
  const query =
    database.kind === 'sqlite'
      ? sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`
      : database.kind === 'postgres'
        ? sql<{ name: string }>`select table_name as name from information_schema.tables
            where table_schema = current_schema()`
        : sql<{ name: string }>`select table_name as name from information_schema.tables
            where table_schema = database()`
  return (await query.execute(database.db)).rows.map((r) => String(r.name))
}

async function describeColumns(database: Database, table: string): Promise<ColumnInfo[]> {
  const { db } = database
  if (database.kind === 'sqlite') {
    const { rows } = await sql<{ name: string; type: string; notnull: number; dflt_value: unknown }>`
      select name, type, "notnull", dflt_value from pragma_table_info(${table})`.execute(db)
    return rows.map((r) => column(r.name, r.type.toLowerCase(), r.notnull === 0, r.dflt_value !== null, null))
  }
  if (database.kind === 'postgres') {
    const { rows } = await sql<{
      name: string
      data_type: string
      udt_name: string
      max_length: number | null
      is_nullable: string
      column_default: string | null
      is_identity: string
    }>`select column_name as name, data_type, udt_name, character_maximum_length as max_length, is_nullable,
        column_default, is_identity
      from information_schema.columns where table_schema = current_schema() and table_name = ${table}
      order by ordinal_position`.execute(db)
    return rows.map((r) => {
      const base =
        r.data_type === 'character varying'
          ? 'varchar'
          : r.data_type === 'character'
            ? 'char'
            : r.data_type === 'USER-DEFINED' || r.data_type === 'ARRAY'
              ? r.udt_name
              : r.data_type
      const type = r.max_length !== null ? `${base}(${r.max_length})` : base
      return column(r.name, type, r.is_nullable === 'YES', r.column_default !== null || r.is_identity === 'YES', null)
    })
  }
  // Every column aliased: MySQL 8 names unaliased information_schema columns in upper case.
  const { rows } = await sql<{
    name: string
    type: string
    is_nullable: string
    column_default: string | null
    extra: string
    collation: string | null
  }>`select column_name as name, column_type as type, is_nullable as is_nullable,
      column_default as column_default, extra as extra,
      collation_name as collation
    from information_schema.columns where table_schema = database() and table_name = ${table}
    order by ordinal_position`.execute(db)
  return rows.map((r) =>
    column(
      r.name,
      String(r.type).toLowerCase(),
      r.is_nullable === 'YES',
      // MariaDB spells "no default" of a nullable column as the string NULL.
      (r.column_default !== null && r.column_default !== 'NULL') || /auto_increment/i.test(r.extra),
      r.collation,
    ),
  )
}

function column(
  name: string,
  type: string,
  nullable: boolean,
  hasDefault: boolean,
  collation: string | null,
): ColumnInfo {
  const length = /\((\d+)\)/.exec(type)?.[1]
  const family = familyOf(type)
  return {
    name,
    type,
    family,
    maxLength: family === 'string' && length ? Number(length) : null,
    nullable,
    hasDefault,
    collation,
  }
}

async function listIndexes(database: Database, table: string): Promise<IndexInfo[]> {
  const { db } = database
  if (database.kind === 'sqlite') {
    const { rows: list } = await sql<{ name: string; unique: number }>`
      select name, "unique" from pragma_index_list(${table})`.execute(db)
    const indexes: IndexInfo[] = []
    for (const index of list) {
      const { rows } = await sql<{ name: string | null }>`
        select name from pragma_index_info(${index.name}) order by seqno`.execute(db)
      const expressions = rows.some((r) => r.name === null) ? await sqliteIndexExpression(database, index.name) : null
      indexes.push({
        name: index.name,
        unique: index.unique === 1,
        columns: expressions ?? rows.map((r) => String(r.name)),
      })
    }
    return indexes
  }
  if (database.kind === 'postgres') {
    const { rows } = await sql<{ name: string; unique: boolean; columns: string[] }>`
      select i.relname as name, ix.indisunique as unique,
        array(select pg_get_indexdef(ix.indexrelid, k, true) from generate_series(1, ix.indnkeyatts) as k
          order by k) as columns
      from pg_index ix
        join pg_class t on t.oid = ix.indrelid
        join pg_class i on i.oid = ix.indexrelid
        join pg_namespace n on n.oid = t.relnamespace
      where t.relname = ${table} and n.nspname = current_schema()
      order by i.relname`.execute(db)
    return rows.map((r) => ({ name: r.name, unique: r.unique, columns: r.columns }))
  }
  const { rows } = await sql<{ name: string; non_unique: unknown; column_name: string | null }>`
    select index_name as name, non_unique as non_unique, column_name as column_name
    from information_schema.statistics where table_schema = database() and table_name = ${table}
    order by index_name, seq_in_index`.execute(db)
  const indexes = new Map<string, IndexInfo>()
  for (const r of rows) {
    const index = indexes.get(r.name) ?? { name: r.name, unique: Number(r.non_unique) === 0, columns: [] }
    index.columns.push(r.column_name ?? '(expression)')
    indexes.set(r.name, index)
  }
  return [...indexes.values()]
}

async function sqliteIndexExpression(database: Database, index: string): Promise<string[] | null> {
  const { rows } = await sql<{ sql: string | null }>`
    select sql from sqlite_master where type = 'index' and name = ${index}`.execute(database.db)
  const definition = rows[0]?.sql
  const inside = definition ? /\(([\s\S]*)\)\s*$/.exec(definition)?.[1] : undefined
  return inside ? [inside.trim()] : null
}

/** Tables other than "user" with fastapi-users' email and hashed_password columns (a renamed __tablename__). */
async function findLookalikes(database: Database, tables: string[]): Promise<string[]> {
  const found: string[] = []
  for (const table of tables) {
    if (table === 'kysely_migration' || table === 'kysely_migration_lock') continue
    const names = new Set((await describeColumns(database, table)).map((c) => c.name))
    if (names.has('email') && names.has('hashed_password')) found.push(table)
  }
  return found
}

// ---------------------------------------------------------------------------------------------
// The report, for people

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (!parsed.password) return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

const LABEL: Record<Severity, string> = { ok: 'ok', note: 'note', warning: 'WARNING', blocker: 'BLOCKER' }

/** The report as the CLI prints it. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = []
  const row = (severity: Severity, ...cells: string[]) => {
    const padded = cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(i === 0 ? 20 : 24)))
    lines.push(`  ${LABEL[severity].padEnd(8)} ${padded.join(' ')}`.trimEnd())
  }

  lines.push(`fastify-users doctor: ${report.database.url || '(database)'} (${report.database.kind}), read only`, '')

  if (!report.table.exists) lines.push('Table "user": missing')
  else {
    lines.push(`Table "user": ${report.table.rows ?? 0} user(s)`)
    for (const c of report.columns) {
      const found = c.found ? `${c.found.type} ${c.found.nullable ? 'NULL' : 'NOT NULL'}` : 'missing'
      const what =
        c.role === 'base'
          ? `expected ${c.expected}`
          : c.role === 'field'
            ? `custom field, declared (${c.expected})`
            : 'custom column, not declared'
      row(c.severity, c.name, found, what)
      if (c.declaration) lines.push(`             defineUserFields entry: ${c.declaration}`)
    }
    lines.push('', 'Indexes')
    for (const i of report.indexes) row(i.severity, i.name, i.remark)
  }

  if (report.users) {
    const u = report.users
    lines.push(
      '',
      `Users: ${u.total} (${u.active} active, ${u.superusers} superuser(s), ${u.verified} verified)`,
      `  password hashes: ${u.hashes.current} argon2id (current), ${u.legacy} legacy (${u.hashes.bcrypt} bcrypt, ` +
        `${u.hashes.argon2Other} argon2 with other parameters), ${u.hashes.unrecognised} unrecognised`,
    )
  }

  const m = report.migrations
  lines.push(
    '',
    `Migrations: ${m.tableExists ? `applied ${m.applied.join(', ') || 'none'}` : 'kysely_migration absent'}; ` +
      `pending ${m.pending.join(', ') || 'none'}`,
  )
  if (m.wouldDo.length === 0) lines.push('  running them would change nothing')
  else for (const change of m.wouldDo) lines.push(`  would ${change}`)

  const problems = report.findings
  if (problems.length > 0) {
    lines.push('', 'Findings')
    const order: Severity[] = ['blocker', 'warning', 'note']
    for (const severity of order) {
      for (const f of problems.filter((p) => p.severity === severity)) row(f.severity, `${f.subject}:`, f.message)
    }
  }
  const count = (s: Severity) => problems.filter((f) => f.severity === s).length
  lines.push(
    '',
    report.ready
      ? `Ready: yes (${count('warning')} warning(s), ${count('note')} note(s)). Nothing above was changed.`
      : `Ready: no, ${count('blocker')} blocker(s) to fix first. Nothing above was changed.`,
  )
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------
// E-mail identity (migration 0005)

async function inspectIdentity(database: Database, keyed: boolean): Promise<DoctorReport['identity']> {
  const rows = await database.db.selectFrom(TABLE).select(['id', 'email']).orderBy('id').execute()
  const groups = new Map<string, string[]>()
  for (const row of rows) {
    const key = emailIdentityKey(String(row.email))
    groups.set(key, [...(groups.get(key) ?? []), String(row.id)])
  }
  const collisions = [...groups.values()].filter((ids) => ids.length > 1)
  if (!keyed) return { collisions, unkeyed: null }
  const { rows: counts } = await sql<{ n: unknown }>`select count(*) as n from ${sql.table(TABLE)} u
    where not exists (select 1 from email_identity i where i.user_id = u.id)`.execute(database.db)
  return { collisions, unkeyed: Number(counts[0]?.n ?? 0) }
}

function identityFindings(
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

function identityChanges(database: Database): string[] {
  const changes: string[] = []
  const exact = database.capabilities.exactCollation
  if (exact !== null) {
    changes.push(
      `change the collation of user.email, oauth_account.oauth_name and account_id, accesstoken.token, refresh_token.token_hash ` +
        `and refresh_token.family_id to ${exact} (types, nullability and indexes kept)`,
    )
  }
  changes.push(
    'create the table email_identity (email_key varchar(64) primary key, user_id unique) with the digest of each ' +
      'user’s e-mail identity (normalised, lower-cased): the user table’s rows and columns stay as they are',
  )
  if (database.capabilities.caseInsensitiveUnique === 'expression-index') {
    changes.push('drop the index ix_user_email_lower (lower() is not the identity)')
  }
  changes.push('record 0005-identity in kysely_migration')
  return changes
}
