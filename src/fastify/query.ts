import { isStorableText } from '../core/storable.js'
import { RequestValidationError } from './errors.js'
import type { ValidationDetail } from './validation.js'

/** A query parameter's value read as pydantic reads it from text, or the error it reports. */
type Reading<T> = { value: T } | { error: Omit<ValidationDetail, 'loc' | 'input'> }
export type QueryReader<T> = (text: string) => Reading<T>

/** An integer within bounds (FastAPI's `Query(ge=…, le=…)`). */
export const integerParam =
  (ge: number, le: number): QueryReader<number> =>
  (text) => {
    if (!/^\s*[+-]?\d+\s*$/.test(text))
      return {
        error: { type: 'int_parsing', msg: 'Input should be a valid integer, unable to parse string as an integer' },
      }
    const value = Number(text)
    if (value < ge)
      return {
        error: { type: 'greater_than_equal', msg: `Input should be greater than or equal to ${ge}`, ctx: { ge } },
      }
    if (value > le)
      return { error: { type: 'less_than_equal', msg: `Input should be less than or equal to ${le}`, ctx: { le } } }
    return { value }
  }

const TRUE = new Set(['1', 'on', 't', 'true', 'y', 'yes'])
const FALSE = new Set(['0', 'off', 'f', 'false', 'n', 'no'])

/** pydantic's lax boolean: `true`/`1`/`yes`/`on`/`t`/`y` and their opposites, in any case. */
export const booleanParam: QueryReader<boolean> = (text) => {
  const word = text.trim().toLowerCase()
  if (TRUE.has(word)) return { value: true }
  if (FALSE.has(word)) return { value: false }
  return { error: { type: 'bool_parsing', msg: 'Input should be a valid boolean, unable to interpret input' } }
}

/** One of fixed values (a `Literal[…]`). */
export const literalParam =
  <T extends string>(values: readonly T[]): QueryReader<T> =>
  (text) => {
    if ((values as readonly string[]).includes(text)) return { value: text as T }
    const expected = values
      .map((v) => `'${v}'`)
      .join(', ')
      .replace(/, ([^,]*)$/, ' or $1')
    return { error: { type: 'literal_error', msg: `Input should be ${expected}`, ctx: { expected } } }
  }

/** Text of at most `maxChars` characters that every database can compare (no NUL, no lone surrogate). */
export const textParam =
  (maxChars: number): QueryReader<string> =>
  (text) => {
    if (!isStorableText(text)) {
      const msg = 'String should not contain NUL characters or unpaired surrogates'
      return { error: { type: 'string_unicode', msg } }
    }
    if ([...text].length > maxChars) {
      const msg = `String should have at most ${maxChars} characters`
      return { error: { type: 'string_too_long', msg, ctx: { max_length: maxChars } } }
    }
    return { value: text }
  }

type Readers = Record<string, QueryReader<unknown>>
type Read<R extends Readers> = { [K in keyof R]?: R[K] extends QueryReader<infer T> ? T : never }

/**
 * The query string read by `readers`, every bad parameter reported at once in FastAPI's 422
 * (`loc: ["query", name]`). A repeated parameter counts by its last value, as FastAPI reads a scalar.
 */
export function readQuery<R extends Readers>(query: unknown, readers: R): Read<R> {
  const given = (query ?? {}) as Record<string, string | string[] | undefined>
  const result: Record<string, unknown> = {}
  const details: ValidationDetail[] = []
  for (const [name, reader] of Object.entries(readers)) {
    const raw = given[name]
    const text = Array.isArray(raw) ? raw[raw.length - 1] : raw
    if (text === undefined) continue
    const reading = reader(text)
    if ('value' in reading) result[name] = reading.value
    else {
      const { type, msg, ctx } = reading.error
      details.push({ type, loc: ['query', name], msg, input: text, ...(ctx ? { ctx } : {}) })
    }
  }
  if (details.length > 0) throw new RequestValidationError(details)
  return result as Read<R>
}
