import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { UserManager } from '../core/manager.js'
import type { BaseUser, ColumnType, FieldSpec, UserFields } from '../core/user.js'
import { openDatabase } from '../stores/kysely/database.js'
import { formatDoctorReport, inspectDatabase, openDatabaseReadOnly, redactUrl } from '../stores/kysely/doctor.js'
import { DatabaseUnreachable } from '../stores/kysely/errors.js'
import { migrateToLatest } from '../stores/kysely/migrate.js'
import { createKyselyUserStore } from '../stores/kysely/user-store.js'
import {
  type CliConfig,
  CliConfigError,
  checkCliConfig,
  databaseUrlOf,
  type Env,
  findConfigFile,
  importConfigFile,
  withUserModelFromEnv,
} from './config.js'

export { type CliConfig, CliConfigError, type CliConfigExport, defineCliConfig } from './config.js'

export const USAGE = `usage: fastify-users <command> [--config <file>] [options]

commands:
  migrate                     bring the database to the latest schema: fastify-users' tables, then a
                              column for each custom field the configuration declares (and no other)
  doctor                      check a database (one fastapi-users wrote, say) before switching to it:
                              tables, custom columns, hashes, pending migrations. Changes nothing;
                              exits 0 when ready, 1 when something blocks
  create-superuser            create a verified superuser (migrating first)
    --email <address>         (or FIRST_SUPERUSER_EMAIL)
    --password <password>     (or FIRST_SUPERUSER_PASSWORD; prefer the variable: arguments show in ps)
    --<field> <value>         a custom field's value, e.g. --first-name Ada for first_name

options:
  --config <file>             the configuration: a .js, .mjs or .ts file exporting (default or "config")
                              { databaseUrl, fields: defineUserFields(…), migrations, validatePassword,
                              validateUser, secret }, or a function of the environment returning it. Default:
                              fastify-users.config.{js,mjs,ts,mts} in this directory; without one,
                              DATABASE_URL and no custom fields. USER_ID_TYPE, USER_TABLE,
                              ACCESS_TOKEN_TABLE and OAUTH_ACCOUNT_TABLE name the user model where the
                              configuration does not
  -h, --help                  show this help

exit status: 0 done, 1 failed (the database, a refused password…), 2 bad arguments or configuration`

const HINT = 'run "fastify-users --help" for usage'
const COMMANDS = ['migrate', 'doctor', 'create-superuser'] as const

export interface RunCliOptions {
  /** Where results (log) and problems (error) go; default the console. */
  out?: Pick<Console, 'log' | 'error'>
  /** Where the default configuration file is looked for and --config is resolved; default process.cwd(). */
  cwd?: string
  /**
   * An app's own command line: its configuration, given instead of a file (--config is then refused).
   * A function is called only once the arguments are checked; what it throws is a configuration problem (exit 2).
   */
  config?: CliConfig | (() => CliConfig | Promise<CliConfig>)
}

