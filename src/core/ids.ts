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
