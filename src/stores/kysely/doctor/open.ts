import { existsSync } from 'node:fs'
import { Kysely, SqliteDialect } from 'kysely'
import { type Database, type DatabaseOptions, openDatabase } from '../database.js'
import { sqliteDriver } from '../sqlite-driver.js'
import { DoctorError } from './types.js'

/**
 * Opens a database for inspection without changing it: SQLite files read-only (never created, never switched
 * to WAL), PostgreSQL and MariaDB/MySQL through one pooled connection that only runs SELECTs.
 */
export async function openDatabaseReadOnly(url: string, options: DatabaseOptions = {}): Promise<Database> {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase()
  if (scheme !== 'sqlite') return openDatabase(url, { ...options, poolSize: 1 })
  const file = url.replace(/^sqlite:(\/\/)?/i, '')
  if (file === '' || file === ':memory:') throw new DoctorError('an in-memory SQLite database has nothing to inspect')
  if (!existsSync(file)) throw new DoctorError(`${file} does not exist (the service would create an empty database)`)
  // SQLite's capabilities exactly as openDatabase gives them, read from a throwaway in-memory database.
  const memory = openDatabase('sqlite::memory:', options)
  const { capabilities, userIdType, tables, poolStats } = memory
  await memory.close()
  const SQLite = sqliteDriver()
  const sqlite = new SQLite(file, { readonly: true, fileMustExist: true, timeout: options.timeoutMs ?? 5000 })
  const db = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) })
  return { db, kind: 'sqlite', capabilities, userIdType, tables, poolStats, close: () => db.destroy() }
}
