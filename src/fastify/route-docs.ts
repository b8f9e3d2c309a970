import type { TSchema } from 'typebox'
import { extraIdentifiers, type IdentifierContext, identifierExistsCode } from '../core/identifiers.js'
import { type UserFields, type WritePlace, writableFieldNames } from '../core/user.js'
import { ErrorModel, HTTPValidationError } from '../core/wire-schemas.js'

/**
 * One answer a route can refuse with: its status, its code (the `detail`, or the code inside it),
 * what it means, and its body. A route's OpenAPI operation lists every one it can give, as named
 * examples of that status, as fastapi-users' routers declare theirs.
 */
export interface ErrorDoc {
  status: number
  code: string
  summary: string
  body: unknown
}

const error = (status: number, code: string, summary: string, detail: unknown = code): ErrorDoc => ({
  status,
  code,
  summary,
  body: { detail },
})
const invalidPassword = (context: string) =>
  error(400, `${context}_INVALID_PASSWORD`, 'Password validation failed.', {
    code: `${context}_INVALID_PASSWORD`,
    reason: 'Password should be at least 8 characters',
  })

/** Every error a router answers, in fastapi-users' words where it has them. */
export const errors = {
  badCredentials: error(400, 'LOGIN_BAD_CREDENTIALS', 'Bad credentials or the user is inactive.'),
  userNotVerified: error(400, 'LOGIN_USER_NOT_VERIFIED', 'The user requires verification.'),
  registerUserExists: error(400, 'REGISTER_USER_ALREADY_EXISTS', 'A user with this email already exists.'),
  registerInvalidPassword: invalidPassword('REGISTER'),
  resetBadToken: error(400, 'RESET_PASSWORD_BAD_TOKEN', 'Bad or expired token.'),
  resetInvalidPassword: invalidPassword('RESET_PASSWORD'),
  verifyBadToken: error(
    400,
    'VERIFY_USER_BAD_TOKEN',
    'Bad token, not existing user or not the e-mail currently set for the user.',
  ),
  verifyAlreadyVerified: error(400, 'VERIFY_USER_ALREADY_VERIFIED', 'The user is already verified.'),
  updateEmailExists: error(400, 'UPDATE_USER_EMAIL_ALREADY_EXISTS', 'A user with this email already exists.'),
  updateInvalidPassword: invalidPassword('UPDATE_USER'),
  oauthInvalidState: error(
    400,
    'OAUTH_INVALID_STATE',
    'Invalid state token: missing, forged, expired, already used, or not this browser’s (its CSRF cookie).',
  ),
  oauthProviderError: error(
    400,
    'OAUTH_PROVIDER_ERROR',
    'The provider refused the authorization or its answer did not check out.',
  ),
  oauthNoEmail: error(
    400,
    'OAUTH_NOT_AVAILABLE_EMAIL',
    'The provider gave no e-mail address, or one it does not vouch for where no user may be created for it.',
  ),
  oauthUserExists: error(
    400,
    'OAUTH_USER_ALREADY_EXISTS',
    'A user with this email already exists and may not be linked automatically: sign in and link the account.',
  ),
  oauthAccountLinked: error(400, 'OAUTH_ACCOUNT_ALREADY_LINKED', 'This provider account is linked to another user.'),
  unparsableBody: error(
    400,
    'There was an error parsing the body',
    'The body cannot be parsed (JSON nested deeper than Python could read, a broken multipart form), as FastAPI answers.',
  ),
  unauthorized: error(401, 'Unauthorized', 'Missing token or inactive user.'),
  notSuperuser: error(403, 'Forbidden', 'Not a superuser.'),
  notVerified: error(403, 'Forbidden', 'The user is not verified.'),
  csrf: error(
    403,
    'CSRF_CHECK_FAILED',
    'A request authenticated by a cookie (or a cookie login) came from another site (Sec-Fetch-Site or Origin).',
  ),
  userNotFound: error(404, 'Not Found', 'The user does not exist.'),
  sessionNotFound: error(404, 'Not Found', 'No session of this user has this id.'),
  bodyTooLarge: error(413, 'Request Entity Too Large', 'The body is over the service’s limit (BODY_LIMIT).'),
  validation: error(422, 'VALIDATION_ERROR', 'The request does not match its schema (FastAPI’s 422).', [
    { type: 'missing', loc: ['body', 'email'], msg: 'Field required', input: {} },
  ]),
  queryValidation: error(
    422,
    'VALIDATION_ERROR',
    'A query parameter is out of its range or not of its type (FastAPI’s 422).',
    [
      {
        type: 'less_than_equal',
        loc: ['query', 'limit'],
        msg: 'Input should be less than or equal to 100',
        input: '101',
        ctx: { le: 100 },
      },
    ],
  ),
  tooManyRequests: error(
    429,
    'TOO_MANY_REQUESTS',
    'Over a rate limit or the login lock-out: wait Retry-After seconds.',
  ),
  unavailable: error(
    503,
    'SERVICE_UNAVAILABLE',
    'A store (the database, Redis) or the provider cannot be reached: retry after Retry-After seconds.',
  ),
} satisfies Record<string, ErrorDoc>

