import { copyFileSync, readFileSync } from 'node:fs'
import SQLite from 'better-sqlite3'
import { decodeJwt, SignJWT } from 'jose'
import { createConnection } from 'mysql2/promise'
import pg from 'pg'
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js'

// A database written by the real fastapi-users 12.1.2, and what is inside it (test/fixtures/fastapi-users/README.md).
const FIXTURES = new URL('../fixtures/fastapi-users/', import.meta.url)
export const FIXTURE_SQLITE = new URL('fastapi-users-12.1.2.sqlite', FIXTURES)

export interface FixtureUser {
  email: string
  stored_email: string
  password: string
  id: string
  first_name: string | null
  is_active: boolean
  is_superuser: boolean
  is_verified: boolean
}

export const fixture: {
  secret: string
  users: FixtureUser[]
  tokens: { access_alice: string; reset_alice: string; verify_carol: string }
} = JSON.parse(readFileSync(new URL('fastapi-users-12.1.2.json', FIXTURES), 'utf8'))

export const fixtureUser = (email: string): FixtureUser => {
  const found = fixture.users.find((u) => u.email === email)
  if (!found) throw new Error(`no fixture user ${email}`)
  return found
}

/** A token with the claims fastapi-users put in the fixture's, re-signed with the same secret and a fresh expiry. */
export async function refreshed(token: string, secret = fixture.secret): Promise<string> {
  const { exp: _, ...claims } = decodeJwt(token)
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret))
}

/**
 * The `user` table as fastapi-users-db-sqlalchemy 4.0.5 (SQLAlchemy 1.4) creates it for the original app
 * on each database: its GUID type is a native uuid on PostgreSQL and CHAR(36) elsewhere, BOOLEAN is BOOL
 * on MariaDB, `email` is `String(320, unique=True, index=True)` (the unique index ix_user_email), and the
 * app's `first_name` is a nullable TEXT.
 */
const FASTAPI_USERS_DDL: Record<Exclude<DatabaseKind, 'sqlite'>, string[]> = {
  postgres: [
    `CREATE TABLE "user" (
      email VARCHAR(320) NOT NULL,
      hashed_password VARCHAR(1024) NOT NULL,
      is_active BOOLEAN NOT NULL,
      is_superuser BOOLEAN NOT NULL,
      is_verified BOOLEAN NOT NULL,
      id UUID NOT NULL,
      first_name TEXT,
      PRIMARY KEY (id)
    )`,
    'CREATE UNIQUE INDEX ix_user_email ON "user" (email)',
  ],
  mariadb: [
    `CREATE TABLE \`user\` (
      email VARCHAR(320) NOT NULL,
      hashed_password VARCHAR(1024) NOT NULL,
      is_active BOOL NOT NULL,
      is_superuser BOOL NOT NULL,
      is_verified BOOL NOT NULL,
      id CHAR(36) NOT NULL,
      first_name TEXT,
      PRIMARY KEY (id)
    )`,
    'CREATE UNIQUE INDEX ix_user_email ON `user` (email)',
  ],
}

const COLUMNS = ['email', 'hashed_password', 'is_active', 'is_superuser', 'is_verified', 'id', 'first_name'] as const

/** The fixture's rows as fastapi-users stored them: the real passlib hashes, 0/1 flags. */
export function fixtureRows(): Record<(typeof COLUMNS)[number], unknown>[] {
  const db = new SQLite(FIXTURE_SQLITE.pathname, { readonly: true, fileMustExist: true })
  try {
    return db.prepare(`select ${COLUMNS.join(', ')} from user order by id`).all() as never
  } finally {
    db.close()
  }
}

/**
 * The fixture's database on that kind: a copy of the file on SQLite; elsewhere a fresh database with the
 * table fastapi-users would have created there and the fixture's rows. Null where a local run has no server.
 */
export function createFastapiUsersDatabase(kind: DatabaseKind): Promise<TestDatabase | null> {
  return createFixtureDatabase(kind, {
    file: FIXTURE_SQLITE,
    ddl: FASTAPI_USERS_DDL,
    tables: [{ name: 'user', columns: COLUMNS }],
  })
}

interface FixtureSpec {
  file: URL
  /** What fastapi-users-db-sqlalchemy would create on PostgreSQL and MariaDB. */
  ddl: Record<Exclude<DatabaseKind, 'sqlite'>, string[]>
  /** The tables whose rows are copied, in order (parents first). */
  tables: { name: string; columns: readonly string[]; serial?: boolean }[]
}

