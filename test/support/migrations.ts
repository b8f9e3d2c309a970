import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { REPOSITORY } from './processes.js'

/** The names of the built-in migrations, in order, as `migrate` reports them applied to a fresh database. */
export const BUILT_IN_MIGRATIONS = readdirSync(join(REPOSITORY, 'src/stores/kysely/migrations'))
  .filter((file) => /^\d{4}-.*\.ts$/.test(file))
  .map((file) => file.slice(0, -'.ts'.length))
  .sort()

/** `migrate`'s first line on a fresh database. */
export const ALL_MIGRATIONS_APPLIED = `migrations applied: ${BUILT_IN_MIGRATIONS.join(', ')}`
