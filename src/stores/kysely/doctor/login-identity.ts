import type { Finding } from './types.js'

/** Login identifiers (migration 0011): a table login_identity that 0011 did not create would make it fail. */
export function loginIdentityFindings(pending: boolean, tableExists: boolean): Finding[] {
  if (!pending || !tableExists) return []
  return [
    {
      severity: 'blocker',
      subject: 'table login_identity',
      message: 'exists, but 0011-login-identity has not run: the migration would fail creating it. Rename or drop it.',
    },
  ]
}
