import helmet from '@fastify/helmet'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/**
 * The API's Content-Security-Policy: a JSON answer loads nothing and is never framed. Swagger UI
 * (/docs) and the hosted pages answer with their own policies, set on their routes.
 */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'"

/**
 * Security headers on every answer of the service, errors included (helmet runs first, in
 * onRequest): a strict CSP, nosniff, no referrer, no framing, and HSTS only when `hstsMaxAge`
 * is set (HSTS_MAX_AGE, on by default in production).
 */
export async function securityHeaders(app: FastifyInstance, options: { hstsMaxAge: number }): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: options.hstsMaxAge > 0 ? { maxAge: options.hstsMaxAge, includeSubDomains: true } : false,
  })
}

/**
 * Fastify's answer to a request it cannot route at all (a malformed URL such as `/%zz`), which
 * no hook sees: FastAPI's body shape and the API's headers all the same.
 */
export function frameworkErrors(options: { hstsMaxAge: number }) {
  const headers: Record<string, string> = {
    'content-security-policy': API_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  }
  if (options.hstsMaxAge > 0) headers['strict-transport-security'] = `max-age=${options.hstsMaxAge}; includeSubDomains`
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
    return reply
      .code(status)
      .headers(headers)
      .send({ detail: status === 400 ? 'Bad Request' : 'Error' })
  }
}
