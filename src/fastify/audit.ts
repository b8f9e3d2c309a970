import type { FastifyRequest } from 'fastify'
import type { AuditLog, AuthEventInput } from '../core/audit.js'
import { AuthError, InvalidPasswordError } from '../core/errors.js'
import type { HookContext } from '../core/hooks.js'
import { HttpError } from './errors.js'

/** The request's facts every event carries: client address, user agent and request id. */
export function requestFacts(request: FastifyRequest): Pick<AuthEventInput, 'ip' | 'user_agent' | 'request_id'> {
  const ua = request.headers['user-agent']
  return { ip: request.ip, user_agent: typeof ua === 'string' ? ua : null, request_id: String(request.id) }
}

/** Records `input` with the request's facts, when the app has an audit log; never throws. */
export function audit(log: AuditLog | undefined, request: FastifyRequest, input: AuthEventInput): void {
  if (!log) return
  try {
    log.record({ ...requestFacts(request), ...input })
  } catch (err) {
    request.log.error({ err }, 'audit record failed')
  }
}

/**
 * Records an event the manager told of (`manager.onEvent`): with its request's facts when the
 * operation came through a route, and the signed-in superuser as the actor when it acted on another user.
 */
export function auditManagerEvent(log: AuditLog | undefined, input: AuthEventInput, ctx: HookContext | undefined) {
  if (!log) return
  const request = ctx?.request
  if (!request) return log.record(input)
  const actor = request.currentUser?.id
  const actorId = input.actor_id ?? (actor !== undefined && String(actor) !== input.user_id ? String(actor) : null)
  audit(log, request, { ...input, actor_id: actorId })
}

/**
 * The code a client got for this error, for a failure's `reason`: `{"detail": code}`, the `code` of
 * `{"detail": {"code", …}}`, or the status (`HTTP_422`); null for what is no client's failure (5xx).
 */
export function failureCode(error: unknown): string | null {
  if (error instanceof InvalidPasswordError) return error.code
  if (error instanceof AuthError) return error.code
  if (error instanceof HttpError) {
    if (error.statusCode >= 500) return null
    const { detail } = error
    if (typeof detail === 'string') return detail
    const code = (detail as { code?: unknown } | null)?.code
    return typeof code === 'string' ? code : `HTTP_${error.statusCode}`
  }
  const status = (error as { statusCode?: unknown } | null)?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) return `HTTP_${status}`
  return null
}

/**
 * Runs a route's work and records its outcome: `success(result)` (an event, or null for none) when it
 * returns, a failure of `failure.type` with the client's code when it throws one (a 5xx records nothing).
 */
export async function audited<T>(
  log: AuditLog | undefined,
  request: FastifyRequest,
  failure: Omit<AuthEventInput, 'outcome'> | null,
  run: () => Promise<T>,
  success?: (result: T) => AuthEventInput | null,
): Promise<T> {
  let result: T
  try {
    result = await run()
  } catch (error) {
    const reason = failure && failureCode(error)
    if (failure && reason) audit(log, request, { ...failure, outcome: 'failure', reason })
    throw error
  }
  const event = success?.(result)
  if (event) audit(log, request, event)
  return result
}
