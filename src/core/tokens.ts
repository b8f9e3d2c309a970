import { createHmac, timingSafeEqual } from 'node:crypto'
import type { JWTPayload } from 'jose'
import { HmacJwtVerifier, signHmacJwt } from './hmac-jwt.js'

/** One audience per purpose, so no token type can be replayed as another. */
export const AUDIENCE = {
  auth: 'fastapi-users:auth',
  reset: 'fastapi-users:reset',
  verify: 'fastapi-users:verify',
} as const

export type Clock = () => Date

/** An HMAC secret; HS256 as fastapi-users signs. The algorithm is pinned, never read from the token. */
export interface JwtKey {
  secret: string
  algorithm?: 'HS256' | 'HS384' | 'HS512'
}

/** Signs synchronously (src/core/hmac-jwt.ts): a thread-pool hop would make token-issuing routes a timing oracle. */
export async function signJwt(
  claims: Record<string, unknown>,
  key: JwtKey,
  lifetimeSeconds: number | null,
  clock: Clock = () => new Date(),
): Promise<string> {
  const payload: Record<string, unknown> = { ...claims }
  if (lifetimeSeconds !== null) payload.exp = Math.floor(clock().getTime() / 1000) + lifetimeSeconds
  return signHmacJwt(payload, key.secret, key.algorithm)
}

/** The payload of a valid token for `audience`, or null for anything else (bad signature, expired, `nbf` ahead…). */
export async function verifyJwt(
  token: string,
  key: JwtKey,
  audience: string | string[],
  clock: Clock = () => new Date(),
): Promise<JWTPayload | null> {
  return new HmacJwtVerifier(key.secret, key.algorithm ?? 'HS256', audience).verify(token, clock().getTime())
}

/**
 * The `password_fgpt` of reset tokens we issue: an HMAC of the stored hash, so any password
 * change invalidates the token. fastapi-users put a passlib hash of the hash there instead;
 * `fingerprintMatches` accepts both.
 */
export function passwordFingerprint(hashedPassword: string, secret: string): string {
  return `hmac-sha256:${createHmac('sha256', secret).update(hashedPassword).digest('base64url')}`
}

export function fingerprintMatches(fingerprint: string, hashedPassword: string, secret: string): boolean | 'legacy' {
  if (!fingerprint.startsWith('hmac-sha256:')) return 'legacy'
  const expected = Buffer.from(passwordFingerprint(hashedPassword, secret))
  const given = Buffer.from(fingerprint)
  return expected.length === given.length && timingSafeEqual(expected, given)
}
