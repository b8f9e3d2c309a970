import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto'
import type { JWTPayload } from 'jose'

/**
 * HMAC-signed JWTs (HS256/384/512), signed and verified synchronously with node:crypto: the hot
 * path of every authenticated request. jose goes through WebCrypto, whose promise and key-import
 * machinery cost several times the HMAC itself (see BENCHMARKS.md), and whose hop to the thread
 * pool made token-issuing routes measurably slower than the others (a timing oracle). The checks are jose's `jwtVerify`, kept to the letter: the algorithm is pinned
 * (the header's `alg` must equal it; `none` and every other value are refused), any `crit`
 * header is refused (we understand no extension), the signature is compared in constant time,
 * base64url and UTF-8 are decoded strictly, the payload must be a JSON object, `exp`, `nbf` and
 * `iat` must be numbers when present, `exp <= now` is expired, `nbf > now` is not yet valid,
 * and the audience (string or list) must contain one of ours.
 */
export type HmacJwtAlgorithm = 'HS256' | 'HS384' | 'HS512'

const DIGEST = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' } as const
const BASE64URL = /^[A-Za-z0-9_-]*$/
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url')

/** `{alg, typ: "JWT"}` over the payload as JSON: the bytes jose's SignJWT produces. */
export function signHmacJwt(payload: object, secret: string, algorithm: HmacJwtAlgorithm = 'HS256'): string {
  const input = `${base64url(JSON.stringify({ alg: algorithm, typ: 'JWT' }))}.${base64url(JSON.stringify(payload))}`
  return `${input}.${createHmac(DIGEST[algorithm], secret).update(input).digest('base64url')}`
}

export class HmacJwtVerifier {
  private readonly key: KeyObject
  private readonly digest: string
  private readonly audiences: string[]

  /**
   * Tokens whose signature, header and audience were verified, by their whole text: a client
   * sends the same token with every request for its lifetime, and an HMAC through OpenSSL costs
   * more than the rest of the check. Only verified tokens enter; `exp` and `nbf` are checked again
   * at every use. Bounded (emptied when full).
   */
  private readonly verified = new Map<string, JWTPayload>()

  constructor(
    secret: string | Uint8Array,
    private readonly algorithm: HmacJwtAlgorithm,
    audience: string | string[],
    private readonly cacheSize = 0,
  ) {
    this.key = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret))
    this.digest = DIGEST[algorithm]
    this.audiences = typeof audience === 'string' ? [audience] : audience
  }

  /** The payload of a valid token, or null for anything else. `now` in ms since the epoch. */
  verify(token: string, now: number = Date.now()): JWTPayload | null {
    if (typeof token !== 'string') return null
    const known = this.cacheSize > 0 ? this.verified.get(token) : undefined
    if (known) return timely(known, now) ? known : null
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) return null
    const headerPart = token.slice(0, first)
    const payloadPart = token.slice(first + 1, second)
    const signaturePart = token.slice(second + 1)
    for (const part of [headerPart, payloadPart, signaturePart]) {
      if (!BASE64URL.test(part) || part.length % 4 === 1) return null
    }

    const header = parseObject(headerPart)
    if (!header || header.alg !== this.algorithm || header.crit !== undefined) return null

    const expected = createHmac(this.digest, this.key).update(token.slice(0, second)).digest()
    const given = Buffer.from(signaturePart, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null

    const payload = parseObject(payloadPart) as JWTPayload | null
    if (!payload) return null
    const { aud, exp, nbf, iat } = payload
    const audienceOk =
      typeof aud === 'string'
        ? this.audiences.includes(aud)
        : Array.isArray(aud) && this.audiences.some((a) => aud.includes(a))
    if (!audienceOk) return null
    if (iat !== undefined && typeof iat !== 'number') return null
    if ((nbf !== undefined && typeof nbf !== 'number') || (exp !== undefined && typeof exp !== 'number')) return null
    if (!timely(payload, now)) return null
    if (this.cacheSize > 0) {
      if (this.verified.size >= this.cacheSize) this.verified.clear()
      this.verified.set(token, Object.freeze(payload))
    }
    return payload
  }
}

/** `nbf` not ahead, `exp` not reached (whole seconds, as jose). */
function timely({ nbf, exp }: JWTPayload, now: number): boolean {
  const seconds = Math.floor(now / 1000)
  return !((nbf !== undefined && nbf > seconds) || (exp !== undefined && exp <= seconds))
}

function parseObject(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(Buffer.from(part, 'base64url')))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}
