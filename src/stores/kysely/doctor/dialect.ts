import { type RawBuilder, sql } from 'kysely'
import type { Database } from '../database.js'
import { columnInfo } from './column-info.js'
import type { ColumnInfo, IndexInfo, TypeFamily } from './types.js'

type Db = Database['db']

/**
 * What the doctor needs to know about one kind of database: how to read its catalogue and the few
 * ways its columns differ. Chosen once per inspection (`dialectOf`); the checks above never ask which
 * database they are on.
 */
export interface DoctorDialect {
  listTables(db: Db): Promise<string[]>
  describeColumns(db: Db, table: string): Promise<ColumnInfo[]>
  listIndexes(db: Db, table: string): Promise<IndexInfo[]>
  /** The families a flag column may have: 0/1 integers serve where the driver binds no real booleans. */
  flagFamilies: TypeFamily[]
  /** Said after "expected boolean" when a flag column has another type. */
  flagHint: string
  /** A sum of the rows where that flag column is true (0 where the column cannot hold a flag here). */
  countTrue(column: ColumnInfo, sum: (condition: RawBuilder<unknown>) => RawBuilder<unknown>): RawBuilder<unknown>
  /** Whether `=` on text tells letter case apart (ids written in upper case are then not found). */
  caseSensitiveText: boolean
}

const sqlite: DoctorDialect = {
  async listTables(db) {
    const { rows } = await sql<{ name: string }>`
      select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db)
    return rows.map((r) => String(r.name))
  },
  async describeColumns(db, table) {
    const { rows } = await sql<{ name: string; type: string; notnull: number; dflt_value: unknown }>`
      select name, type, "notnull", dflt_value from pragma_table_info(${table})`.execute(db)
    return rows.map((r) => columnInfo(r.name, r.type.toLowerCase(), r.notnull === 0, r.dflt_value !== null, null))
  },
  async listIndexes(db, table) {
    const { rows: list } = await sql<{ name: string; unique: number }>`
      select name, "unique" from pragma_index_list(${table})`.execute(db)
    const indexes: IndexInfo[] = []
    for (const index of list) {
      const { rows } = await sql<{ name: string | null }>`
        select name from pragma_index_info(${index.name}) order by seqno`.execute(db)
      const expressions = rows.some((r) => r.name === null) ? await sqliteIndexExpression(db, index.name) : null
      indexes.push({
        name: index.name,
        unique: index.unique === 1,
        columns: expressions ?? rows.map((r) => String(r.name)),
      })
    }
    return indexes
  },
  flagFamilies: ['boolean', 'integer'],
  flagHint: '',
  countTrue: (column, sum) => sum(sql`${sql.ref(column.name)} <> 0`),
  caseSensitiveText: true,
}

async function sqliteIndexExpression(db: Db, index: string): Promise<string[] | null> {
  const { rows } = await sql<{ sql: string | null }>`
    select sql from sqlite_master where type = 'index' and name = ${index}`.execute(db)
  const definition = rows[0]?.sql
  const inside = definition ? /\(([\s\S]*)\)\s*$/.exec(definition)?.[1] : undefined
  return inside ? [inside.trim()] : null
}

const POSTGRES_TYPES: Record<string, string> = { 'character varying': 'varchar', character: 'char' }

const postgres: DoctorDialect = {
  async listTables(db) {
    const { rows } = await sql<{ name: string }>`select table_name as name from information_schema.tables
      where table_schema = current_schema()`.execute(db)
    return rows.map((r) => String(r.name))
  },
  async describeColumns(db, table) {
    const { rows } = await sql<{
      name: string
      data_type: string
      udt_name: string
      max_length: number | null
      is_nullable: string
      column_default: string | null
      is_identity: string
    }>`select column_name as name, data_type, udt_name, character_maximum_length as max_length, is_nullable,
        column_default, is_identity
      from information_schema.columns where table_schema = current_schema() and table_name = ${table}
      order by ordinal_position`.execute(db)
    return rows.map((r) => {
      const named = r.data_type === 'USER-DEFINED' || r.data_type === 'ARRAY' ? r.udt_name : r.data_type
      const base = POSTGRES_TYPES[named] ?? named
      const type = r.max_length !== null ? `${base}(${r.max_length})` : base
      const hasDefault = r.column_default !== null || r.is_identity === 'YES'
      return columnInfo(r.name, type, r.is_nullable === 'YES', hasDefault, null)
    })
  },
  async listIndexes(db, table) {
    const { rows } = await sql<{ name: string; unique: boolean; columns: string[] }>`
      select i.relname as name, ix.indisunique as unique,
        array(select pg_get_indexdef(ix.indexrelid, k, true) from generate_series(1, ix.indnkeyatts) as k
          order by k) as columns
      from pg_index ix
        join pg_class t on t.oid = ix.indrelid
        join pg_class i on i.oid = ix.indexrelid
        join pg_namespace n on n.oid = t.relnamespace
      where t.relname = ${table} and n.nspname = current_schema()
      order by i.relname`.execute(db)
    return rows.map((r) => ({ name: r.name, unique: r.unique, columns: r.columns }))
  },
  // pg binds real booleans: an integer flag column would refuse them.
  flagFamilies: ['boolean'],
  flagHint: ' (PostgreSQL needs a boolean column here)',
  countTrue: (column, sum) => (column.family === 'boolean' ? sum(sql.ref(column.name)) : sql`0`),
  caseSensitiveText: true,
}

const mysql: DoctorDialect = {
  async listTables(db) {
    const { rows } = await sql<{ name: string }>`select table_name as name from information_schema.tables
      where table_schema = database()`.execute(db)
    return rows.map((r) => String(r.name))
  },
  async describeColumns(db, table) {
    // Every column aliased: MySQL 8 names unaliased information_schema columns in upper case.
    const { rows } = await sql<{
      name: string
      type: string
      is_nullable: string
      column_default: string | null
      extra: string
      collation: string | null
    }>`select column_name as name, column_type as type, is_nullable as is_nullable,
        column_default as column_default, extra as extra, collation_name as collation
      from information_schema.columns where table_schema = database() and table_name = ${table}
      order by ordinal_position`.execute(db)
    return rows.map((r) =>
      columnInfo(
        r.name,
        String(r.type).toLowerCase(),
        r.is_nullable === 'YES',
        // MariaDB spells "no default" of a nullable column as the string NULL.
        (r.column_default !== null && r.column_default !== 'NULL') || /auto_increment/i.test(r.extra),
        r.collation,
      ),
    )
  },
  async listIndexes(db, table) {
    const { rows } = await sql<{ name: string; non_unique: unknown; column_name: string | null }>`
      select index_name as name, non_unique as non_unique, column_name as column_name
      from information_schema.statistics where table_schema = database() and table_name = ${table}
      order by index_name, seq_in_index`.execute(db)
    const indexes = new Map<string, IndexInfo>()
    for (const r of rows) {
      const index = indexes.get(r.name) ?? { name: r.name, unique: Number(r.non_unique) === 0, columns: [] }
      index.columns.push(r.column_name ?? '(expression)')
      indexes.set(r.name, index)
    }
    return [...indexes.values()]
  },
  flagFamilies: ['boolean', 'integer'],
  flagHint: '',
  countTrue: (column, sum) => sum(sql`${sql.ref(column.name)} <> 0`),
  // Its default collations fold case.
  caseSensitiveText: false,
}

const DIALECTS: Record<Database['kind'], DoctorDialect> = { sqlite, postgres, mysql }

export const dialectOf = (database: Database): DoctorDialect => DIALECTS[database.kind]
