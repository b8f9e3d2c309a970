import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type SQLite from 'better-sqlite3'
import {
  Kysely,
  MysqlDialect,
  type MysqlPool,
  type MysqlPoolConnection,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type SqliteDatabase,
  SqliteDialect,
  sql,
} from 'kysely'
import type { Pool as Mysql2Pool, PoolConnection } from 'mysql2'
import type pg from 'pg'
import type { UserId, UserIdType } from '../../core/ids.js'
import { loadPeer } from '../../core/peer.js'
import { unavailableOr } from './errors.js'
import { GroupCommitSqliteDialect } from './group-commit.js'
import { sqliteDriver } from './sqlite-driver.js'

/**
 * What differs between databases, as capabilities rather than dialect checks
 * in the code above.
 */
export interface Capabilities {
  /** `INSERT … RETURNING` / `UPDATE … RETURNING`. */
  returning: boolean
  /** The column type of user ids: native uuid where there is one, CHAR(36) elsewhere (as fastapi-users). */
  uuidColumn: 'uuid' | 'char(36)'
  /**
   * How an integer id is generated, as SQLAlchemy creates an `Integer` primary key: SQLite's
   * `INTEGER NOT NULL PRIMARY KEY` (the rowid), PostgreSQL's `SERIAL`, MariaDB's `AUTO_INCREMENT`.
   */
  integerKey: 'rowid' | 'serial' | 'auto-increment'
  /** The largest value an `INTEGER` id column holds (a bigger id is no row, never a query error). */
  integerMax: number
  /**
   * How e-mails are kept unique regardless of letter case: an index on lower(email),
   * or the column's case-insensitive collation already does it.
   */
  caseInsensitiveUnique: 'expression-index' | 'collation'
  /**
   * The collation that makes `=` compare text byte for byte (no case or accent folding, trailing
   * spaces significant), where the database's default does not: MariaDB's `utf8mb4_general_ci`
   * holds `User-X`, `user-x ` and `üser-x` equal. Null where text already compares exactly.
   * Migration 0005 gives it to the columns that decide identity (e-mail, provider subject, tokens).
   */
  exactCollation: string | null
  /**
   * The collation that sorts text by code point where the default follows a locale (PostgreSQL's
   * database collation): SQLite's BINARY and the MariaDB e-mail column's `utf8mb4_nopad_bin` already do.
   */
  codePointOrder: string | null
  /** Whether the driver binds JavaScript booleans (better-sqlite3 takes 0/1 only). */
  bindsBooleans: boolean
  /** The column type of timestamps (fastapi-users' TIMESTAMPAware). */
  timestampColumn: 'timestamptz' | 'datetime(6)' | 'timestamp'
  /** SQLite has no date type: timestamps are text, in SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff` (UTC). */
  timestampsAsText: boolean
  /**
   * How schema changes are kept to one process at a time (see `withMigrationLock`): a session-level
   * advisory lock (PostgreSQL), a named lock (MariaDB/MySQL GET_LOCK), or the database's single
   * writer lock taken by `BEGIN IMMEDIATE` and held across the whole migration (SQLite).
   */
  migrationLock: 'advisory-lock' | 'named-lock' | 'immediate-transaction'
}

/**
 * The names of the tables fastapi-users lets an app name (`__tablename__`); our own tables
 * (`refresh_token`, `email_identity`, `oauth_state`, `rate_limit`, `session_info`) keep theirs.
 */
export interface TableNames {
  user: string
  accessToken: string
  oauthAccount: string
}

export const DEFAULT_TABLE_NAMES: TableNames = {
  user: 'user',
  accessToken: 'accesstoken',
  oauthAccount: 'oauth_account',
}

