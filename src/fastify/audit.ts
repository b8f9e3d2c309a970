import type { FastifyRequest } from 'fastify'
import type { AuditLog, AuthEventInput } from '../core/audit.js'

/** The request's facts every event carries: client address, user agent and request id. */
export function requestFacts(request: FastifyRequest): Pick<AuthEventInput, 'ip' | 'user_agent' | 'request_id'> {
  const ua = request.headers['user-agent']
  return { ip: request.ip, user_agent: typeof ua === 'string' ? ua : null, request_id: String(request.id) }
}

/** Records `input` with the request's facts, when the app has an audit log; never throws. */
export function audit(log: AuditLog | undefined, request: FastifyRequest, input: AuthEventInput): void {
  log?.record({ ...requestFacts(request), ...input })
}
