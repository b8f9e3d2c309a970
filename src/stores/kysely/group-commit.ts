import { close, fdatasync, open } from 'node:fs'
import type SQLite from 'better-sqlite3'
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  RawNode,
  SelectQueryNode,
  type SqliteDatabase,
  SqliteDialect,
  type TransactionSettings,
} from 'kysely'
import { ServiceUnavailable } from '../../core/errors.js'

/**
 * Durable SQLite commits without stopping the event loop for the disk.
 *
 * better-sqlite3 runs every statement on the event loop; with `synchronous = FULL` each commit also
 * waits there for an fsync of the WAL file, and every other request waits with it (issue 19: with a
 * disk whose fsync takes 5 ms, /users/me's p99 under a login flood went from 7 to 37 ms). With
 * `synchronous = NORMAL` SQLite writes a commit's WAL frames and returns; this driver then holds
 * back the query's answer until an `fdatasync` of the WAL file, run on libuv's thread pool, has put
 * those frames on disk. So a caller learns of its write only once the write is durable, as with FULL,
 * through a killed process or a power loss (test/hardening/durability.test.ts checks the order of
 * the system calls). One fdatasync serves every commit written before it started (group commit), and
 * the connection is released first, so reads and further writes go on while the disk works.
 *
 * What differs from FULL: another request may read a commit during the fdatasync that makes it
 * durable (SQLite shows it once its frames are written). A power loss in that window loses the
 * commit although another client saw it; its own caller never got an answer for it.
 */
export class GroupCommitSqliteDialect extends SqliteDialect {
  readonly #sync: WalSync

  constructor(database: SqliteDatabase, sqlite: SQLite.Database, walFile: string) {
    super({ database })
    this.#sync = walSync(walFile, sqlite)
  }

  override createDriver(): Driver {
    return new GroupCommitDriver(super.createDriver(), this.#sync)
  }
}

interface WalSync {
  /** Resolves once everything written to the WAL file before this call is on disk. */
  (): Promise<void>
  close(): Promise<void>
}

class GroupCommitDriver implements Driver {
  /** The connection's holder sent a statement that may have written (SQLite has one connection, one holder). */
  #wrote = false

  constructor(
    private readonly inner: Driver,
    private readonly sync: WalSync,
  ) {}

  init(): Promise<void> {
    return this.inner.init()
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection()
    this.#wrote = false
    return {
      executeQuery: async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
        if (mayWrite(query)) this.#wrote = true
        return connection.executeQuery<R>(query)
      },
      streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(connection, settings)
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(connection)
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(connection)
  }

  savepoint: Driver['savepoint'] = (...args) => this.inner.savepoint!(...args)
  rollbackToSavepoint: Driver['rollbackToSavepoint'] = (...args) => this.inner.rollbackToSavepoint!(...args)
  releaseSavepoint: Driver['releaseSavepoint'] = (...args) => this.inner.releaseSavepoint!(...args)

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const wrote = this.#wrote
    this.#wrote = false
    await this.inner.releaseConnection(connection)
    // After the release: the next holder runs meanwhile, and its commit may share this fdatasync.
    if (wrote) await this.sync()
  }

  async destroy(): Promise<void> {
    await this.sync.close()
    await this.inner.destroy()
  }
}

/**
 * Anything but a select may have written: an `UPDATE … RETURNING` answers rows like a read, and
 * raw SQL (`commit` among it) is judged by its first word. A needless fdatasync finds nothing to write.
 */
function mayWrite(query: CompiledQuery): boolean {
  if (SelectQueryNode.is(query.query)) return false
  return !(RawNode.is(query.query) && /^\s*select\b/i.test(query.sql))
}

/**
 * fdatasync of the WAL file, shared: a call while one runs waits for the next one (the running one
 * may have started before this caller's frames were written), and every call that arrives meanwhile
 * shares that next one.
 */
function walSync(walFile: string, sqlite: SQLite.Database): WalSync {
  let fd: Promise<number | undefined> | undefined
  let running: Promise<void> | undefined
  let next: Promise<void> | undefined

  // No WAL file yet: nothing was ever written to one (SQLite creates it before its first frame).
  const descriptor = () =>
    (fd ??= new Promise<number | undefined>((resolve, reject) =>
      open(walFile, 'r+', (error, opened) =>
        error?.code === 'ENOENT' ? resolve(undefined) : error ? reject(error) : resolve(opened),
      ),
    ).then(
      (opened) => {
        if (opened === undefined) fd = undefined
        return opened
      },
      (error: unknown) => {
        fd = undefined
        throw error
      },
    ))

  const once = async (): Promise<void> => {
    try {
      const handle = await descriptor()
      if (handle === undefined) return
      await new Promise<void>((resolve, reject) => fdatasync(handle, (error) => (error ? reject(error) : resolve())))
    } catch (error) {
      // The commit is in the WAL but not known to be on disk: the caller hears that it may be lost.
      throw new ServiceUnavailable('the database could not confirm a write to disk', { cause: error })
    }
  }

  const start = (): Promise<void> => {
    const current = once().finally(() => {
      if (running === current) running = undefined
    })
    running = current
    return current
  }

  const sync = (): Promise<void> => {
    if (!sqlite.open) return Promise.resolve()
    if (!running) return start()
    next ??= running
      .catch(() => {})
      .then(() => {
        next = undefined
        return start()
      })
    return next
  }

  return Object.assign(sync, {
    async close() {
      await running?.catch(() => {})
      await next?.catch(() => {})
      const opened = await fd?.catch(() => undefined)
      fd = undefined
      if (opened !== undefined) await new Promise<void>((resolve) => close(opened, () => resolve()))
    },
  })
}
