import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Migration } from 'kysely'
import type { UserValidator } from '../core/hooks.js'
import type { UserIdType } from '../core/ids.js'
import type { PasswordHasher } from '../core/passwords.js'
import type { BaseUser, UserFields } from '../core/user.js'
import type { TableNames } from '../stores/kysely/database.js'

/**
 * What the command line needs to know of an app: the file `--config` names (or
 * `fastify-users.config.{js,mjs,ts,mts}` in the working directory) exports one, as its default
 * export or as `config`, or a function of the environment returning one.
 */
export interface CliConfig {
  /** The database; default: the DATABASE_URL variable. */
  databaseUrl?: string
  /** The app's custom user fields (`defineUserFields(…)`), as it passes them to migrateToLatest. Default: none. */
  fields?: UserFields
  /** The type of user ids, as the app's model: 'uuid' (default) or 'integer' (IntegerIDMixin); openDatabase's `userIdType`. */
  userIdType?: UserIdType
  /** The app's names for the user, access-token and OAuth-account tables; openDatabase's `tables`. */
  tables?: Partial<TableNames>
  /** The app's own migrations, run after fastify-users' (migrateToLatest's `migrations`). */
  migrations?: Record<string, Migration>
  /** The app's password rules, applied by create-superuser. */
  validatePassword?: (password: string, user: { email: string }) => void | Promise<void>
  /** The app's cross-field rules (the manager's `validateUser`), applied by create-superuser. */
  // a method, so that the app's validator, typed with its own user, fits
  validateUser?(...args: Parameters<UserValidator<BaseUser>>): ReturnType<UserValidator<BaseUser>>
  /** How create-superuser hashes the password (the app's `createPasswordHasher(…)`); default argon2id, OWASP parameters. */
  passwords?: PasswordHasher
  /** The secret the app signs tokens with; default: the SECRET variable. doctor warns when there is none. */
  secret?: string
  /** Connect and statement timeout in ms (default 5000). */
  databaseTimeoutMs?: number
}

export type Env = Record<string, string | undefined>
export type CliConfigExport = CliConfig | ((env: Env) => CliConfig | Promise<CliConfig>)

/** Declares a configuration for the command line, keeping its types (it returns its argument). */
export function defineCliConfig<const C extends CliConfigExport>(config: C): C {
  return config
}

/** A configuration the command line cannot use: exit status 2, the message on one or a few lines. */
export class CliConfigError extends Error {}

export const DEFAULT_CONFIG_FILES = [
  'fastify-users.config.js',
  'fastify-users.config.mjs',
  'fastify-users.config.ts',
  'fastify-users.config.mts',
]
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts'])
const KEYS = new Set([
  'databaseUrl',
  'fields',
  'userIdType',
  'tables',
  'migrations',
  'validatePassword',
  'validateUser',
  'passwords',
  'secret',
  'databaseTimeoutMs',
])
const TABLE_KEYS = new Set(['user', 'accessToken', 'oauthAccount'])
const SCHEMES = ['sqlite', 'postgres', 'postgresql', 'mysql', 'mariadb']

/** The configuration file: the one named, else the first default name present in `cwd`, else none. */
export function findConfigFile(named: string | undefined, cwd: string): string | undefined {
  if (named !== undefined) {
    const file = resolve(cwd, named)
    if (!existsSync(file)) throw new CliConfigError(`no configuration file ${named}`)
    return file
  }
  return DEFAULT_CONFIG_FILES.map((name) => join(cwd, name)).find((file) => existsSync(file))
}

/** Imports a configuration file, TypeScript through tsx when it is installed. */
export async function importConfigFile(file: string, cwd: string, env: Env): Promise<CliConfig> {
  if (TYPESCRIPT.has(extname(file))) await registerTypeScript(file, cwd)
  let module: Record<string, unknown>
  try {
    module = await import(pathToFileURL(file).href)
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_UNKNOWN_FILE_EXTENSION') throw typeScriptNeeded(file)
    throw new CliConfigError(`cannot load ${file}: ${(error as Error).message}`, { cause: error })
  }
  let exported = module.default ?? module.config
  // a CommonJS project's TypeScript file, compiled by tsx, arrives wrapped once more
  if (isObject(exported) && !hasConfigKey(exported) && ('default' in exported || 'config' in exported)) {
    exported = exported.default ?? exported.config
  }
  if (exported === undefined)
    throw new CliConfigError(`${file} exports no configuration (a default export or "config")`)
  const value = typeof exported === 'function' ? await exported(env) : exported
  return checkCliConfig(value, file)
}

