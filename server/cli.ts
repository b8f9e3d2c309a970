import { parseArgs } from 'node:util'
import { UserManager } from 'fastify-users'
import {
  createKyselyUserStore,
  formatDoctorReport,
  inspectDatabase,
  migrateToLatest,
  openDatabase,
  openDatabaseReadOnly,
} from 'fastify-users/kysely'
import { redactUrl } from '../src/stores/kysely/doctor.js'
import { type Config, ConfigError, DEVELOPMENT_SECRET, loadConfig } from './config.js'
import { type User, userFields, validatePassword } from './user.js'

const USAGE = `usage: fastify-users <command> [options]

commands:
  migrate                       bring the database (DATABASE_URL) to the latest schema
  doctor                        check the database (DATABASE_URL), e.g. one fastapi-users wrote, before
                                switching to it: tables, custom columns, hashes, pending migrations.
                                Changes nothing; exits 0 when ready, 1 when something blocks
  create-superuser              create a verified superuser
      --email <address>         (or FIRST_SUPERUSER_EMAIL)
      --password <password>     (or FIRST_SUPERUSER_PASSWORD; prefer the variable: arguments show in ps)
      --first-name <name>
`

/** The reference service's command line; returns the exit code. */
export async function runCli(argv: string[], env: Record<string, string | undefined>, out = console): Promise<number> {
  const [command, ...rest] = argv
  if (command !== 'migrate' && command !== 'create-superuser' && command !== 'doctor') {
    out.error(USAGE)
    return command === undefined || command === 'help' || command === '--help' ? 0 : 2
  }
  let config: Config
  try {
    config = loadConfig(env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    out.error(error.message)
    return 2
  }
  if (command === 'doctor') return doctor(config, out)
  const database = openDatabase(config.databaseUrl)
  try {
    const report = await migrateToLatest(database, { fields: userFields })
    out.log(
      `migrations applied: ${report.applied.join(', ') || 'none'}; columns added: ${report.addedColumns.join(', ') || 'none'}`,
    )
    if (command === 'migrate') return 0

    const { values } = parseArgs({
      args: rest,
      options: { email: { type: 'string' }, password: { type: 'string' }, 'first-name': { type: 'string' } },
    })
    const email = values.email ?? env.FIRST_SUPERUSER_EMAIL
    const password = values.password ?? env.FIRST_SUPERUSER_PASSWORD
    if (!email || !password) {
      out.error('create-superuser needs --email and --password (or FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD)')
      return 2
    }
    const manager = new UserManager<User>({
      store: createKyselyUserStore<User>(database, userFields),
      secret: config.secret,
      validatePassword,
    })
    const user = await manager.create(
      { email, password, first_name: values['first-name'] ?? null, is_superuser: true, is_verified: true },
      { safe: false },
    )
    out.log(`superuser created: ${user.email} (${user.id})`)
    return 0
  } catch (error) {
    const reason = error as { reason?: string; code?: string; message?: string }
    out.error(`failed: ${reason.reason ?? reason.code ?? reason.message}`)
    return 1
  } finally {
    await database.close()
  }
}

/** Inspects DATABASE_URL read-only and prints the report; 0 when fastify-users can adopt it as it is. */
async function doctor(config: Config, out: Console): Promise<number> {
  const where = redactUrl(config.databaseUrl)
  let database: Awaited<ReturnType<typeof openDatabaseReadOnly>>
  try {
    database = await openDatabaseReadOnly(config.databaseUrl, { timeoutMs: config.databaseTimeoutMs })
  } catch (error) {
    out.error(`doctor: cannot open ${where}: ${(error as Error).message}`)
    return 1
  }
  try {
    const report = await inspectDatabase(database, { fields: userFields, url: config.databaseUrl })
    if (config.secret === DEVELOPMENT_SECRET) {
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
    out.error(`doctor: cannot inspect ${where}: ${(error as Error).message}`)
    return 1
  } finally {
    await database.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runCli(process.argv.slice(2), process.env)
}
