import formbody from '@fastify/formbody'
import multipart from '@fastify/multipart'
import type { FastifyError, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import { fastapiErrorHandler, HttpError } from './errors.js'
import { serializerCompiler, validatorCompiler } from './validation.js'

export interface RouterOptions {
  /** OpenAPI tags of the router's operations. */
  tags?: string[]
}

/**
 * What every router's encapsulated scope shares: pydantic-like validation, FastAPI-shaped
 * errors, FastAPI's operationIds, no implicit HEAD routes.
 */
function baseScope(instance: FastifyInstance, tags: string[], errorHandler = fastapiErrorHandler) {
  instance.setValidatorCompiler(validatorCompiler)
  instance.setSerializerCompiler(serializerCompiler(instance))
  instance.setErrorHandler(errorHandler)
  instance.addHook('onRoute', (route: RouteOptions) => {
    const name = (route.config as { fastapiName?: string } | undefined)?.fastapiName
    if (!name) return
    route.schema = {
      summary: summaryOf(name),
      ...route.schema,
      tags,
      operationId: operationId(name, route.url, route.method),
    }
  })
}

/**
 * A scope whose routes take JSON bodies, read as FastAPI reads them: a body without
 * Content-Type is JSON; any other content type reaches validation as raw text and fails at
 * `["body"]` with a 422 (never a 415).
 */
export function jsonScope(instance: FastifyInstance, options: RouterOptions, defaultTags: string[]) {
  baseScope(instance, options.tags ?? defaultTags)
  const defaultJson = instance.getDefaultJsonParser('error', 'error')
  const json: typeof defaultJson = (request, body, done) => {
    if (nestedDeeperThan(body as string, MAX_JSON_DEPTH)) return done(unparsableBody(), undefined)
    return defaultJson(request, body, done)
  }
  instance.removeContentTypeParser('application/json')
  instance.addContentTypeParser('application/json', { parseAs: 'string' }, json)
  instance.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (request.headers['content-type'] === undefined) return json(request, body as string, done)
    done(null, body)
  })
}

/**
 * Python's recursion limit: FastAPI cannot parse a deeper body and answers 400. We could, but
 * the 422 that echoes it back could not be serialised.
 */
const MAX_JSON_DEPTH = 1000

const unparsableBody = () => new HttpError(400, 'There was an error parsing the body') as unknown as FastifyError

/** Whether arrays and objects nest deeper than `limit` (brackets inside strings not counted). */
function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/**
 * A scope whose routes take forms (urlencoded or multipart), like OAuth2PasswordRequestForm:
 * JSON and other bodies read as an empty form, and empty fields count as missing.
 */
export async function formScope(instance: FastifyInstance, options: RouterOptions, defaultTags: string[]) {
  // Busboy's errors (no boundary, a body that does not match it) carry no status: FastAPI's 400 for an unparsable body.
  const parsed = new WeakSet<FastifyRequest>()
  baseScope(instance, options.tags ?? defaultTags, (error: FastifyError, request, reply) => {
    const unparsable = request.isMultipart() && !parsed.has(request) && error.statusCode === undefined
    return fastapiErrorHandler(unparsable ? unparsableBody() : error, request, reply)
  })
  instance.removeContentTypeParser(['application/json', 'text/plain'])
  await instance.register(formbody)
  const bodyLimit = instance.initialConfig.bodyLimit ?? 1024 * 1024
  await instance.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fields: 20, fieldSize: bodyLimit, files: 0, parts: 20 },
  })
  // @fastify/multipart reads the raw stream itself, outside Fastify's bodyLimit: a declared length
  // over the limit is a 413 as for any other body (a chunked one is bounded by the part limits).
  instance.addHook('preParsing', async (request, _reply, payload) => {
    const multipartBody = request.headers['content-type']?.toLowerCase().startsWith('multipart/')
    if (multipartBody && Number(request.headers['content-length']) > bodyLimit) throw bodyTooLarge()
    return payload
  })
  instance.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, {}))
  instance.addHook('preValidation', async (request) => {
    parsed.add(request)
    const body = request.body
    if (!body || typeof body !== 'object') return
    for (const [key, value] of Object.entries(body)) {
      if (value === '') delete (body as Record<string, unknown>)[key]
    }
  })
}

function bodyTooLarge(): Error {
  return Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
}

/** FastAPI's summary of a named route: the name, `_` as spaces, in Python's title case (`Users:Patch Current User`). */
export function summaryOf(name: string): string {
  return name.replace(/_/g, ' ').replace(/[A-Za-z]+/g, (word) => word[0]?.toUpperCase() + word.slice(1).toLowerCase())
}

/** FastAPI's generate_unique_id: route name + path, non-word characters as `_`, then `_` + method. */
export function operationId(name: string, url: string, method: RouteOptions['method']): string {
  const path = url.replace(/:(\w+)/g, '{$1}')
  const verb = (Array.isArray(method) ? method[0] : method) ?? 'get'
  return `${name}${path}`.replace(/\W/g, '_') + `_${verb.toLowerCase()}`
}
