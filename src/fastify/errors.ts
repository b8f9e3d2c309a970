import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AuthError, InvalidPasswordError, InvalidUserError, ServiceUnavailable } from '../core/errors.js'
import { toValidationDetails, type ValidationDetail } from './validation.js'

/**
 * The one place that knows how errors look on the wire: FastAPI's bodies,
 * `{"detail": "..."}`, `{"detail": {"code", "reason"}}` and the 422 list.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly detail: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : `HTTP ${statusCode}`)
  }
}

export const unauthorized = () => new HttpError(401, 'Unauthorized')
export const forbidden = () => new HttpError(403, 'Forbidden')
export const notFound = () => new HttpError(404, 'Not Found')

/** A 422 built by hand, for checks Ajv cannot express. */
export class RequestValidationError extends Error {
  constructor(readonly details: ValidationDetail[]) {
    super('request validation failed')
  }
}

const JSON_INVALID = new Set(['FST_ERR_CTP_INVALID_JSON_BODY'])
const BODY_MISSING = new Set(['FST_ERR_CTP_EMPTY_JSON_BODY'])
const BODY_UNREADABLE = new Set(['FST_ERR_CTP_INVALID_MEDIA_TYPE', 'FST_ERR_CTP_INVALID_CONTENT_LENGTH'])

/** Fastify's error handler for our routes: every error answered in FastAPI's shape, never a stack trace. */
export function fastapiErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const { status, body, headers } = toResponse(error, request)
  if (status >= 500 && status !== 503) request.log.error({ err: error }, 'unhandled error')
  else if (status === 503) request.log.warn({ err: error }, 'service unavailable')
  return reply.code(status).headers(headers).send(body)
}

function toResponse(error: FastifyError, request: FastifyRequest) {
  const none: Record<string, string> = {}
  if (error instanceof HttpError)
    return { status: error.statusCode, body: { detail: error.detail }, headers: error.headers }
  if (error instanceof InvalidPasswordError) {
    return { status: 400, body: { detail: { code: error.code, reason: error.reason } }, headers: none }
  }
  if (error instanceof AuthError) return { status: 400, body: { detail: error.code }, headers: none }
  if (error instanceof RequestValidationError) return { status: 422, body: { detail: error.details }, headers: none }
  if (error instanceof InvalidUserError)
    return { status: 422, body: { detail: [valueError(error, request)] }, headers: none }
  if (error instanceof ServiceUnavailable) {
    return { status: 503, body: { detail: 'SERVICE_UNAVAILABLE' }, headers: { 'retry-after': '5' } }
  }
  if (error.validation) {
    const part = error.validationContext ?? 'body'
    const root = (request as unknown as Record<string, unknown>)[part]
    return { status: 422, body: { detail: toValidationDetails(error.validation as never, part, root) }, headers: none }
  }
  if (error.code && JSON_INVALID.has(error.code)) {
    const detail: ValidationDetail = { type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {} }
    return { status: 422, body: { detail: [detail] }, headers: none }
  }
  if (error.code && BODY_MISSING.has(error.code)) {
    const detail: ValidationDetail = { type: 'missing', loc: ['body'], msg: 'Field required', input: null }
    return { status: 422, body: { detail: [detail] }, headers: none }
  }
  if (error.code && BODY_UNREADABLE.has(error.code)) {
    const detail: ValidationDetail = {
      type: 'model_attributes_type',
      loc: ['body'],
      msg: 'Input should be a valid dictionary or object to extract fields from',
      input: null,
    }
    return { status: 422, body: { detail: [detail] }, headers: none }
  }
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500
  if (status === 500) return { status, body: { detail: 'Internal Server Error' }, headers: none }
  return { status, body: { detail: statusText(status) }, headers: none }
}

const rawBodies = new WeakMap<FastifyRequest, unknown>()

/**
 * A preValidation hook for the routes whose body reaches `validateUser`: it keeps the body as the
 * client sent it, since validation normalises it in place (addresses, defaults, unknown keys), and
 * pydantic's 422 for a model validator echoes the body as sent.
 */
export async function keepRawBody(request: FastifyRequest): Promise<void> {
  rawBodies.set(request, structuredClone(request.body))
}

/** A `model_validator`'s ValueError as FastAPI answers it: the body as sent is the input, the error an empty object. */
function valueError(error: InvalidUserError, request: FastifyRequest): ValidationDetail {
  const input = (rawBodies.has(request) ? rawBodies.get(request) : request.body) ?? null
  return { type: 'value_error', loc: ['body'], msg: `Value error, ${error.message}`, input, ctx: { error: {} } }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
}

function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error'
}