export interface Database {
  // biome-ignore lint/suspicious/noExplicitAny: the user table's columns depend on the app's custom fields
  db: Kysely<any>
  kind: 'sqlite' | 'postgres' | 'mysql'
  capabilities: Capabilities
  /** The type of the user table's ids (and of every `user_id` referring to them). */
  userIdType: UserIdType
  /** The names of the user, access-token and OAuth-account tables. */
  tables: TableNames
  /**
   * SQLite files only: runs a read on a second, read-only connection, synchronously, with its
   * statement prepared once; the rows as arrays, in the select's column order (no column names
   * looked up per row). It sees committed data only (WAL), never another request's open
   * transaction. For the look-ups every authenticated request makes, batched per turn of the
   * event loop (read-batch.ts); everything else goes through Kysely.
   */
  readRowsNow?: (sql: string, parameters: readonly unknown[]) => unknown[][]
  /** The connection pool's use now (each driver's adapter reads its own pool), for metrics. */
  poolStats(): PoolStats
  close(): Promise<void>
}

/**
 * Connections by state: checked out by a query (`used`), open and free (`idle`), and requests
 * waiting for one (`waiting`). SQLite has one connection, held by a transaction across awaits only
 * briefly: it reports it idle, as statements run synchronously.
 */
export interface PoolStats {
  used: number
  idle: number
  waiting: number
}

export interface DatabaseOptions {
  /** Pool size for PostgreSQL and MariaDB/MySQL. */
  poolSize?: number
  /**
   * How long to wait for a connection (connect, or a free one from the pool) and, apart,
   * for a statement's answer before failing with ServiceUnavailable (ms). A database that
   * is down or out of reach costs a request at most about twice this, never a hang.
   */
  timeoutMs?: number
  /** The type of user ids, as the app's user model (fastapi-users' UUIDIDMixin or IntegerIDMixin). Default 'uuid'. */
  userIdType?: UserIdType
  /** The app's own names for the user, access-token and OAuth-account tables (`__tablename__`). */
  tables?: Partial<TableNames>
}

/**
 * Opens the database a URL names: `sqlite:path` (or `sqlite://path`, `sqlite::memory:`),
 * `postgres://…` / `postgresql://…`, or `mysql://…` / `mariadb://…`.
 */
