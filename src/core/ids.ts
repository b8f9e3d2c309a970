const HEX32 = /^[0-9a-f]{32}$/
const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Parses a UUID the way Python's `uuid.UUID(str)` does, so every spelling a
 * fastapi-users client may send (upper case, no hyphens, `{…}`, `urn:uuid:…`)
 * names the same user. Returns the canonical lower-case hyphenated form, or null.
 */
export function parseUuid(value: unknown): string | null {
  if (typeof value !== 'string') return null
  if (CANONICAL.test(value)) return value // the common case: our own lower-case spelling
  let hex = value.replaceAll('urn:', '').replaceAll('uuid:', '')
  hex = trimBraces(hex).replaceAll('-', '').toLowerCase()
  if (!HEX32.test(hex)) return null
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

function trimBraces(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && (value[start] === '{' || value[start] === '}')) start++
  while (end > start && (value[end - 1] === '{' || value[end - 1] === '}')) end--
  return value.slice(start, end)
}

/** The type of user ids, as fastapi-users' `UUIDIDMixin` (the default) or `IntegerIDMixin`. */
export type UserIdType = 'uuid' | 'integer'

/** A user id: a canonical UUID string, or a whole number for an integer model. */
export type UserId = string | number

/** The TypeScript type of an id of that type. */
export type IdOf<T extends UserIdType> = T extends 'integer' ? number : string

// Python's int(str) for ASCII: surrounding whitespace, a sign, digits with single underscores between them.
const PY_INT = /^[ \t\n\v\f\r]*([+-]?)([0-9](?:_?[0-9])*)[ \t\n\v\f\r]*$/

/**
 * Parses an integer id the way fastapi-users' `IntegerIDMixin.parse_id` does (`int(value)`): so `5`,
 * `05`, `+5`, ` 5 ` and `1_0` name users 5, 5, 5, 5 and 10. Deliberate differences: only ASCII digits
 * (Python also reads other scripts' digits), and a value that is no safe JavaScript integer is no id
 * (Python parses it, then the database fails). Returns the number, or null.
 */
export function parseIntegerId(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null
  if (typeof value !== 'string' || value.length > 64) return null
  const match = PY_INT.exec(value)
  if (!match) return null
  const parsed = Number(`${match[1]}${(match[2] as string).replaceAll('_', '')}`)
  return Number.isSafeInteger(parsed) ? parsed : null
}

/** The default `parseId` of an id type: what a URL segment or a token's `sub` is as an id, or null. */
export function idParser(type: UserIdType): (value: unknown) => UserId | null {
  return type === 'integer' ? parseIntegerId : parseUuid
}
