import { createHash } from 'node:crypto'
import { emailIdentityKey } from '../../core/email.js'

/**
 * What `email_identity.email_key` holds: the SHA-256 (lower-case hex) of the address's identity key.
 * Hex of one fixed length compares the same under every collation, so the database's primary
 * key and look-ups decide identity exactly as `emailIdentityKey` does, on every database.
 */
export function emailKeyDigest(email: string): string {
  return createHash('sha256').update(emailIdentityKey(email)).digest('hex')
}