export function openDatabase(url: string, options: DatabaseOptions = {}): Database {
  const poolSize = options.poolSize ?? 10
  const timeoutMs = options.timeoutMs ?? 5000
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase()
  const schema = { userIdType: options.userIdType ?? 'uuid', tables: { ...DEFAULT_TABLE_NAMES, ...options.tables } }
  const wrap = (
    kind: Database['kind'],
    db: Kysely<unknown>,
    capabilities: Capabilities,
    poolStats: () => PoolStats,
  ): Database => ({
    db,
    kind,
    capabilities,
    ...schema,
    poolStats,
    close: () => db.destroy(),
  })

  if (scheme === 'sqlite') {
    const file = sqlitePath(url)
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
    const SQLite = sqliteDriver()
    const sqlite = new SQLite(file, { timeout: timeoutMs })
    const wal = sqlite.pragma('journal_mode = WAL', { simple: true }) === 'wal'
    // A write's promise resolves once its WAL frames are on disk: a 201 means the user is stored,
    // through a process kill and a power loss alike. With a WAL file the fsync runs off the event loop
    // (group-commit.ts); without one (an in-memory database, a file system without shared memory)
    // SQLite's own FULL does it.
    sqlite.pragma(wal ? 'synchronous = NORMAL' : 'synchronous = FULL')
    sqlite.pragma('foreign_keys = ON')
    const statements = cachingStatements(sqlite)
    const database = wrap(
      'sqlite',
      new Kysely({
        dialect: wal
          ? new GroupCommitSqliteDialect(statements, sqlite, `${resolve(file)}-wal`)
          : new SqliteDialect({ database: statements }),
      }),
      {
        returning: true,
        uuidColumn: 'char(36)',
        integerKey: 'rowid',
        integerMax: Number.MAX_SAFE_INTEGER,
        caseInsensitiveUnique: 'expression-index',
        exactCollation: null,
        codePointOrder: null,
        bindsBooleans: false,
        timestampColumn: 'timestamp',
        timestampsAsText: true,
        migrationLock: 'immediate-transaction',
      },
      () => ({ used: 0, idle: 1, waiting: 0 }),
    )
    if (file === ':memory:') return database // a second connection would open another, empty database
    const reader = new SQLite(file, { readonly: true, fileMustExist: true, timeout: timeoutMs })
    const prepareRead = preparedOnce(reader, 100, (statement) => statement.raw(true))
    database.readRowsNow = (sql, parameters) => prepareRead(sql).all(parameters as unknown[]) as unknown[][]
    const close = database.close
    database.close = async () => {
      reader.close()
      await close()
    }
    return database
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { Pool } = loadPeer<typeof pg>('pg', `${scheme}://`)
    const pool = new Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: timeoutMs, // connecting, and waiting for a free client
      query_timeout: timeoutMs, // the client's wait for an answer (a partition)
      statement_timeout: timeoutMs, // the server's own limit (locks, a slow plan)
      keepAlive: true,
    })
    pool.on('error', () => {}) // an idle client lost with the server; the next query reports it
    // A client lost while checked out (the server went down between its query's error and its
    // release) emits 'error' too, with no pool listener then: unhandled, that would crash the process.
    // Its query has already failed, and the pool drops it at release.
    pool.on('connect', (client) => client.on('error', () => {}))
    return wrap(
      'postgres',
      new Kysely({ dialect: new PostgresDialect({ pool: discardingTimedOut(pool) }) }),
      {
        returning: true,
        uuidColumn: 'uuid',
        integerKey: 'serial',
        integerMax: 2 ** 31 - 1,
        caseInsensitiveUnique: 'expression-index',
        exactCollation: null,
        codePointOrder: 'C',
        bindsBooleans: true,
        timestampColumn: 'timestamptz',
        timestampsAsText: false,
        migrationLock: 'advisory-lock',
      },
      () => ({ used: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    )
  }
  if (scheme === 'mysql' || scheme === 'mariadb') {
    const { createPool } = loadPeer<typeof import('mysql2')>('mysql2', `${scheme}://`)
    const pool = createPool({
      uri: url.replace(/^mariadb:/i, 'mysql:'),
      connectionLimit: poolSize,
      connectTimeout: timeoutMs,
      charset: 'utf8mb4',
      timezone: 'Z',
      dateStrings: false,
      enableKeepAlive: true,
    })
    return wrap(
      'mysql',
      new Kysely({ dialect: new MysqlDialect({ pool: withQueryTimeout(pool, timeoutMs) }) }),
      {
        returning: false,
        uuidColumn: 'char(36)',
        integerKey: 'auto-increment',
        integerMax: 2 ** 31 - 1,
        caseInsensitiveUnique: 'collation',
        exactCollation: 'utf8mb4_nopad_bin',
        codePointOrder: null,
        bindsBooleans: true,
        timestampColumn: 'datetime(6)',
        timestampsAsText: false,
        migrationLock: 'named-lock',
      },
      () => mysqlPoolStats(pool),
    )
  }
  throw new TypeError(`unsupported DATABASE_URL scheme "${scheme}:" (use sqlite:, postgres:, mysql: or mariadb:)`)
}

/** A trivial query: resolves when the database answers, throws ServiceUnavailable when it cannot be reached. */
export async function pingDatabase(database: Database): Promise<void> {
  await sql`select 1`.execute(database.db).catch(unavailableOr)
}

/**
 * A client whose query timed out may still wait for that answer (pg only gives up waiting),
 * so it goes back to the pool as broken and is closed, never handed to the next request.
 */
