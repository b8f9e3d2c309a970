import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TSchema } from 'typebox'

/** How a token travels (Authorization header, cookie): reading it, and the login/logout answers. */
export interface Transport {
  readToken(request: FastifyRequest): string | undefined
  sendLogin(reply: FastifyReply, token: string): FastifyReply
  sendLogout(reply: FastifyReply): FastifyReply
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
