import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'
import pg from 'pg'

export type DatabaseKind = 'sqlite' | 'postgres' | 'mariadb'

export interface TestDatabase {
  kind: DatabaseKind
  url: string
  drop(): Promise<void>
}

const POSTGRES_ADMIN = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const MARIADB_ADMIN = process.env.TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test'

/** The databases the suites run on: all three unless TEST_DATABASES narrows it (e.g. "sqlite,postgres"). */
export function databaseKinds(): DatabaseKind[] {
  const wanted = (process.env.TEST_DATABASES ?? 'sqlite,postgres,mariadb').split(',').map((s) => s.trim())
  return (['sqlite', 'postgres', 'mariadb'] as const).filter((k) => wanted.includes(k))
}

/**
 * A fresh, empty database of that kind. Where the server is unreachable: under CI=true the
 * error is thrown (the test fails, never skips); elsewhere null, and the caller skips loudly.
 */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase | null> {
  const name = `fu_test_${randomBytes(6).toString('hex')}`
  try {
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'fastify-users-'))
      return {
        kind,
        url: `sqlite:${join(dir, 'users.sqlite')}`,
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      }
    }
    if (kind === 'postgres') {
      await postgresAdmin(`CREATE DATABASE ${name}`)
      const url = new URL(POSTGRES_ADMIN)
      url.pathname = `/${name}`
      return { kind, url: url.toString(), drop: () => postgresAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
    }
    await mariadbAdmin(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`)
    const url = new URL(MARIADB_ADMIN)
    url.pathname = `/${name}`
    return { kind, url: url.toString(), drop: () => mariadbAdmin(`DROP DATABASE IF EXISTS ${name}`) }
  } catch (error) {
    if (process.env.CI === 'true') {
      throw new Error(`${kind} is required under CI=true but is not reachable: ${(error as Error).message}`)
    }
    return null
  }
}

async function postgresAdmin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN, connectionTimeoutMillis: 3000 })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

async function mariadbAdmin(statement: string): Promise<void> {
  const connection = await createConnection({ uri: MARIADB_ADMIN, connectTimeout: 3000 })
  try {
    await connection.query(statement)
  } finally {
    await connection.end()
  }
}
