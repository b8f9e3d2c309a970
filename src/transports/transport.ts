import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TSchema } from 'typebox'

/** What a login answer carries besides the access token. */
export interface LoginExtras {
  refreshToken?: string
  refreshLifetimeSeconds?: number
  /** The path the refresh token is sent back to (cookie scope): the backend's prefix. */
  refreshPath?: string
}

/** How a token travels (Authorization header, cookie): reading it, and the login/logout answers. */
export interface Transport {
  readToken(request: FastifyRequest): string | undefined
  sendLogin(reply: FastifyReply, token: string, extras?: LoginExtras): FastifyReply
  sendLogout(reply: FastifyReply, extras?: LoginExtras): FastifyReply
  /** Where this transport carries a refresh token (a body field, a cookie). */
  readRefreshToken(request: FastifyRequest): string | undefined
  /**
   * For transports browsers send on their own (cookies): true when a state-changing request
   * comes from another site and must be refused (CSRF).
   */
  isCrossSite?(request: FastifyRequest): boolean
  readonly openapi: TransportDocs
}

export interface TransportDocs {
  /** The security scheme's name in `components.securitySchemes`. */
  schemeName: string
  scheme: Record<string, unknown>
  /** Login's success answers, by status code. */
  loginResponses: Record<number, TSchema>
  logoutResponses: Record<number, TSchema>
}
