import type { Capabilities } from './database.js'

/** A Date as the database stores it: a Date, or SQLAlchemy's UTC text on SQLite. */
export function encodeTimestamp(capabilities: Capabilities, date: Date): Date | string {
  if (!capabilities.timestampsAsText) return date
  return `${date.toISOString().replace('T', ' ').replace('Z', '')}000`
}

/** What the driver handed back, as a Date (text without a zone is UTC, as fastapi-users wrote it). */
export function decodeTimestamp(value: unknown): Date {
  if (value instanceof Date) return value
  const text = String(value)
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(' ', 'T')}Z`)
}
