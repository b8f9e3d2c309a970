import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * How a user's own change of e-mail address is applied (`UserManager`'s `emailChange` option):
 * `immediate`, fastapi-users' contract (the address changes at once and `is_verified` is cleared),
 * or `confirm`: the address stays until a link mailed to the new one is opened
 * (`UserManager.confirmEmailChange`). A superuser's change of another user is always immediate.
 */
export type EmailChangeMode = 'immediate' | 'confirm'

export const EMAIL_CHANGE_MODES: readonly EmailChangeMode[] = ['immediate', 'confirm']

/** The audience of e-mail change tokens: no other token (reset, verify, access) is accepted in their place. */
export const EMAIL_CHANGE_AUDIENCE = 'fastify-users:email-change'

/**
 * The `fgpt` claim of an e-mail change token: an HMAC of the address and the password hash the
 * user had when the change was asked for. Confirming the change moves the address, so a token
 * serves once; any other change of address or password kills every token issued before it.
 */
export function emailChangeFingerprint(email: string, hashedPassword: string, secret: string): string {
  const hmac = createHmac('sha256', secret).update(JSON.stringify([email, hashedPassword]))
  return `hmac-sha256:${hmac.digest('base64url')}`
}

/** Whether `fingerprint` is that of this address and hash, compared in constant time. */
export function emailChangeFingerprintMatches(
  fingerprint: string,
  email: string,
  hashedPassword: string,
  secret: string,
): boolean {
  const expected = Buffer.from(emailChangeFingerprint(email, hashedPassword, secret))
  const given = Buffer.from(fingerprint)
  return expected.length === given.length && timingSafeEqual(expected, given)
}
