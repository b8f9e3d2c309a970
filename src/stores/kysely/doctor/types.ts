import type { UserIdType } from '../../../core/ids.js'
import type { UserFields } from '../../../core/user.js'
import type { Database } from '../database.js'
import { DEFAULT_TABLE_NAMES, type TableNames } from '../database.js'

export type { TableNames, UserIdType }
export const DEFAULT_TABLES: TableNames = DEFAULT_TABLE_NAMES

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
  /** Text ids not in the canonical lower-case 8-4-4-4-12 form (UUID ids only). */
  nonCanonicalIds: number
}

/** A table that references users (the database strategy's tokens, OAuth accounts), as found. */
export interface LinkedTable {
  name: string
  exists: boolean
  rows: number | null
  /** The type of its user_id column as the database spells it; null when the table or the column is missing. */
  userIdType: string | null
}

export interface DoctorReport {
  database: { kind: Database['kind']; url: string }
  /** The id type the app declares (InspectOptions.idType). */
  idType: UserIdType
  table: {
    name: string
    exists: boolean
    rows: number | null
    /** What the id column holds: UUIDs (native or 36 characters), integers, something else; null when missing. */
    idType: UserIdType | 'other' | null
  }
  columns: ColumnCheck[]
  indexes: IndexCheck[]
  users: UserCounts | null
  /** The access-token table (database strategy) and the OAuth-account table under their configured names. */
  linkedTables: { accessToken: LinkedTable; oauthAccount: LinkedTable }
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
  /**
   * Other tables of note: alembic_version; where one of the app's tables is missing, tables under other names
   * shaped like it: a user table (`lookalikes`), fastapi-users' access-token or OAuth-account table.
   */
  otherTables: {
    alembic: boolean
    lookalikes: string[]
    accessTokenLookalikes: string[]
    oauthAccountLookalikes: string[]
  }
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
  /** The type of the app's user ids (default `uuid`). */
  idType?: UserIdType
  /** The app's table names (defaults: `user`, `accesstoken`, `oauth_account`). */
  tables?: Partial<TableNames>
}

export class DoctorError extends Error {}
