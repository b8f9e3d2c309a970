import { sql } from 'kysely'
import type { FieldSpec } from '../../../core/user.js'
import { columnTypeOf } from '../migrate.js'
import { ID_FAMILIES, idTypeOf, idTypeSetting } from './column-info.js'
import { type Inspection, idColumnType } from './inspection.js'
import type { ColumnCheck, ColumnInfo, TypeFamily } from './types.js'

/** The length of the argon2id hashes fastify-users writes ($argon2id$v=19$m=19456,t=2,p=1$ + salt + hash). */
export const ARGON2ID_HASH_LENGTH = 97
const EMAIL_LENGTH = 320
const FLAGS = ['is_active', 'is_superuser', 'is_verified'] as const

interface BaseColumn {
  name: string
  expected: string
  families: TypeFamily[]
  /** Shorter than this (when the type has a length): severity given. */
  minLength?: { length: number; severity: 'warning' | 'blocker'; why: string }
  /** Said after "is <type>, expected <type>" when the family is wrong. */
  hint?: string
}

/** The columns of every fastify-users user: the checks of the user table, base columns first. */
/** Declared without `write`, a field is set by superusers only (core/user.ts): say how to keep the Python app's access. */
const WRITE_HINT =
  ' (add write: { register: true, self: true } if the Python app had it in UserCreate and UserUpdate; without ' +
  '`write` only superusers set it)'

export function checkColumns(inspection: Inspection, columns: ColumnInfo[]): Promise<ColumnCheck[]> {
  const byName = new Map(columns.map((c) => [c.name, c]))
  const base = baseColumns(inspection)
  const known = new Set([...base.map((b) => b.name), ...Object.keys(inspection.fields)])
  return Promise.all([
    ...base.map(async (b) => checkBase(b, byName.get(b.name))),
    ...Object.entries(inspection.fields).map(([name, spec]) => checkField(inspection, name, spec, byName.get(name))),
    ...columns.filter((c) => !known.has(c.name)).map(async (c) => checkUndeclared(c)),
  ])
}

function baseColumns(inspection: Inspection): BaseColumn[] {
  const { dialect } = inspection
  return [
    {
      name: 'email',
      expected: `varchar(${EMAIL_LENGTH}) NOT NULL`,
      families: ['string'],
      minLength: {
        length: EMAIL_LENGTH,
        severity: 'warning',
        why: 'longer addresses, which are valid, cannot be stored',
      },
    },
    {
      name: 'hashed_password',
      expected: 'varchar(1024) NOT NULL',
      families: ['string'],
      minLength: {
        length: ARGON2ID_HASH_LENGTH,
        severity: 'blocker',
        why: `the argon2id hashes fastify-users writes are ${ARGON2ID_HASH_LENGTH} characters`,
      },
    },
    ...FLAGS.map((name) => ({
      name,
      expected: 'boolean NOT NULL',
      families: dialect.flagFamilies,
      hint: dialect.flagHint,
    })),
    idColumn(inspection),
  ]
}

function idColumn(inspection: Inspection): BaseColumn {
  const { idType } = inspection
  const expected = `${idColumnType(inspection)} NOT NULL`
  const other = idType === 'uuid' ? 'integer' : 'uuid'
  const hint =
    `: ${other === 'integer' ? 'integer ids (fastapi-users’ IntegerIDMixin)' : 'UUID ids (fastapi-users’ default)'}` +
    `, while the app declares ${idType} ones. Set ${idTypeSetting(other)}`
  if (idType === 'integer') return { name: 'id', expected, families: ID_FAMILIES.integer, hint }
  return {
    name: 'id',
    expected,
    families: ID_FAMILIES.uuid,
    minLength: { length: 36, severity: 'blocker', why: 'ids are stored as 36-character UUIDs' },
    hint,
  }
}

function checkBase(base: BaseColumn, found: ColumnInfo | undefined): ColumnCheck {
  const check = { name: base.name, role: 'base' as const, expected: base.expected, found: found ?? null }
  if (!found) {
    return {
      ...check,
      severity: 'blocker',
      remark: `missing: fastify-users reads and writes it, and its migrations never alter an existing user table`,
    }
  }
  if (!base.families.includes(found.family)) {
    // An id column of the other type says which setting adopts it; anything else is just the wrong type.
    const mismatch = base.name !== 'id' || idTypeOf(found) !== 'other'
    const hint = mismatch ? (base.hint ?? '') : ''
    return { ...check, severity: 'blocker', remark: `is ${found.type}, expected ${base.expected}${hint}` }
  }
  if (base.minLength && found.maxLength !== null && found.maxLength < base.minLength.length) {
    return {
      ...check,
      severity: base.minLength.severity,
      remark: `is ${found.type}: ${base.minLength.why} (expected ${base.expected})`,
    }
  }
  if (found.nullable) {
    return { ...check, severity: 'warning', remark: `accepts NULL; fastify-users expects ${base.expected}` }
  }
  return { ...check, severity: 'ok' }
}