async function createFixtureDatabase(kind: DatabaseKind, spec: FixtureSpec): Promise<TestDatabase | null> {
  const database = await createTestDatabase(kind)
  if (!database) return null
  if (kind === 'sqlite') {
    copyFileSync(spec.file, sqliteFile(database.url))
    return database
  }
  const source = new SQLite(spec.file.pathname, { readonly: true, fileMustExist: true })
  const statements = [...spec.ddl[kind]]
  const params: unknown[][] = spec.ddl[kind].map(() => [])
  const quote = (name: string) => (kind === 'mariadb' ? `\`${name}\`` : `"${name}"`)
  try {
    for (const { name, columns } of spec.tables) {
      const rows = source.prepare(`select ${columns.join(', ')} from ${quote(name)} order by 1`).all() as Record<
        string,
        unknown
      >[]
      for (const row of rows) {
        statements.push(
          `INSERT INTO ${quote(name)} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        )
        params.push(columns.map((c) => (c.startsWith('is_') && kind === 'postgres' ? row[c] === 1 : row[c])))
      }
    }
  } finally {
    source.close()
  }
  if (kind === 'postgres') {
    // SERIAL's sequence goes on after the copied ids, as it would have after fastapi-users' own inserts.
    for (const { name } of spec.tables.filter((t) => t.serial)) {
      statements.push(`SELECT setval(pg_get_serial_sequence('${name}', 'id'), (SELECT max(id) FROM "${name}"))`)
      params.push([])
    }
  }
  await runStatements(database, statements, params)
  return database
}

// The second fixture: integer ids (IntegerIDMixin) and the app's own table names (test/fixtures/fastapi-users/README.md).
export const INT_FIXTURE_SQLITE = new URL('fastapi-users-12.1.2-int-ids.sqlite', FIXTURES)

export interface IntFixtureUser {
  email_typed: string
  email_stored: string
  password: string
  id: number
  first_name: string | null
  is_active: boolean
  is_superuser: boolean
  is_verified: boolean
  hashed_password: string
  database_token?: string
  jwt?: string
  reset_token?: string
}

export const intFixture: { secret: string; users: IntFixtureUser[]; written_at: string } = JSON.parse(
  readFileSync(new URL('fastapi-users-12.1.2-int-ids.json', FIXTURES), 'utf8'),
)

/**
 * `users` and `access_tokens` as fastapi-users-db-sqlalchemy 4.0.5 creates them for an IntegerIDMixin model:
 * SQLAlchemy's `Integer` primary key (SERIAL on PostgreSQL, AUTO_INCREMENT on MariaDB), TIMESTAMPAware as
 * `TIMESTAMP WITH TIME ZONE` / `TIMESTAMP`, and the indexes named after the tables.
 */
const INT_IDS_DDL: Record<Exclude<DatabaseKind, 'sqlite'>, string[]> = {
  postgres: [
    `CREATE TABLE users (
      email VARCHAR(320) NOT NULL,
      hashed_password VARCHAR(1024) NOT NULL,
      is_active BOOLEAN NOT NULL,
      is_superuser BOOLEAN NOT NULL,
      is_verified BOOLEAN NOT NULL,
      id SERIAL NOT NULL,
      first_name TEXT,
      PRIMARY KEY (id)
    )`,
    'CREATE UNIQUE INDEX ix_users_email ON users (email)',
    `CREATE TABLE access_tokens (
      token VARCHAR(43) NOT NULL,
      created_at TIMESTAMP WITH TIME ZONE NOT NULL,
      user_id INTEGER NOT NULL,
      PRIMARY KEY (token),
      FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE cascade
    )`,
    'CREATE INDEX ix_access_tokens_created_at ON access_tokens (created_at)',
  ],
  mariadb: [
    `CREATE TABLE users (
      email VARCHAR(320) NOT NULL,
      hashed_password VARCHAR(1024) NOT NULL,
      is_active BOOL NOT NULL,
      is_superuser BOOL NOT NULL,
      is_verified BOOL NOT NULL,
      id INTEGER NOT NULL AUTO_INCREMENT,
      first_name TEXT,
      PRIMARY KEY (id)
    )`,
    'CREATE UNIQUE INDEX ix_users_email ON users (email)',
    `CREATE TABLE access_tokens (
      token VARCHAR(43) NOT NULL,
      created_at TIMESTAMP NOT NULL,
      user_id INTEGER NOT NULL,
      PRIMARY KEY (token),
      FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE cascade
    )`,
    'CREATE INDEX ix_access_tokens_created_at ON access_tokens (created_at)',
  ],
}

/** The integer-id fixture's database on that kind: the file's copy on SQLite, elsewhere the DDL above and its rows. */
export function createIntIdsDatabase(kind: DatabaseKind): Promise<TestDatabase | null> {
  return createFixtureDatabase(kind, {
    file: INT_FIXTURE_SQLITE,
    ddl: INT_IDS_DDL,
    tables: [
      { name: 'users', columns: COLUMNS, serial: true },
      { name: 'access_tokens', columns: ['token', 'created_at', 'user_id'] },
    ],
  })
}

export const sqliteFile = (url: string) => url.replace(/^sqlite:(\/\/)?/, '')

/** `user`, quoted for that database. */
export const table = (kind: DatabaseKind) => (kind === 'mariadb' ? '`user`' : '"user"')

/** Runs statements (with `?` placeholders) on one connection, straight through the driver; returns each one's rows. */
export async function runStatements(
  database: TestDatabase,
  statements: string[],
  params: unknown[][] = [],
): Promise<Record<string, unknown>[][]> {
  const results: Record<string, unknown>[][] = []
  if (database.kind === 'sqlite') {
    const db = new SQLite(sqliteFile(database.url), { fileMustExist: true })
    try {
      statements.forEach((statement, i) => {
        const prepared = db.prepare(statement)
        const values = (params[i] ?? []) as never[]
        if (prepared.reader) results.push(prepared.all(...values) as Record<string, unknown>[])
        else {
          prepared.run(...values)
          results.push([])
        }
      })
    } finally {
      db.close()
    }
    return results
  }
  if (database.kind === 'postgres') {
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    try {
      for (const [i, statement] of statements.entries()) {
        let n = 0
        const { rows } = await client.query(
          statement.replace(/\?/g, () => `$${++n}`),
          params[i] ?? [],
        )
        results.push(rows)
      }
    } finally {
      await client.end()
    }
    return results
  }
  const connection = await createConnection({ uri: database.url, charset: 'utf8mb4' })
  try {
    for (const [i, statement] of statements.entries()) {
      const [rows] = await connection.query(statement, params[i] ?? [])
      results.push(Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [])
    }
  } finally {
    await connection.end()
  }
  return results
}

export async function query(database: TestDatabase, statement: string, params: unknown[] = []) {
  const [rows = []] = await runStatements(database, [statement], [params])
  return rows
}

export interface Snapshot {
  /** The table's definition: columns, types, nullability, defaults (and on MariaDB every index with it). */
  definition: unknown
  /** Each index on the table, by name, as the database describes it. */
  indexes: Record<string, unknown>
  rows: Record<string, unknown>[]
  tables: string[]
}

/** The tables of that database (SQLite's own aside). */
export async function listTables(database: TestDatabase): Promise<string[]> {
  const statement = {
    sqlite: `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    postgres: `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    mariadb: `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = database() ORDER BY TABLE_NAME`,
  }[database.kind]
  return (await query(database, statement)).map((t) => String(t.name))
}

/** What the database says about the `user` table, straight from its catalogue: to compare before and after. */
export async function snapshot(database: TestDatabase): Promise<Snapshot> {
  const kind = database.kind
  const rows = await query(database, `SELECT * FROM ${table(kind)} ORDER BY id`)
  const tables = await listTables(database)
  if (kind === 'sqlite') {
    const [entry] = await query(database, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user'`)
    const indexes = Object.fromEntries(
      (await query(database, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user'`)).map(
        (e) => [e.name, e.sql],
      ),
    )
    return { definition: entry?.sql, indexes, rows, tables }
  }
  if (kind === 'postgres') {
    const definition = await query(
      database,
      `SELECT column_name, ordinal_position, data_type, character_maximum_length, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'user' ORDER BY ordinal_position`,
    )
    const indexes = Object.fromEntries(
      (await query(database, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'user'`)).map((e) => [
        e.indexname,
        e.indexdef,
      ]),
    )
    return { definition, indexes, rows, tables }
  }
  const [created] = await query(database, 'SHOW CREATE TABLE `user`')
  const indexes: Record<string, unknown[]> = {}
  for (const s of await query(
    database,
    `SELECT INDEX_NAME AS name, NON_UNIQUE AS non_unique, SEQ_IN_INDEX AS seq, COLUMN_NAME AS col
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = database() AND TABLE_NAME = 'user'
     ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
  )) {
    const name = String(s.name)
    indexes[name] = [...(indexes[name] ?? []), { non_unique: s.non_unique, col: s.col }]
  }
  return { definition: created?.['Create Table'], indexes, rows, tables }
}

/** The names of a table's columns, in the order the database lists them. */
export async function columnNames(database: TestDatabase, name = 'user'): Promise<string[]> {
  const statement = {
    sqlite: `SELECT name FROM pragma_table_info(?) ORDER BY cid`,
    postgres: `SELECT column_name AS name FROM information_schema.columns
               WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position`,
    mariadb: `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = database() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
  }[database.kind]
  return (await query(database, statement, [name])).map((c) => String(c.name))
}
