import type { ColumnInfo, TypeFamily, UserIdType } from './types.js'

/** The rough kind of a column type, as each database spells it. */
export function familyOf(type: string): TypeFamily {
  const t = type.toLowerCase()
  if (t === 'uuid') return 'uuid'
  if (/^(bool|boolean|tinyint\(1\))$/.test(t)) return 'boolean'
  if (/char|text|clob|string/.test(t)) return 'string'
  if (/^(tiny|small|medium|big)?int|^integer/.test(t)) return 'integer'
  if (/real|floa|doub|numeric|decimal/.test(t)) return 'number'
  if (/date|time/.test(t)) return 'datetime'
  if (/json/.test(t)) return 'json'
  return 'other'
}

export function columnInfo(
  name: string,
  type: string,
  nullable: boolean,
  hasDefault: boolean,
  collation: string | null,
): ColumnInfo {
  const length = /\((\d+)\)/.exec(type)?.[1]
  const family = familyOf(type)
  return {
    name,
    type,
    family,
    maxLength: family === 'string' && length ? Number(length) : null,
    nullable,
    hasDefault,
    collation,
  }
}

/** What an id (or user_id) column holds: UUIDs (native, or text long enough for one), integers, or else. */
export function idTypeOf(column: ColumnInfo): UserIdType | 'other' {
  if (column.family === 'uuid') return 'uuid'
  if (column.family === 'string' && (column.maxLength === null || column.maxLength >= 32)) return 'uuid'
  if (column.family === 'integer') return 'integer'
  return 'other'
}

/** The column families that hold ids of that type. */
export const ID_FAMILIES: Record<UserIdType, TypeFamily[]> = { uuid: ['uuid', 'string'], integer: ['integer'] }

/** The setting (service, then library) that declares an id type. */
export function idTypeSetting(idType: UserIdType): string {
  return `USER_ID_TYPE=${idType} (idType: '${idType}')`
}
