import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import helmet from 'helmet'

/**
 * The API's Content-Security-Policy: a JSON answer loads nothing and is never framed. Swagger UI
 * (/docs) and the hosted pages answer with their own policies, set on their routes.
 */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'"

/**
 * Security headers on every answer of the service, errors included (set first, in onRequest): a
 * strict CSP, nosniff, no referrer, no framing, helmet's cross-origin defaults, and HSTS only
 * when `hstsMaxAge` is set (HSTS_MAX_AGE, on by default in production).
 *
 * helmet decides the headers, once, at start: its middleware rebuilds them (CSP parsing included)
 * on every request, which halved the throughput of a bare route. None of ours depends on the
 * request, so they are computed once and copied onto each reply.
 */
export async function securityHeaders(app: FastifyInstance, options: { hstsMaxAge: number }): Promise<void> {
  const headers = helmetHeaders(options.hstsMaxAge)
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}

/** The headers helmet sets with our options, read off one run of its middleware. */
export function helmetHeaders(hstsMaxAge: number): Record<string, string> {
  const middleware = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: hstsMaxAge > 0 ? { maxAge: hstsMaxAge, includeSubDomains: true } : false,
  })
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    },
  }
  let failure: unknown
  middleware({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    failure = error
  })
  if (failure) throw failure
  return Object.freeze(headers) as Record<string, string>
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
