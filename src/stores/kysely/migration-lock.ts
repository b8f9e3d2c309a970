import { type Kysely, sql } from 'kysely'
import type { Database } from './database.js'

/** The lock's name (MariaDB/MySQL GET_LOCK). */
const LOCK_NAME = 'fastify-users:migrate'
/** PostgreSQL's advisory lock key: the name's first 8 bytes as a bigint, fixed so every release agrees. */
const ADVISORY_KEY = '7377304608431307053'
const RETRY_MS = 100

export class MigrationLockTimeout extends Error {
  constructor(waitedMs: number) {
    super(`another process held the migration lock for more than ${waitedMs} ms`)
  }
}

/**
 * Runs `fn` while this process alone may change the schema: every process that migrates the same
 * database waits here, so instances started together migrate one after the other and the later
 * ones find the work done. `fn` gets the one connection that holds the lock (its statements run
 * inside the lock's transaction on SQLite, so `fn` must not begin one of its own there).
 * Waits up to `timeoutMs` for the lock, then throws MigrationLockTimeout.
 */
export async function withMigrationLock<T>(
  database: Database,
  // biome-ignore lint/suspicious/noExplicitAny: the schema changes are written against no app type
  fn: (db: Kysely<any>) => Promise<T>,
  timeoutMs = 60_000,
): Promise<T> {
  return database.db.connection().execute(async (db) => {
    const lock = LOCKS[database.capabilities.migrationLock]
    const deadline = Date.now() + timeoutMs
    while (!(await lock.tryAcquire(db))) {
      if (Date.now() > deadline) throw new MigrationLockTimeout(timeoutMs)
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
    }
    let result: T
    try {
      result = await fn(db)
    } catch (error) {
      await lock.release(db, false).catch(() => {})
      throw error
    }
    await lock.release(db, true)
    return result
  })
}

interface Lock {
  /** True once held; false when another process holds it (the caller waits and tries again). */
  // biome-ignore lint/suspicious/noExplicitAny: see withMigrationLock
  tryAcquire(db: Kysely<any>): Promise<boolean>
  /** `succeeded`: the work done under the lock is kept (it matters where the lock is a transaction). */
  // biome-ignore lint/suspicious/noExplicitAny: see withMigrationLock
  release(db: Kysely<any>, succeeded: boolean): Promise<void>
}

const LOCKS: Record<Database['capabilities']['migrationLock'], Lock> = {
  'advisory-lock': {
    async tryAcquire(db) {
      const { rows } = await sql<{
        held: boolean
      }>`select pg_try_advisory_lock(${sql.raw(ADVISORY_KEY)}) as held`.execute(db)
      return rows[0]?.held === true
    },
    async release(db) {
      await sql`select pg_advisory_unlock(${sql.raw(ADVISORY_KEY)})`.execute(db)
    },
  },
  'named-lock': {
    async tryAcquire(db) {
      // waits up to a second on the server itself, well inside the statement timeout
      const { rows } = await sql<{ held: number | null }>`select get_lock(${LOCK_NAME}, 1) as held`.execute(db)
      return Number(rows[0]?.held) === 1
    },
    async release(db) {
      await sql`select release_lock(${LOCK_NAME})`.execute(db)
    },
  },
  'immediate-transaction': {
    async tryAcquire(db) {
      try {
        // the single writer lock of the file: another process's BEGIN IMMEDIATE waits (busy timeout), then fails busy
        await sql`begin immediate`.execute(db)
        return true
      } catch (error) {
        if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) return false
        throw error
      }
    },
    async release(db, succeeded) {
      await sql.raw(succeeded ? 'commit' : 'rollback').execute(db)
    },
  },
}