function discardingTimedOut(pool: pg.Pool): PostgresPool {
  // Statements are named (prepared once per connection, then only bound and executed): the
  // server parses and plans the handful of distinct queries the stores send once, not per
  // request. Bounded: past NAMED distinct texts, new ones run unnamed, as before.
  const NAMED = 200
  const names = new Map<string, string>()
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text)
    if (name === undefined && names.size < NAMED) {
      name = `fastify_users_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
      names.set(text, name)
    }
    return name
  }
  return {
    async connect() {
      const client = await pool.connect()
      let broken: Error | undefined
      const query = (...args: unknown[]) => {
        const [text, values] = args
        const name = typeof text === 'string' && Array.isArray(values) ? nameOf(text) : undefined
        if (name) args = [{ name, text, values }]
        const result = (client.query as (...a: unknown[]) => unknown)(...args)
        if (!(result instanceof Promise)) return result // a cursor
        return result.catch((error: Error) => {
          if (/timeout/i.test(String(error?.message))) broken = error
          throw error
        })
      }
      return { query, release: () => client.release(broken) } as PostgresPoolClient
    },
    end: () => pool.end(),
  }
}

/**
 * mysql2 has no per-pool statement timeout and Kysely passes none, so each query gets one
 * here. A timed-out connection is destroyed: its late answer would hold up every later query.
 * Nor does mysql2 bound the wait for a free connection (pg's connectionTimeoutMillis does):
 * past `timeoutMs` the request fails, and the connection, should it come later, goes back.
 */
function withQueryTimeout(pool: Mysql2Pool, timeoutMs: number): MysqlPool {
  const wrapped = new WeakMap<PoolConnection, MysqlPoolConnection>()
  const facadeOf = (connection: PoolConnection): MysqlPoolConnection => {
    const query = (sql: string, values: unknown[], callback?: (error: unknown, result: unknown) => void) => {
      if (!callback) return connection.query({ sql, timeout: timeoutMs }, values) // a stream
      connection.query({ sql, timeout: timeoutMs }, values, (error, result) => {
        if ((error as { code?: string } | null)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') connection.destroy()
        callback(error, result)
      })
    }
    return { query, release: () => connection.release() } as MysqlPoolConnection
  }
  return {
    getConnection(callback) {
      let late = false
      const deadline = setTimeout(() => {
        late = true
        const error = Object.assign(new Error('timeout waiting for a database connection'), { code: 'ETIMEDOUT' })
        callback(error, undefined as never)
      }, timeoutMs)
      pool.getConnection((error, connection) => {
        clearTimeout(deadline)
        if (late) return error ? undefined : connection.release()
        if (error) return callback(error, connection as never)
        const facade = wrapped.get(connection) ?? facadeOf(connection)
        wrapped.set(connection, facade)
        callback(null, facade)
      })
    },
    end: (callback) => pool.end(callback),
  }
}

/** mysql2 keeps its pool's figures in fields of its own (stable since mysql2 1.x, untyped). */
function mysqlPoolStats(pool: Mysql2Pool): PoolStats {
  const inner = pool as unknown as Record<string, { length: number } | undefined>
  const all = inner._allConnections?.length ?? 0
  const idle = inner._freeConnections?.length ?? 0
  return { used: all - idle, idle, waiting: inner._connectionQueue?.length ?? 0 }
}

function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:(\/\/)?/i, '')
  return rest === '' ? ':memory:' : rest
}

/** A user id as the database hands it back: a canonical (lower-case) UUID, or a number. */
export function idFromRow(database: Pick<Database, 'userIdType'>, value: unknown): UserId {
  return database.userIdType === 'integer' ? Number(value) : String(value).toLowerCase()
}

/**
 * Kysely's SQLite driver prepares every statement anew; better-sqlite3 statements are reusable
 * (and recompiled by SQLite itself after a schema change), so the few distinct statements the
 * stores send are prepared once. The driver runs each one synchronously to completion, except
 * `iterate` (streaming), which gets a statement of its own.
 */
function cachingStatements(sqlite: SQLite.Database): SqliteDatabase {
  const prepare = preparedOnce(sqlite, 500)
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      const cached = prepare(sql)
      return {
        reader: cached.reader,
        all: (parameters: ReadonlyArray<unknown>) => cached.all(parameters),
        run: (parameters: ReadonlyArray<unknown>) => cached.run(parameters),
        iterate: (parameters: ReadonlyArray<unknown>) => sqlite.prepare(sql).iterate(parameters),
      }
    },
  }
}

/** `db.prepare`, each distinct statement once (bounded: the cache is emptied when full). */
function preparedOnce(
  db: SQLite.Database,
  max: number,
  setUp: (statement: SQLite.Statement) => SQLite.Statement = (statement) => statement,
): (sql: string) => SQLite.Statement {
  const cache = new Map<string, SQLite.Statement>()
  return (sql) => {
    let statement = cache.get(sql)
    if (!statement) {
      if (cache.size >= max) cache.clear()
      statement = setUp(db.prepare(sql))
      cache.set(sql, statement)
    }
    return statement
  }
}
