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
