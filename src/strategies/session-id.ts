import { createHash, randomBytes } from 'node:crypto'

/** 256 random bits, URL-safe: 43 characters, fastapi-users' `secrets.token_urlsafe()`. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url')
}

/** A session's public id: a digest of its token, so listing sessions never reveals one. */
export function sessionIdOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22)
}
