/**
 * `fastify-users/kysely`: the SQL stores, migrations and the doctor, on SQLite, PostgreSQL or
 * MariaDB/MySQL through Kysely. The driver a URL asks for is loaded when it is opened: install
 * `better-sqlite3`, `pg` or `mysql2` beside this package, whichever your database needs.
 */

export { createKyselyPasskeyStore } from './factors/passkeys/store.js'
export { createKyselyTotpStore } from './factors/totp/store.js'
export { createKyselyAccessTokenStore } from './stores/kysely/access-token-store.js'
export { createKyselyAuditSink, type KyselyAuditSinkOptions } from './stores/kysely/audit-store.js'
export {
  type Capabilities,
  type Database,
  type DatabaseOptions,
  DEFAULT_TABLE_NAMES,
  openDatabase,
  pingDatabase,
  type TableNames,
} from './stores/kysely/database.js'
export {
  type DoctorReport,
  type Finding,
  formatDoctorReport,
  type InspectOptions,
  inspectDatabase,
  openDatabaseReadOnly,
} from './stores/kysely/doctor.js'
export { DatabaseUnreachable } from './stores/kysely/errors.js'
export { type MigrateOptions, MigrationFailed, type MigrationReport, migrateToLatest } from './stores/kysely/migrate.js'
export { MigrationLockTimeout, withMigrationLock } from './stores/kysely/migration-lock.js'
export { createKyselyOAuthAccountStore } from './stores/kysely/oauth-account-store.js'
export { createKyselyOAuthStateStore, type KyselyStateStoreOptions } from './stores/kysely/oauth-state-store.js'
export { DatabaseRateLimiter, type DatabaseRateLimiterOptions } from './stores/kysely/rate-limit-store.js'
export { createKyselyRefreshTokenStore } from './stores/kysely/refresh-token-store.js'
export { createKyselySecondFactorStores } from './stores/kysely/second-factor-store.js'
export {
  createKyselySessionInfoStore,
  type SessionInfoRow,
  type SessionInfoStore,
} from './stores/kysely/session-info-store.js'
export { createKyselyUserStore, type KyselyUserStoreOptions } from './stores/kysely/user-store.js'
