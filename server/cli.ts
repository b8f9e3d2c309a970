import { createPasswordHasher } from 'fastify-users'
import { type CliConfig, CliConfigError, runCli as runLibraryCli } from '../src/cli/index.js'
import { ConfigError, DEVELOPMENT_SECRET, loadConfig } from './config.js'
import { serviceUserFields, validatePassword } from './user.js'

/**
 * The reference service's configuration for the command line: its user model (first_name, and
 * username with LOGIN_WITH_USERNAME) and its environment, checked by loadConfig as at start.
 * fastify-users.config.ts at the repository's root exports it, so `npm run cli` and the package's
 * bin agree here.
 */
export function serviceCliConfig(env: Record<string, string | undefined>): CliConfig {
  try {
    const config = loadConfig(env)
    return {
      databaseUrl: config.databaseUrl,
      databaseTimeoutMs: config.databaseTimeoutMs,
      userIdType: config.userIdType,
      tables: config.tables,
      // with LOGIN_WITH_USERNAME, `username` too (its login identities are given at the service's next start)
      fields: serviceUserFields(config.loginWithUsername),
      validatePassword,
      passwords: createPasswordHasher(config.passwordHash.argon2, {
        algorithm: config.passwordHash.algorithm,
        bcryptRounds: config.passwordHash.bcryptRounds,
      }),
      // doctor warns when the service would sign with the development default
      secret: config.secret === DEVELOPMENT_SECRET ? undefined : config.secret,
    }
  } catch (error) {
    if (error instanceof ConfigError) throw new CliConfigError(error.message)
    throw error
  }
}

/** The reference service's command line (fastify-users' own, on the service's configuration); returns the exit code. */
export function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  out: Pick<Console, 'log' | 'error'> = console,
): Promise<number> {
  return runLibraryCli(argv, env, { out, config: () => serviceCliConfig(env) })
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runCli(process.argv.slice(2), process.env)
}
