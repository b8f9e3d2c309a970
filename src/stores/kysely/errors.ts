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

export function isUniqueViolation(error: unknown): boolean {
  return UNIQUE_VIOLATION.has(String((error as { code?: unknown })?.code))
}

/**
 * Turns a connection failure into ServiceUnavailable (a 503) and a row whose user was deleted
 * meanwhile into UserGone; anything else is rethrown as it is.
 */
export function unavailableOr(error: unknown): never {
  const code = String((error as { code?: unknown })?.code)
  if (FOREIGN_KEY_VIOLATION.has(code)) throw new UserGone({ cause: error })
  const message = String((error as { message?: unknown })?.message ?? '')
  if (UNAVAILABLE.has(code) || /timeout|terminated|Connection terminated|connect ECONNREFUSED/i.test(message)) {
    throw new ServiceUnavailable('database unavailable', { cause: error })
  }
  throw error
}
