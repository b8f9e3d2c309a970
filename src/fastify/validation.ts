import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import fastJsonStringify, { type Schema } from 'fast-json-stringify'
import type { FastifyInstance, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify'
import { normalizeEmail } from '../core/email.js'
import { codePoints, isStorableText, type StorableLimit } from '../core/storable.js'

/** One item of FastAPI's 422 body: `{"detail":[{type, loc, msg, input}]}`. */
export interface ValidationDetail {
  type: string
  loc: (string | number)[]
  msg: string
  input: unknown
  /** pydantic's error context: `{"error":{}}` for a ValueError raised by a validator. */
  ctx?: Record<string, unknown>
}

export type RequestPart = 'body' | 'query' | 'path' | 'header'

/**
 * Our own Ajv, so the routers validate like pydantic whatever the app configured:
 * every error reported (not just the first), unknown properties dropped, no type coercion,
 * and the `x-email` keyword that validates *and normalises* e-mail addresses in place.
 */
function createAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    removeAdditional: 'all',
    coerceTypes: false,
    useDefaults: true,
    strict: false,
  })
  ajv.addFormat('email', true) // documentation only: `x-email` does the work
  ajv.addFormat('uuid', true)
  ajv.addFormat('password', true)
  ajv.addKeyword({
    keyword: 'x-email',
    type: 'string',
    modifying: true,
    errors: true,
    validate: function emailKeyword(
      this: unknown,
      _enabled: boolean,
      data: string,
      _schema: unknown,
      ctx?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number },
    ) {
      const result = normalizeEmail(data)
      if (!result.ok) {
        ;(emailKeyword as unknown as { errors: Partial<ErrorObject>[] }).errors = [
          { keyword: 'x-email', message: result.reason, params: { reason: result.reason } },
        ]
        return false
      }
      if (ctx) ctx.parentData[ctx.parentDataProperty] = result.email
      return true
    },
  })
  ajv.addKeyword({
    keyword: 'x-storable',
    type: 'string',
    errors: true,
    validate: function storableKeyword(limit: StorableLimit, data: string) {
      const problem = storableProblem(limit, data)
      if (problem) (storableKeyword as unknown as { errors: Partial<ErrorObject>[] }).errors = [problem]
      return problem === undefined
    },
  })
  return ajv
}

/** Why a string cannot be stored as it is (`x-storable`), as the error pydantic would give. */
function storableProblem(limit: StorableLimit, data: string): Partial<ErrorObject> | undefined {
  if (!isStorableText(data)) {
    const message = 'String should not contain NUL characters or unpaired surrogates'
    return { keyword: 'x-storable', message, params: { type: 'string_unicode', message } }
  }
  if (limit.maxChars !== undefined && codePoints(data) > limit.maxChars) {
    const message = `String should have at most ${limit.maxChars} characters`
    return { keyword: 'x-storable', message, params: { type: 'string_too_long', message } }
  }
  if (limit.maxBytes !== undefined && Buffer.byteLength(data, 'utf8') > limit.maxBytes) {
    const message = `String should have at most ${limit.maxBytes} bytes in UTF-8`
    return { keyword: 'x-storable', message, params: { type: 'string_too_long', message } }
  }
  return undefined
}

const ajv = createAjv()

/**
 * Each route's validator is compiled by Ajv at its first request, not at start: about 60 routes'
 * schemas compiled up front cost a third of the service's start-up time and heap it never gives back
 * (issue 19). The validation itself is the same: Fastify reads `errors` from the function it called.
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema }) => {
  let compiled: ValidateFunction | undefined
  const validate = (data: unknown) => {
    compiled ??= ajv.compile(schema as object)
    const valid = compiled(data)
    validate.errors = compiled.errors
    return valid
  }
  validate.errors = null as ValidateFunction['errors']
  return validate
}

/**
 * The routers' response serializers, as Fastify's default builds them (fast-json-stringify, with the
 * scope's shared schemas), each at its first response rather than at start: see validatorCompiler.
 */
export function serializerCompiler(instance: FastifyInstance): FastifySerializerCompiler<unknown> {
  return ({ schema }) => {
    let compiled: ((data: unknown) => string) | undefined
    return (data) => {
      compiled ??= fastJsonStringify(schema as Schema, { schema: instance.getSchemas() as Record<string, Schema> })
      return compiled(data)
    }
  }
}

const PARTS: Record<string, RequestPart> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }

/** Ajv's errors for one part of the request, in FastAPI's words. */
export function toValidationDetails(errors: ErrorObject[], context: string, root: unknown): ValidationDetail[] {
  const part = PARTS[context] ?? 'body'
  const details: ValidationDetail[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    const detail = describe(error, part, root)
    const key = JSON.stringify(detail.loc)
    if (seen.has(key)) continue // pydantic reports one error per location
    seen.add(key)
    details.push(detail)
  }
  return details
}

function describe(error: ErrorObject, part: RequestPart, root: unknown): ValidationDetail {
  const path = pointerSegments(error.instancePath)
  const input = valueAt(root, path)
  const loc = [part, ...path]
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'required':
      return { type: 'missing', loc: [...loc, String(params.missingProperty)], msg: 'Field required', input }
    case 'type':
      if (input === null || input === undefined) {
        if (path.length === 0) return { type: 'missing', loc, msg: 'Field required', input: null }
      }
      return typeDetail(String(params.type), loc, input, path.length === 0)
    case 'x-email':
      return {
        type: 'value_error',
        loc,
        msg: `value is not a valid email address: ${params.reason}`,
        input,
      }
    case 'x-storable':
      return { type: String(params.type), loc, msg: String(params.message), input }
    case 'minLength':
      return { type: 'string_too_short', loc, msg: `String should have at least ${params.limit} characters`, input }
    case 'maxLength':
      return { type: 'string_too_long', loc, msg: `String should have at most ${params.limit} characters`, input }
    case 'pattern':
      return { type: 'string_pattern_mismatch', loc, msg: `String should match pattern '${params.pattern}'`, input }
    case 'enum':
    case 'const':
      return { type: 'literal_error', loc, msg: `Input should be ${describeAllowed(params)}`, input }
    default:
      return { type: 'value_error', loc, msg: error.message ?? 'Invalid value', input }
  }
}

const TYPE_WORDS: Record<string, [string, string]> = {
  string: ['string_type', 'Input should be a valid string'],
  boolean: ['bool_type', 'Input should be a valid boolean'],
  integer: ['int_type', 'Input should be a valid integer'],
  number: ['float_type', 'Input should be a valid number'],
  array: ['list_type', 'Input should be a valid list'],
  object: ['dict_type', 'Input should be a valid dictionary'],
}

function typeDetail(expected: string, loc: (string | number)[], input: unknown, isRoot: boolean): ValidationDetail {
  const first = expected.split(',')[0] ?? expected
  if (first === 'object' && isRoot) {
    return {
      type: 'model_attributes_type',
      loc,
      msg: 'Input should be a valid dictionary or object to extract fields from',
      input,
    }
  }
  const [type, msg] = TYPE_WORDS[first] ?? ['value_error', `Input should be of type ${expected}`]
  return { type, loc, msg, input }
}

function describeAllowed(params: Record<string, unknown>): string {
  const values = (params.allowedValues ?? [params.allowedValue]) as unknown[]
  return values.map((v) => `'${String(v)}'`).join(' or ')
}

function pointerSegments(pointer: string): (string | number)[] {
  if (!pointer) return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let value = root
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<string | number, unknown>)[key]
  }
  return value
}
