import { ServiceUnavailable } from '../../core/errors.js'
import { UserGone } from '../../core/store.js'

// Every foreign key points at the user table: its row was deleted meanwhile.
const FOREIGN_KEY_VIOLATION = new Set([
  '23503',
  'ER_NO_REFERENCED_ROW_2',
  'ER_NO_REFERENCED_ROW',
  'SQLITE_CONSTRAINT_FOREIGNKEY',
])

const UNIQUE_VIOLATION = new Set(['23505', 'ER_DUP_ENTRY', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY'])

// Connection-level failures: the database is down, restarting or out of reach.
const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08006',
  'SQLITE_BUSY',
])

// Where drivers put the statement and its bound values (mysql2's `sql` is the statement with the
// values written in; pg's `detail` repeats a refused key's value, `where` a function's arguments).
const VALUE_CARRIERS = ['sql', 'parameters', 'values', 'detail', 'where', 'internalQuery', 'query']

// A quoted literal in a message, unless it names a column, key, table or index.
const QUOTED_VALUE = /(\b(?:column|key|table|index|constraint|relation|in)\s*)?('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/gi

/**
 * Drops the values a driver attaches to its error (a failed INSERT's statement, with the new
 * user's password hash in it) so that whoever logs the error logs no data: the code, the message
 * without its quoted values, and the stack stay. Mutates and returns the error.
 */
export function scrubDatabaseError<E>(error: E): E {
  if (error === null || typeof error !== 'object') return error
  const record = error as Record<string, unknown>
  for (const key of VALUE_CARRIERS) if (key in record) delete record[key]
  for (const key of ['message', 'sqlMessage'] as const) {
    const text = record[key]
    if (typeof text !== 'string') continue
    const scrubbed = text.replace(QUOTED_VALUE, (quoted, name) => (name ? quoted : '?'))
    record[key] = scrubbed
    if (key === 'message' && typeof record.stack === 'string') {
      record.stack = (record.stack as string).split(text).join(scrubbed)
    }
  }
  return error
}

/**
 * A deadlock or a serialisation failure: the database rolled the statement's transaction back, and
 * running it again is safe (MariaDB picks a victim when two transactions insert the same unique key
 * into indexes they both locked: issue 19's races on MariaDB under load).
 */
export function isTransientConflict(error: unknown): boolean {
  return TRANSIENT_CONFLICT.has(String((error as { code?: unknown })?.code))
}

const TRANSIENT_CONFLICT = new Set(['40P01', '40001', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])

export function isUniqueViolation(error: unknown): boolean {
  return UNIQUE_VIOLATION.has(String((error as { code?: unknown })?.code))
}

/**
 * Turns a connection failure into ServiceUnavailable (a 503) and a row whose user was deleted
 * meanwhile into UserGone; anything else is rethrown as it is.
 */
export function unavailableOr(error: unknown): never {
  scrubDatabaseError(error)
  const code = String((error as { code?: unknown })?.code)
  if (FOREIGN_KEY_VIOLATION.has(code)) throw new UserGone({ cause: error })
  const message = String((error as { message?: unknown })?.message ?? '')
  if (UNAVAILABLE.has(code) || /timeout|terminated|Connection terminated|connect ECONNREFUSED/i.test(message)) {
    throw new ServiceUnavailable('database unavailable', { cause: error })
  }
  throw error
}

// Why a connection could not be made, in words, by the driver's error code.
const CONNECT_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  PROTOCOL_CONNECTION_LOST: 'connection closed by the server',
  ER_CON_COUNT_ERROR: 'too many connections',
  '57P03': 'the server is starting up or shutting down',
  EACCES: 'permission denied',
  SQLITE_CANTOPEN: 'cannot open the file',
}
// The server answered but refused us: its own words say best why.
const REFUSED = new Set([
  '28P01',
  '28000',
  '3D000',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
])

/**
 * The database named by a URL cannot be used at all: down, out of reach, or refusing our
 * credentials. Its message is one line naming where and why, for a person at a terminal.
 */
export class DatabaseUnreachable extends Error {
  constructor(
    readonly location: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the database at ${location}: ${reason}`, options)
  }

  /** The connection failure somewhere in `error`'s causes, as a DatabaseUnreachable; undefined for any other error. */
  static from(error: unknown, url: string): DatabaseUnreachable | undefined {
    for (let e = error as ErrorLike | undefined, depth = 0; e && depth < 8; e = e.cause as ErrorLike, depth++) {
      if (e instanceof DatabaseUnreachable) return e
      const code = String(e.code ?? e.errors?.[0]?.code ?? '')
      const message = String(e.message ?? '')
      const reason =
        CONNECT_FAILURES[code] ??
        (REFUSED.has(code) ? message.split('\n')[0] : undefined) ??
        (/timeout/i.test(message) && /connect/i.test(message) ? 'timed out' : undefined)
      if (reason) return new DatabaseUnreachable(databaseLocation(url), reason, { cause: error })
    }
    return undefined
  }
}

interface ErrorLike {
  code?: unknown
  message?: unknown
  cause?: unknown
  errors?: { code?: unknown }[]
}

/** `host:port` of a database URL (with the driver's default port), or the file of a SQLite one. */
export function databaseLocation(url: string): string {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase()
  if (scheme === 'sqlite') return url.replace(/^sqlite:(\/\/)?/i, '')
  try {
    const { hostname, port } = new URL(url)
    const defaultPort = scheme === 'mysql' || scheme === 'mariadb' ? '3306' : '5432'
    return `${hostname || 'localhost'}:${port || defaultPort}`
  } catch {
    return scheme ? `${scheme}:…` : 'an unparsable URL'
  }
}