/**
 * The taken-value errors of the login identifiers besides the e-mail (a username, issue #17) that a
 * route may write (`place`): `REGISTER_USERNAME_ALREADY_EXISTS`, `UPDATE_USER_USERNAME_ALREADY_EXISTS`.
 * None where the app has no such identifier: the document is then fastapi-users' as before.
 */
export function identifierErrors(
  identifiers: readonly string[] | undefined,
  fields: UserFields,
  place: WritePlace,
  context: IdentifierContext,
): ErrorDoc[] {
  const writable = writableFieldNames(fields, place)
  return extraIdentifiers(identifiers ?? [])
    .filter((field) => writable.includes(field))
    .map((field) => error(400, identifierExistsCode(field, context), `A user with this ${field} already exists.`))
}

/** What any route that reads a body may answer before it looks at anything else. */
export const bodyErrors = [errors.unparsableBody, errors.bodyTooLarge]

/** A success answer: its body (`Null` for none) and what it means. */
export interface SuccessDoc {
  schema: TSchema
  description: string
  example?: unknown
}

export interface RouteDocs {
  /** What the route does, who may call it, what it changes; where it goes past fastapi-users, said so. */
  description: string
  success: Record<number, SuccessDoc>
  /** Every error the route can answer; `false` and `undefined` (a condition not met) are left out. */
  errors: (ErrorDoc | false | undefined)[]
}

/**
 * The `description` and `response` of a route's schema (its summary is FastAPI's, from its name: scope.ts), from one table: the response
 * of each error status is its schema (ErrorModel, or HTTPValidationError for 422) with every code
 * of that status as a named example. The table is what test/server/openapi.test.ts checks the
 * routes' real answers against.
 */
export function documented(docs: RouteDocs): { description: string; response: object } {
  const response: Record<number, object> = {}
  for (const [status, success] of Object.entries(docs.success)) {
    const examples = success.example === undefined ? {} : { 'x-examples': { example: { value: success.example } } }
    response[Number(status)] = { ...success.schema, 'x-response-description': success.description, ...examples }
  }
  const given = docs.errors.filter((e): e is ErrorDoc => !!e)
  // the route's own codes first (the example a viewer shows), what any body reader answers after them
  const ordered = [...given.filter((e) => !bodyErrors.includes(e)), ...given.filter((e) => bodyErrors.includes(e))]
  for (const [status, list] of groupByStatus(ordered)) {
    const examples: Record<string, { summary: string; value: unknown }> = {}
    for (const e of list) {
      const known = examples[e.code]
      examples[e.code] = { summary: known ? `${known.summary} Or: ${e.summary}` : e.summary, value: e.body }
    }
    response[status] = {
      ...(status === 422 ? HTTPValidationError : ErrorModel),
      'x-response-description': Object.values(examples)
        .map((e) => e.summary)
        .join(' '),
      'x-examples': examples,
    }
  }
  return { description: docs.description, response }
}

function groupByStatus(list: ErrorDoc[]): Map<number, ErrorDoc[]> {
  const groups = new Map<number, ErrorDoc[]>()
  for (const e of list) groups.set(e.status, [...(groups.get(e.status) ?? []), e])
  return new Map([...groups].sort(([a], [b]) => a - b))
}

/**
 * An example of an object schema's value: `known` values where they fit the property's type, then
 * for every other property (required ones only, unless `all`) its own example, its default, or a
 * placeholder of its type. So an app's custom fields, and an integer id, get examples that validate.
 */
export function exampleOf(schema: TSchema, known: Record<string, unknown>, all = false): Record<string, unknown> {
  const { properties = {}, required = [] } = schema as {
    properties?: Record<string, { type?: string | string[]; examples?: unknown[]; default?: unknown }>
    required?: string[]
  }
  const example: Record<string, unknown> = {}
  for (const [name, property] of Object.entries(properties)) {
    const types = [property.type ?? []].flat()
    const value = known[name]
    if (value !== undefined && (types.length === 0 || types.includes(jsonType(value)))) example[name] = value
    else if (all || required.includes(name))
      example[name] = property.examples?.[0] ?? property.default ?? placeholder(types)
  }
  return example
}

function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (Number.isInteger(value)) return 'integer'
  return typeof value === 'number' ? 'number' : typeof value
}

function placeholder(types: string[]): unknown {
  if (types.includes('integer')) return 1
  if (types.includes('number')) return 0
  if (types.includes('boolean')) return false
  if (types.includes('string')) return 'string'
  return null
}