/** fastify-users' command line; returns the exit status. */
export async function runCli(argv: string[], env: Env, options: RunCliOptions = {}): Promise<number> {
  const out = options.out ?? console
  const usageError = (message: string) => {
    out.error(`fastify-users: ${message}\n${HINT}`)
    return 2
  }
  const [command, ...rest] = argv
  if (command === undefined) {
    out.error(USAGE)
    return 2
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    out.log(USAGE)
    return 0
  }
  if (!(COMMANDS as readonly string[]).includes(command)) return usageError(`unknown command "${command}"`)

  // First pass: --config and --help; each command's own options are checked once the configuration is known.
  const first = readOptions(rest, {
    config: options.config === undefined,
    superuser: command === 'create-superuser',
    fields: undefined,
  })
  if (first.help) {
    out.log(USAGE)
    return 0
  }
  // create-superuser's custom-field options are known only with the configuration: checked below
  if (first.problem && command !== 'create-superuser') return usageError(first.problem)

  let config: CliConfig
  let source: string | undefined
  let url: string
  try {
    if (options.config !== undefined) {
      source = undefined
      config = checkCliConfig(
        typeof options.config === 'function' ? await options.config() : options.config,
        'the configuration',
      )
    } else {
      const cwd = options.cwd ?? process.cwd()
      source = findConfigFile(first.values.config, cwd)
      config = source ? await importConfigFile(source, cwd, env) : {}
    }
    config = withUserModelFromEnv(config, env)
    url = databaseUrlOf(config, env, source)
  } catch (error) {
    out.error(error instanceof CliConfigError ? error.message : (error as Error).message)
    return 2
  }

  if (command === 'create-superuser') {
    const second = readOptions(rest, {
      config: options.config === undefined,
      superuser: true,
      fields: config.fields ?? {},
    })
    if (second.problem) return usageError(second.problem)
    const email = second.values.email ?? env.FIRST_SUPERUSER_EMAIL
    const password = second.values.password ?? env.FIRST_SUPERUSER_PASSWORD
    if (!email || !password) {
      return usageError(
        'create-superuser needs --email and --password (or FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD)',
      )
    }
    const fieldValues = parseFieldValues(second.values, config.fields ?? {})
    if (typeof fieldValues === 'string') return usageError(fieldValues)
    return createSuperuser(url, config, env, { email, password, ...fieldValues }, out)
  }
  return command === 'doctor' ? doctor(url, config, env, out) : migrate(url, config, out)
}

/** The one line that says why a command failed: the database out of reach, or the error's own words. */
function failure(error: unknown, url: string): string {
  const unreachable = DatabaseUnreachable.from(error, url)
  if (unreachable) return unreachable.message
  const reason = error as { reason?: string; code?: string; message?: string }
  return `failed: ${reason.reason ?? reason.code ?? reason.message}`
}

async function migrate(url: string, config: CliConfig, out: Pick<Console, 'log' | 'error'>): Promise<number> {
  return onMigratedDatabase(url, config, out, async () => {})
}

/**
 * Opens the database, brings it to the latest schema (printing what was done), runs `then` on it,
 * and closes it; 0, or 1 with the failure in one line.
 */
async function onMigratedDatabase(
  url: string,
  config: CliConfig,
  out: Pick<Console, 'log' | 'error'>,
  then: (database: ReturnType<typeof openDatabase>) => Promise<void>,
): Promise<number> {
  let database: ReturnType<typeof openDatabase> | undefined
  try {
    database = openDatabase(url, {
      poolSize: 1,
      timeoutMs: config.databaseTimeoutMs,
      userIdType: config.userIdType,
      tables: config.tables,
    })
    out.log(await migrated(database, config))
    await then(database)
    return 0
  } catch (error) {
    out.error(failure(error, url))
    return 1
  } finally {
    await database?.close()
  }
}

async function migrated(database: ReturnType<typeof openDatabase>, config: CliConfig): Promise<string> {
  const report = await migrateToLatest(database, { fields: config.fields ?? {}, migrations: config.migrations })
  const applied = report.applied.join(', ') || 'none'
  return `migrations applied: ${applied}; columns added: ${report.addedColumns.join(', ') || 'none'}`
}

async function createSuperuser(
  url: string,
  config: CliConfig,
  env: Env,
  input: { email: string; password: string } & Record<string, unknown>,
  out: Pick<Console, 'log' | 'error'>,
): Promise<number> {
  return onMigratedDatabase(url, config, out, async (database) => {
    // creating a user signs nothing: without a secret, a throwaway one does
    const secret = config.secret ?? env.SECRET ?? randomBytes(32).toString('hex')
    const manager = new UserManager<BaseUser>({
      store: createKyselyUserStore<BaseUser>(database, config.fields ?? {}),
      secret,
      ...(config.validatePassword && { validatePassword: config.validatePassword }),
      ...(config.validateUser && { validateUser: config.validateUser }),
      ...(config.passwords && { passwords: config.passwords }),
    })
    const user = await manager.create({ ...input, is_superuser: true, is_verified: true }, { safe: false })
    out.log(`superuser created: ${user.email} (${user.id})`)
  })
}

