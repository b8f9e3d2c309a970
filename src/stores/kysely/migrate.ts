import { type Kysely, type Migration, type MigrationResult, Migrator, sql } from 'kysely'
import type { UserFields } from '../../core/user.js'
import type { Database } from './database.js'
import { assignMissingIdentities } from './identity.js'
import { assignMissingLoginIdentities, storeIdentifiers } from './login-identity.js'
import { withMigrationLock } from './migration-lock.js'
import { userTable } from './migrations/0001-user.js'
import { accessTokenTable } from './migrations/0002-accesstoken.js'
import { refreshTokenTable } from './migrations/0003-refresh-token.js'
import { oauthAccountTable } from './migrations/0004-oauth-account.js'
import { identityKeys } from './migrations/0005-identity.js'
import { oauthUniqueAndState } from './migrations/0006-oauth-unique-and-state.js'
import { rateLimitTable } from './migrations/0007-rate-limit.js'
import { sessionInfoTable } from './migrations/0008-session-info.js'
import { secondFactorTables } from './migrations/0009-second-factor.js'
import { passkeyTables } from './migrations/0010-passkeys.js'
import { loginIdentityTable } from './migrations/0011-login-identity.js'
import { auditEventTable } from './migrations/0012-audit-events.js'

export interface MigrateOptions {
  /** The app's custom user fields: a missing column is added for each. */
  fields?: UserFields
  /** The app's own migrations, run after ours, in name order. */
  migrations?: Record<string, Migration>
  /** How long to wait for another process's migration to finish (ms; default 60 000). */
  lockTimeoutMs?: number
  /**
   * The app's login identifiers (as given to the user store): users with a value of one and no
   * identity for it (rows another program wrote) get it (login_identity, 0011).
   */
  loginIdentifiers?: string[]
}

export interface MigrationReport {
  /** Migrations run now, in order. */
  applied: string[]
  /** Custom-field columns added now. */
  addedColumns: string[]
  /** Users given their e-mail identity now (written by another program since 0005-identity). */
  identitiesAssigned: number
  /** Users given an identity of a login identifier now (`loginIdentifiers`; only when some are given). */
  loginIdentitiesAssigned?: number
}

export class MigrationFailed extends Error {
  constructor(
    readonly results: MigrationResult[],
    options: { cause: unknown },
  ) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause)
    // no migration failed: the migrator could not even read its own tables (a connection failure, say)
    super(`migration failed: ${failed ? `${failed}: ${reason}` : reason}`, options)
  }
}

export function builtInMigrations(database: Database): Record<string, Migration> {
  const caps = database.capabilities
  return {
    '0001-user': userTable(caps, database),
    '0002-accesstoken': accessTokenTable(caps, database),
    '0003-refresh-token': refreshTokenTable(caps, database),
    '0004-oauth-account': oauthAccountTable(caps, database),
    '0005-identity': identityKeys(caps, database),
    '0006-oauth-unique-and-state': oauthUniqueAndState(caps, database),
    '0007-rate-limit': rateLimitTable(),
    '0008-session-info': sessionInfoTable(caps, database),
    '0009-second-factor': secondFactorTables(caps, database),
    '0010-passkeys': passkeyTables(caps, database),
    '0011-login-identity': loginIdentityTable(caps, database),
    '0012-audit-events': auditEventTable(caps),
  }
}

/**
 * Brings the database to the latest schema; reports what it did and throws what failed.
 * Every schema change, custom-field columns included, happens under the migration lock
 * (`withMigrationLock`): instances that start together on one database migrate one at a time,
 * and the later ones find nothing left to do.
 */
export async function migrateToLatest(database: Database, options: MigrateOptions = {}): Promise<MigrationReport> {
  const migrations = { ...builtInMigrations(database), ...options.migrations }
  const identifiers = storeIdentifiers(options.loginIdentifiers, options.fields ?? {})
  return withMigrationLock(
    database,
    async (db) => {
      const migrator = new Migrator({
        db,
        provider: { getMigrations: async () => migrations },
        // SQLite: the lock is itself the transaction that holds every change
        disableTransactions: database.capabilities.migrationLock === 'immediate-transaction',
      })
      const { error, results = [] } = await migrator.migrateToLatest()
      if (error) throw new MigrationFailed(results, { cause: error })
      const addedColumns = await addFieldColumns(db, database.tables.user, options.fields ?? {})
      const identitiesAssigned = await assignMissingIdentities(db, database.tables.user)
      const loginIdentities =
        identifiers.length > 0
          ? { loginIdentitiesAssigned: await assignMissingLoginIdentities(db, database.tables.user, identifiers) }
          : {}
      return {
        applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName),
        addedColumns,
        identitiesAssigned,
        ...loginIdentities,
      }
    },
    options.lockTimeoutMs,
  )
}

/**
 * Custom fields are the app's, not ours: their columns are added when missing, never altered.
 * A column that is there after all (added by a process that migrates without the lock, e.g. an
 * older release) is not an error.
 */
// biome-ignore lint/suspicious/noExplicitAny: the user table's columns depend on the app's custom fields
async function addFieldColumns(db: Kysely<any>, table: string, fields: UserFields): Promise<string[]> {
  const columns = async () =>
    new Set((await db.introspection.getTables()).find((t) => t.name === table)?.columns.map((c) => c.name))
  const existing = await columns()
  const added: string[] = []
  for (const [name, spec] of Object.entries(fields)) {
    if (existing.has(name)) continue
    const type = spec.column ?? columnTypeOf(spec.schema)
    try {
      await db.schema
        .alterTable(table)
        .addColumn(name, sql.raw(type), (c) => (spec.nullable ? c : c.notNull().defaultTo(defaultFor(type))))
        .execute()
    } catch (error) {
      if ((await columns()).has(name)) continue
      throw error
    }
    added.push(name)
  }
  return added
}

/** The SQL type a custom field gets when its spec names none. */
export function columnTypeOf(schema: { type?: unknown }): string {
  switch (schema.type) {
    case 'boolean':
      return 'boolean'
    case 'integer':
      return 'integer'
    case 'number':
      return 'double precision'
    default:
      return 'text'
  }
}

function defaultFor(type: string): unknown {
  if (type === 'boolean') return false
  if (type === 'integer' || type === 'double precision') return 0
  return ''
}