/** The configuration's shape, checked the way TypeScript would have: every problem at once. */
export function checkCliConfig(value: unknown, source: string): CliConfig {
  if (!isObject(value)) throw new CliConfigError(`${source}: the configuration must be an object`)
  const problems: string[] = []
  for (const key of Object.keys(value)) if (!KEYS.has(key)) problems.push(`unknown setting "${key}"`)
  const {
    databaseUrl,
    fields,
    userIdType,
    tables,
    migrations,
    validatePassword,
    validateUser,
    passwords,
    secret,
    databaseTimeoutMs,
  } = value as CliConfig
  if (userIdType !== undefined && userIdType !== 'uuid' && userIdType !== 'integer')
    problems.push('userIdType must be "uuid" or "integer"')
  if (tables !== undefined) {
    if (!isObject(tables)) problems.push('tables must be an object such as { user: "users" }')
    else
      for (const [key, name] of Object.entries(tables)) {
        if (!TABLE_KEYS.has(key)) problems.push(`tables: unknown table "${key}" (user, accessToken, oauthAccount)`)
        else if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
          problems.push(`tables.${key} must be a table name (letters, digits and _)`)
      }
  }
  if (databaseUrl !== undefined && typeof databaseUrl !== 'string') problems.push('databaseUrl must be a string')
  if (fields !== undefined) {
    if (!isObject(fields)) problems.push('fields must be what defineUserFields returns')
    else
      for (const [name, spec] of Object.entries(fields)) {
        if (!isObject(spec) || !isObject(spec.schema)) problems.push(`fields.${name} must have a schema`)
      }
  }
  if (migrations !== undefined && !isObject(migrations)) problems.push('migrations must be an object of migrations')
  if (validatePassword !== undefined && typeof validatePassword !== 'function')
    problems.push('validatePassword must be a function')
  if (validateUser !== undefined && typeof validateUser !== 'function') problems.push('validateUser must be a function')
  if (passwords !== undefined && (!isObject(passwords) || typeof passwords.hash !== 'function'))
    problems.push('passwords must be what createPasswordHasher returns')
  if (secret !== undefined && typeof secret !== 'string') problems.push('secret must be a string')
  if (databaseTimeoutMs !== undefined && !(Number.isInteger(databaseTimeoutMs) && databaseTimeoutMs > 0))
    problems.push('databaseTimeoutMs must be a whole number of milliseconds')
  if (problems.length > 0) throw new CliConfigError(`${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  return value as CliConfig
}

/**
 * The user model's shape where the configuration names none: USER_ID_TYPE, USER_TABLE, ACCESS_TOKEN_TABLE and
 * OAUTH_ACCOUNT_TABLE, as the reference service reads them (so `DATABASE_URL=… USER_TABLE=users fastify-users
 * doctor` works without a file). What the configuration sets wins; bad values are a configuration problem.
 */
export function withUserModelFromEnv(config: CliConfig, env: Env): CliConfig {
  const idType = env.USER_ID_TYPE?.trim()
  const named = Object.entries({
    user: env.USER_TABLE,
    accessToken: env.ACCESS_TOKEN_TABLE,
    oauthAccount: env.OAUTH_ACCOUNT_TABLE,
  }).filter((entry): entry is [string, string] => Boolean(entry[1]?.trim()))
  const fromEnv = {
    ...(idType && { userIdType: idType }),
    ...(named.length > 0 && { tables: Object.fromEntries(named.map(([k, v]) => [k, v.trim()])) }),
  }
  if (Object.keys(fromEnv).length === 0) return config
  const checked = checkCliConfig(fromEnv, 'USER_ID_TYPE / USER_TABLE / ACCESS_TOKEN_TABLE / OAUTH_ACCOUNT_TABLE')
  return {
    ...config,
    userIdType: config.userIdType ?? checked.userIdType,
    tables: { ...checked.tables, ...config.tables },
  }
}

/** The database URL to use, checked before anything connects. */
export function databaseUrlOf(config: CliConfig, env: Env, source: string | undefined): string {
  const url = config.databaseUrl ?? env.DATABASE_URL?.trim()
  if (!url) {
    throw new CliConfigError(
      source
        ? `${source} sets no databaseUrl and DATABASE_URL is not set`
        : `no configuration: pass --config <file>, add ${DEFAULT_CONFIG_FILES[0]} to this directory, or set DATABASE_URL`,
    )
  }
  const scheme = url.slice(0, Math.max(0, url.indexOf(':'))).toLowerCase()
  if (!SCHEMES.includes(scheme)) {
    throw new CliConfigError(`the database URL must start with ${SCHEMES.map((s) => `${s}:`).join(', ')}`)
  }
  return url
}

async function registerTypeScript(file: string, cwd: string): Promise<void> {
  let api: { register(): unknown }
  try {
    // one installed beside fastify-users (or hoisted above it), else the project's own
    api = await import('tsx/esm/api')
  } catch {
    try {
      api = await import(pathToFileURL(projectTsxApi(cwd)).href)
    } catch {
      throw typeScriptNeeded(file)
    }
  }
  api.register()
}

/** The ESM entry of tsx's API in the project at `cwd` (require.resolve would give its CommonJS twin). */
function projectTsxApi(cwd: string): string {
  const manifest = createRequire(join(cwd, 'package.json')).resolve('tsx/package.json')
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    exports: Record<string, { import?: string | { default?: string } }>
  }
  const entry = exports['./esm/api']?.import
  const path = typeof entry === 'string' ? entry : entry?.default
  if (!path) throw new Error('tsx has no ESM API')
  return join(dirname(manifest), path)
}

function typeScriptNeeded(file: string): CliConfigError {
  return new CliConfigError(
    `cannot load ${file}: a TypeScript configuration needs tsx (npm install --save-dev tsx), or compile it to .js`,
  )
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function hasConfigKey(value: Record<string, unknown>): boolean {
  return Object.keys(value).some((key) => KEYS.has(key))
}