async function checkField(
  inspection: Inspection,
  name: string,
  spec: FieldSpec,
  found: ColumnInfo | undefined,
): Promise<ColumnCheck> {
  const type = fieldColumnType(spec)
  const expected = `${type} ${spec.nullable ? 'NULL' : 'NOT NULL'}`
  const check = { name, role: 'field' as const, expected, found: found ?? null }
  if (!found) {
    return { ...check, severity: 'note', remark: `declared but missing: the migrations will add it (${expected})` }
  }
  const declaration = declarationFor(found)
  const wanted = familiesFor(spec.schema, inspection)
  if (wanted && !wanted.includes(found.family)) {
    return {
      ...check,
      declaration,
      severity: 'warning',
      remark: `declared as ${schemaType(spec.schema)} but the column is ${found.type}; declare it as: ${declaration}`,
    }
  }
  if (spec.nullable && !found.nullable) {
    return {
      ...check,
      declaration,
      severity: 'warning',
      remark: 'declared nullable, but the column is NOT NULL: writing null to it fails',
    }
  }
  if (!spec.nullable && found.nullable) {
    const nulls = await countNulls(inspection, name)
    if (nulls > 0) {
      return {
        ...check,
        declaration,
        severity: 'warning',
        remark: `declared not nullable, but ${nulls} user(s) have NULL in it; declare it with nullable: true`,
      }
    }
  }
  return { ...check, declaration, severity: 'ok' }
}

function checkUndeclared(found: ColumnInfo): ColumnCheck {
  const declaration = declarationFor(found)
  const check = { name: found.name, role: 'undeclared' as const, expected: null, found, declaration }
  if (!found.nullable && !found.hasDefault) {
    return {
      ...check,
      severity: 'blocker',
      remark: `a custom column, NOT NULL without a default: registration would fail. Declare it: ${declaration}${WRITE_HINT}`,
    }
  }
  return {
    ...check,
    severity: 'warning',
    remark:
      'a custom column (fastapi-users served it in UserRead): undeclared, it is neither read nor written and ' +
      `new users get ${found.nullable ? 'NULL' : 'its default'}. Declare it: ${declaration}` +
      WRITE_HINT,
  }
}

/** The `defineUserFields` entry for an existing column. */
export function declarationFor(column: ColumnInfo): string {
  const parts = [`schema: ${schemaFor(column)}`]
  if (column.nullable) parts.push('nullable: true')
  else if (!column.hasDefault) parts.push("onCreate: 'required'")
  const type = columnTypeFor(column)
  if (type) parts.push(`column: '${type}'`)
  const key = /^[A-Za-z_$][\w$]*$/.test(column.name) ? column.name : `'${column.name}'`
  return `${key}: { ${parts.join(', ')} }`
}

const SCHEMAS: Partial<Record<ColumnInfo['family'], string>> = {
  uuid: "Type.String({ format: 'uuid' })",
  boolean: 'Type.Boolean()',
  integer: 'Type.Integer()',
  number: 'Type.Number()',
  datetime: "Type.String({ format: 'date-time' })",
}

function schemaFor(column: ColumnInfo): string {
  if (column.family === 'string') {
    return column.maxLength !== null && !/^text/.test(column.type)
      ? `Type.String({ maxLength: ${column.maxLength} })`
      : 'Type.String()'
  }
  return SCHEMAS[column.family] ?? 'Type.Unknown()'
}

/** The ColumnType a field may name, when one matches the column exactly. */
function columnTypeFor(column: ColumnInfo): string | null {
  if (column.type === 'text' || column.type === 'varchar(255)') return column.type
  if (column.family === 'boolean') return 'boolean'
  if (column.type === 'integer') return 'integer'
  if (column.type === 'double precision') return 'double precision'
  return null
}

function schemaType(schema: unknown): string {
  return String((schema as { type?: unknown }).type ?? 'unknown')
}

/** The column type the migrations give a declared field. */
export function fieldColumnType(spec: FieldSpec): string {
  return spec.column ?? columnTypeOf({ type: schemaType(spec.schema) })
}

function familiesFor(schema: unknown, inspection: Inspection): TypeFamily[] | null {
  const families: Record<string, TypeFamily[]> = {
    string: ['string', 'uuid', 'datetime', 'other'],
    boolean: inspection.dialect.flagFamilies,
    integer: ['integer'],
    number: ['number', 'integer'],
  }
  return families[schemaType(schema)] ?? null
}

async function countNulls(inspection: Inspection, column: string): Promise<number> {
  const { rows } = await sql<{ n: unknown }>`select count(*) as n from ${sql.table(inspection.tables.user)}
    where ${sql.ref(column)} is null`.execute(inspection.database.db)
  return Number(rows[0]?.n ?? 0)
}
