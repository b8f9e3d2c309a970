import { fastifyCookie } from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Null } from '../fastify/schemas'
import type { Transport } from './transport'

export interface CookieTransportOptions {
  cookieName?: string
  /** Seconds; null for a session cookie. */
  cookieMaxAge?: number | null
  cookiePath?: string
  cookieDomain?: string
  cookieSecure?: boolean
  cookieHttpOnly?: boolean
  cookieSameSite?: 'lax' | 'strict' | 'none'
}

/**
 * The token in a cookie (`fastapiusersauth`, HttpOnly, Secure, SameSite=Lax by default);
 * login and logout answer 204 with Set-Cookie. Needs @fastify/cookie (the routers register it).
 */
export class CookieTransport implements Transport {
  readonly openapi
  private readonly settings: Required<Omit<CookieTransportOptions, 'cookieDomain' | 'cookieMaxAge'>> &
    Pick<CookieTransportOptions, 'cookieDomain' | 'cookieMaxAge'>

  constructor(options: CookieTransportOptions = {}) {
    this.settings = {
      cookieName: 'fastapiusersauth',
      cookiePath: '/',
      cookieSecure: true,
      cookieHttpOnly: true,
      cookieSameSite: 'lax',
      ...options,
    }
    this.openapi = {
      schemeName: 'APIKeyCookie',
      scheme: { type: 'apiKey', in: 'cookie', name: this.settings.cookieName },
      loginResponses: { 204: Null },
      logoutResponses: { 204: Null },
    }
  }

  /** Reads the Cookie header itself, so any route can authenticate whether or not @fastify/cookie is registered there. */
  readToken(request: FastifyRequest): string | undefined {
    if (request.cookies) return request.cookies[this.settings.cookieName]
    const header = request.headers.cookie
    return header ? fastifyCookie.parse(header)[this.settings.cookieName] : undefined
  }

  sendLogin(reply: FastifyReply, token: string): FastifyReply {
    return reply
      .setCookie(this.settings.cookieName, token, this.cookieOptions(this.settings.cookieMaxAge))
      .code(204)
      .send()
  }

  sendLogout(reply: FastifyReply): FastifyReply {
    return reply.setCookie(this.settings.cookieName, '', this.cookieOptions(0)).code(204).send()
  }

  private cookieOptions(maxAge: number | null | undefined) {
    const s = this.settings
    return {
      path: s.cookiePath,
      domain: s.cookieDomain,
      secure: s.cookieSecure,
      httpOnly: s.cookieHttpOnly,
      sameSite: s.cookieSameSite,
      ...(maxAge === null || maxAge === undefined ? {} : { maxAge, expires: new Date(Date.now() + maxAge * 1000) }),
    }
  }
}
