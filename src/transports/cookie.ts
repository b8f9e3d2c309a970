import { parse as parseCookie, serialize as serializeCookie } from 'cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Null } from '../core/wire-schemas.js'
import type { LoginExtras, Transport } from './transport.js'

export interface CookieTransportOptions {
  cookieName?: string
  /** Seconds; null for a session cookie. */
  cookieMaxAge?: number | null
  cookiePath?: string
  cookieDomain?: string
  cookieSecure?: boolean
  cookieHttpOnly?: boolean
  cookieSameSite?: 'lax' | 'strict' | 'none'
  /** The refresh token's cookie (sent only to the backend's routes). Default `fastapiusersrefresh`. */
  refreshCookieName?: string
  /**
   * CSRF protection, on by default: a state-changing request authenticated by this cookie (and
   * the login itself) is refused with 403 `CSRF_CHECK_FAILED` when the browser says it comes from
   * another site (`Sec-Fetch-Site`) or its `Origin` is neither the request's own host nor trusted.
   * Requests without either header (non-browser clients) are not cross-site requests.
   */
  csrf?: false | { trustedOrigins?: string[] }
}

/**
 * The token in a cookie (`fastapiusersauth`, HttpOnly, Secure, SameSite=Lax by default);
 * login and logout answer 204 with Set-Cookie.
 */
export class CookieTransport implements Transport {
  readonly openapi
  private readonly settings: Required<Omit<CookieTransportOptions, 'cookieDomain' | 'cookieMaxAge' | 'csrf'>> &
    Pick<CookieTransportOptions, 'cookieDomain' | 'cookieMaxAge'>
  private readonly trustedOrigins: Set<string> | null

  constructor(options: CookieTransportOptions = {}) {
    this.settings = {
      cookieName: 'fastapiusersauth',
      cookiePath: '/',
      cookieSecure: true,
      cookieHttpOnly: true,
      cookieSameSite: 'lax',
      refreshCookieName: 'fastapiusersrefresh',
      ...options,
    }
    this.trustedOrigins = options.csrf === false ? null : new Set((options.csrf?.trustedOrigins ?? []).map(originOf))
    this.openapi = {
      schemeName: 'APIKeyCookie',
      scheme: { type: 'apiKey', in: 'cookie', name: this.settings.cookieName },
      loginResponses: { 204: Null },
      logoutResponses: { 204: Null },
    }
  }

  /** Reads the Cookie header itself, so any route can authenticate whether or not @fastify/cookie is registered there. */
  readToken(request: FastifyRequest): string | undefined {
    return this.cookie(request, this.settings.cookieName)
  }

  readRefreshToken(request: FastifyRequest): string | undefined {
    return this.cookie(request, this.settings.refreshCookieName)
  }

  sendLogin(reply: FastifyReply, token: string, extras: LoginExtras = {}): FastifyReply {
    reply.header(
      'set-cookie',
      this.serialize(this.settings.cookieName, token, this.settings.cookiePath, this.settings.cookieMaxAge),
    )
    if (extras.refreshToken) {
      const path = extras.refreshPath ?? this.settings.cookiePath
      reply.header(
        'set-cookie',
        this.serialize(this.settings.refreshCookieName, extras.refreshToken, path, extras.refreshLifetimeSeconds),
      )
    }
    // A token in Set-Cookie: no cache may keep the answer.
    return reply.code(204).header('cache-control', 'no-store').send()
  }

  sendLogout(reply: FastifyReply, extras: LoginExtras = {}): FastifyReply {
    reply.header('set-cookie', this.serialize(this.settings.cookieName, '', this.settings.cookiePath, 0))
    if (extras.refreshPath)
      reply.header('set-cookie', this.serialize(this.settings.refreshCookieName, '', extras.refreshPath, 0))
    return reply.code(204).send()
  }

  isCrossSite(request: FastifyRequest): boolean {
    if (this.trustedOrigins === null) return false
    const origin = request.headers.origin
    if (origin !== undefined && origin !== 'null' && this.trustedOrigins.has(safeOriginOf(origin))) return false
    const site = request.headers['sec-fetch-site']
    if (site === 'cross-site' || site === 'same-site') return true
    if (origin === undefined) return false
    try {
      return origin === 'null' || new URL(origin).host !== request.headers.host
    } catch {
      return true
    }
  }

  private cookie(request: FastifyRequest, name: string): string | undefined {
    const header = request.headers.cookie
    return header ? parseCookie(header)[name] : undefined
  }

  private serialize(name: string, value: string, path: string, maxAge: number | null | undefined): string {
    const s = this.settings
    return serializeCookie(name, value, {
      path,
      domain: s.cookieDomain,
      secure: s.cookieSecure,
      httpOnly: s.cookieHttpOnly,
      sameSite: s.cookieSameSite,
      ...(maxAge === null || maxAge === undefined ? {} : { maxAge, expires: new Date(Date.now() + maxAge * 1000) }),
    })
  }
}

/** `https://Example.com/` → `https://example.com`; a TypeError for anything that is not an origin. */
function originOf(value: string): string {
  const url = new URL(value)
  if (url.origin === 'null') throw new TypeError(`CookieTransport: "${value}" is not an origin`)
  return url.origin
}

function safeOriginOf(value: string): string {
  try {
    return new URL(value).origin
  } catch {
    return value
  }
}
