/**
 * The two kinds of user model the route suites run with: UUID ids (fastapi-users' UUIDIDMixin, the default)
 * and integer ids (IntegerIDMixin, USER_ID_TYPE=integer). TEST_ID_TYPES narrows them (e.g. "uuid").
 */
export interface IdModel {
  name: 'uuid' | 'integer'
  /** The service's settings for this model. */
  env: Record<string, string>
  /** An id of this type that no user has. */
  unknownId: string
  /** Other spellings of an id that fastapi-users' parse_id reads as the same id, by name. */
  spellings(id: string | number): Record<string, string>
  /** A value that is no id of this type (a 404 in a URL, an invalid token's `sub`). */
  notAnId: string
  /** Whether a value has this model's id type, as UserRead sends it. */
  isId(value: unknown): boolean
}

const UUID: IdModel = {
  name: 'uuid',
  env: {},
  unknownId: '3fa85f64-5717-4562-b3fc-2c963f66afa6',
  spellings: (value) => {
    const id = String(value)
    return {
      'upper case': id.toUpperCase(),
      'no hyphens': id.replaceAll('-', ''),
      'braces (percent-encoded)': `%7B${id}%7D`,
      'braces (raw)': `{${id}}`,
      'urn:uuid:': `urn:uuid:${id}`,
    }
  },
  notAnId: 'abc',
  isId: (value) =>
    typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value),
}

const INTEGER: IdModel = {
  name: 'integer',
  env: { USER_ID_TYPE: 'integer' },
  unknownId: '2147480000',
  // Python's int(): leading zeros, a sign, surrounding whitespace and digit-group underscores.
  spellings: (value) => ({
    'leading zero': `0${value}`,
    'plus sign (percent-encoded)': `%2B${value}`,
    'surrounding spaces (percent-encoded)': `%20${value}%20`,
    underscore: String(value).length > 1 ? `${String(value).slice(0, 1)}_${String(value).slice(1)}` : `0_${value}`,
  }),
  notAnId: 'abc',
  isId: (value) => typeof value === 'number' && Number.isInteger(value) && value > 0,
}

export function idModels(): IdModel[] {
  const wanted = (process.env.TEST_ID_TYPES ?? 'uuid,integer').split(',').map((s) => s.trim())
  return [UUID, INTEGER].filter((m) => wanted.includes(m.name))
}
