import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** An optional peer dependency that a feature in use needs is not installed. */
export class MissingPackage extends Error {
  constructor(
    readonly packageName: string,
    what: string,
    options?: ErrorOptions,
  ) {
    super(`${what} needs the \`${packageName}\` package: npm install ${packageName}`, options)
    this.name = 'MissingPackage'
  }
}

/**
 * Loads an optional peer dependency (a database driver, nodemailer) when the feature that needs it
 * is first used, so that an app installs only the ones it uses. `what` names the feature in the
 * error: "postgres:// needs the `pg` package: npm install pg".
 */
export function loadPeer<T>(packageName: string, what: string): T {
  try {
    return require(packageName) as T
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string }
    if (code === 'MODULE_NOT_FOUND' && message?.includes(`'${packageName}'`))
      throw new MissingPackage(packageName, what, { cause: error })
    throw error
  }
}

/**
 * Checks, without loading it, that an optional peer dependency is installed: for an ES module
 * (`openid-client`) that is imported later, when the feature is first used.
 */
export function requirePeer(packageName: string, what: string): void {
  try {
    require.resolve(packageName)
  } catch (error) {
    throw new MissingPackage(packageName, what, { cause: error })
  }
}
