import { createHmac, timingSafeEqual } from 'node:crypto'

/** RFC 6238 as authenticator apps read an `otpauth://` URL without parameters: SHA-1, 6 digits, 30 s steps. */
export const TOTP_PERIOD_SECONDS = 30
export const TOTP_DIGITS = 6

/** The time step (RFC 6238's T) of a moment given in milliseconds since the epoch. */
export function timeStep(nowMs: number, period = TOTP_PERIOD_SECONDS): number {
  return Math.floor(nowMs / 1000 / period)
}

/** RFC 4226's HOTP of a counter: dynamic truncation of HMAC(key, counter), `digits` decimal digits. */
export function hotp(key: Uint8Array, counter: number, digits = TOTP_DIGITS, algorithm = 'sha1'): string {
  const message = Buffer.alloc(8)
  message.writeBigUInt64BE(BigInt(counter))
  const mac = createHmac(algorithm, key).update(message).digest()
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 10 ** digits).padStart(digits, '0')
}

/** The TOTP code of a moment (ms since the epoch). */
export function totp(key: Uint8Array, nowMs: number, digits = TOTP_DIGITS, algorithm = 'sha1'): string {
  return hotp(key, timeStep(nowMs), digits, algorithm)
}

/**
 * The step whose code this is, within `window` steps either side of now (the current step first),
 * or null. Every candidate is compared in constant time.
 */
export function matchingStep(key: Uint8Array, code: string, nowMs: number, window = 1): number | null {
  if (!/^\d{6}$/.test(code)) return null
  const now = timeStep(nowMs)
  const given = Buffer.from(code)
  let found: number | null = null
  for (const step of [now, now - window, now + window, ...(window > 1 ? range(now, window) : [])]) {
    if (step < 0) continue
    if (timingSafeEqual(Buffer.from(hotp(key, step)), given) && found === null) found = step
  }
  return found
}

function range(now: number, window: number): number[] {
  const steps: number[] = []
  for (let d = 2; d <= window; d++) steps.push(now - d, now + d)
  return steps
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32 without padding, as `otpauth://` secrets are written. */
export function base32Encode(bytes: Uint8Array): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

export function base32Decode(text: string): Uint8Array {
  const clean = text.replace(/[\s=]/g, '').toUpperCase()
  let bits = 0
  let value = 0
  const out: number[] = []
  for (const char of clean) {
    const index = BASE32.indexOf(char)
    if (index < 0) throw new TypeError('not base32')
    value = (value << 5) | index
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Uint8Array.from(out)
}

/** The `otpauth://totp/…` URL authenticator apps import (Key Uri Format), with the RFC defaults spelled out. */
export function otpauthUrl(secret: string, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`
  const query = new URLSearchParams({
    secret,
    issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  })
  return `otpauth://totp/${label}?${query.toString()}`
}