/** Inspects the database read-only and prints the report; 0 when fastify-users can adopt it as it is. */
async function doctor(url: string, config: CliConfig, env: Env, out: Pick<Console, 'log' | 'error'>): Promise<number> {
  const where = redactUrl(url)
  let database: Awaited<ReturnType<typeof openDatabaseReadOnly>>
  try {
    database = await openDatabaseReadOnly(url, {
      timeoutMs: config.databaseTimeoutMs,
      userIdType: config.userIdType,
      tables: config.tables,
    })
  } catch (error) {
    out.error(
      DatabaseUnreachable.from(error, url)?.message ?? `doctor: cannot open ${where}: ${(error as Error).message}`,
    )
    return 1
  }
  try {
    const report = await inspectDatabase(database, { fields: config.fields ?? {}, url })
    if (!(config.secret ?? env.SECRET)) {
      report.findings.push({
        severity: 'warning',
        subject: 'SECRET',
        message:
          'is not set: keep the SECRET your fastapi-users app used, or the access, reset and verification tokens ' +
          'it issued stop working when you switch',
      })
    }
    out.log(formatDoctorReport(report))
    return report.ready ? 0 : 1
  } catch (error) {
    out.error(
      DatabaseUnreachable.from(error, url)?.message ?? `doctor: cannot inspect ${where}: ${(error as Error).message}`,
    )
    return 1
  } finally {
    await database.close()
  }
}

interface ReadOptions {
  values: Record<string, string | boolean | undefined> & { config?: string; email?: string; password?: string }
  help: boolean
  problem?: string
}

/** The option of a custom field: first_name → --first-name. */
const optionOf = (field: string) => field.replaceAll('_', '-')

/**
 * Reads a command's options with exact messages: an unknown option, a missing value, a stray argument.
 * `fields` undefined: the custom fields' options are not known yet.
 */
function readOptions(
  args: string[],
  known: { config: boolean; superuser: boolean; fields: UserFields | undefined },
): ReadOptions {
  const strings = new Set(
    known.superuser ? ['email', 'password', ...Object.keys(known.fields ?? {}).map(optionOf)] : [],
  )
  if (known.config) strings.add('config')
  const spec = Object.fromEntries([...strings].map((name) => [name, { type: 'string' as const }]))
  const { tokens } = parseArgs({
    args,
    options: { ...spec, help: { type: 'boolean', short: 'h' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  })
  const values: ReadOptions['values'] = {}
  let help = false
  const problems: string[] = []
  for (const token of tokens) {
    if (token.kind === 'positional') problems.push(`unexpected argument "${token.value}"`)
    if (token.kind !== 'option') continue
    if (token.name === 'help' || token.name === 'h') {
      help = true
      continue
    }
    if (!strings.has(token.name)) {
      problems.push(`unknown option ${token.rawName}`)
      continue
    }
    if (token.value === undefined || (token.inlineValue !== true && token.value.startsWith('--'))) {
      problems.push(`option ${token.rawName} needs a value`)
      continue
    }
    values[token.name] = token.value
  }
  return { values, help, problem: problems[0] }
}

const NUMBER_COLUMNS = new Set<ColumnType>(['integer', 'double precision'])

/** The custom fields' values from their options, typed by their columns; a string is the problem. */
function parseFieldValues(
  values: ReadOptions['values'],
  fields: UserFields,
): Record<string, string | number | boolean | null> | string {
  const result: Record<string, string | number | boolean | null> = {}
  for (const [name, spec] of Object.entries(fields) as [string, FieldSpec][]) {
    const raw = values[optionOf(name)]
    if (typeof raw !== 'string') {
      if (spec.nullable) result[name] = null
      continue
    }
    const column = spec.column ?? (spec.schema as { type?: string }).type
    if (column === 'boolean') {
      if (raw !== 'true' && raw !== 'false') return `--${optionOf(name)} must be true or false`
      result[name] = raw === 'true'
    } else if (NUMBER_COLUMNS.has(column as ColumnType) || column === 'number') {
      const number = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(number)) return `--${optionOf(name)} must be a number`
      if (column === 'integer' && !Number.isInteger(number)) return `--${optionOf(name)} must be a whole number`
      result[name] = number
    } else {
      result[name] = raw
    }
  }
  return result
}
