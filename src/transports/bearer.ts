import type { FastifyReply, FastifyRequest } from 'fastify'
import { BearerResponse, Null } from '../core/wire-schemas.js'
import type { LoginExtras, Transport } from './transport.js'

/**
 * `Authorization: Bearer <token>`, read as FastAPI's OAuth2PasswordBearer does: the scheme is
 * case-insensitive and the token is everything after the first space. Cookies and query
 * parameters are never read.
 */
export class BearerTransport implements Transport {
  readonly openapi

  /** `tokenUrl` is the login route, relative as in FastAPI (`auth/jwt/login`): Swagger UI's Authorize uses it. */
  constructor(options: { tokenUrl: string; schemeName?: string }) {
    this.openapi = {
      schemeName: options.schemeName ?? 'OAuth2PasswordBearer',
      scheme: { type: 'oauth2', flows: { password: { scopes: {}, tokenUrl: options.tokenUrl } } },
      loginResponses: { 200: BearerResponse },
      logoutResponses: { 204: Null },
    }
  }

  readToken(request: FastifyRequest): string | undefined {
    const header = request.headers.authorization
    if (!header) return undefined
    const space = header.indexOf(' ')
    const scheme = space === -1 ? header : header.slice(0, space)
    if (scheme.toLowerCase() !== 'bearer') return undefined
    return space === -1 ? '' : header.slice(space + 1)
  }

  sendLogin(reply: FastifyReply, token: string, extras: LoginExtras = {}): FastifyReply {
    const refresh = extras.refreshToken ? { refresh_token: extras.refreshToken } : {}
    // A token in the body: no cache (shared or the browser's) may keep the answer.
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .send({ access_token: token, token_type: 'bearer', ...refresh })
  }

  /** `{"refresh_token": "…"}` in the JSON body of POST …/refresh (and …/logout). */
  readRefreshToken(request: FastifyRequest): string | undefined {
    const body = request.body as { refresh_token?: unknown } | undefined
    return body && typeof body === 'object' && typeof body.refresh_token === 'string' ? body.refresh_token : undefined
  }

  sendLogout(reply: FastifyReply): FastifyReply {
    return reply.code(204).send()
  }
}
