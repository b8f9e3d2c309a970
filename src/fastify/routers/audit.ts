import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { AUTH_EVENT_TYPES, type AuditQuery, type AuditReader, type StoredAuthEvent } from '../../core/audit.js'
import type { UserManager } from '../../core/manager.js'
import type { BaseUser } from '../../core/user.js'
import { unauthorized } from '../errors.js'
import { integerParam, literalParam, type QueryReader, readQuery } from '../query.js'
import { documented, errors } from '../route-docs.js'
import { nullable } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import type { RouterContext } from './context.js'

export interface AuditRouterOptions extends RouterOptions {
  /** Where events are read from; default the audit log's sink, when it can list (createKyselyAuditSink). */
  reader?: AuditReader
  /** Only verified users may read their events (403 otherwise), as `usersRouter`'s option. Default false. */
  requiresVerification?: boolean
}

export const AUDIT_PAGE = { default: 20, max: 100 }

const nullableString = (description?: string) => nullable(Type.String(description ? { description } : {}))

const eventProperties = {
  id: Type.String({ description: 'The event’s id: pass it as `before` for the events older than it.' }),
  type: Type.String({ enum: [...AUTH_EVENT_TYPES] }),
  at: Type.String({ format: 'date-time' }),
  outcome: Type.String({ enum: ['success', 'failure'] }),
  user_id: nullableString('The user the event is about, when known.'),
  actor_id: nullableString('Who did it when not the user itself (a superuser).'),
  email: nullableString('The e-mail as typed, for failures against an address no account has.'),
  reason: nullableString('Why it failed or how it ended: a stable code.'),
  backend: nullableString('The authentication backend.'),
  ip: nullableString(),
  user_agent: nullableString(),
  request_id: nullableString(),
  detail: Type.Union([
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
    Type.Null(),
  ]),
}
const { email: _email, ...ownProperties } = eventProperties

const page = (item: object, title: string) =>
  Type.Object(
    {
      items: Type.Array(item as never),
      next: nullableString('The cursor of the next (older) page, for `before`; null on the last page.'),
    },
    { title },
  )
export const AuditEventList = page(Type.Object(eventProperties, { title: 'AuditEvent' }), 'AuditEventList')
export const OwnEventList = page(Type.Object(ownProperties, { title: 'OwnAuthEvent' }), 'OwnEventList')

const EVENT_EXAMPLE = {
  id: '1042',
  type: 'login.failed',
  at: '2026-01-01T12:00:00.000Z',
  outcome: 'failure',
  user_id: '5f8a3a4e-4c1b-4b5e-9d0a-0c6b2f1e7d3a',
  actor_id: null,
  email: null,
  reason: 'LOGIN_BAD_CREDENTIALS',
  backend: 'jwt',
  ip: '192.0.2.10',
  user_agent: 'Mozilla/5.0',
  request_id: 'req-1a',
  detail: null,
}
const { email: _example, ...OWN_EXAMPLE } = EVENT_EXAMPLE

const ISO_DATE = /^(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?)(Z|[+-]\d\d:?\d\d)?)?$/i
// MariaDB's DATETIME holds years 1000 to 9999: a bound past them is clamped (no event lies beyond)
const EARLIEST = Date.UTC(1000, 0, 1)
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** An ISO 8601 date (its midnight, UTC) or date and time (UTC without a zone), as pydantic reads a datetime. */
const dateParam: QueryReader<Date> = (text) => {
  const [, day, time, zone] = ISO_DATE.exec(text.trim()) ?? []
  const midnight = day ? Date.parse(`${day}T00:00:00Z`) : Number.NaN
  // a day the month does not have (2026-02-30) is no date, where Date.parse would roll it over
  const real = !Number.isNaN(midnight) && new Date(midnight).toISOString().slice(0, 10) === day
  const ms = real ? (time ? Date.parse(`${day}T${time}${zone ?? 'Z'}`) : midnight) : Number.NaN
  if (!Number.isNaN(ms)) return { value: new Date(Math.min(Math.max(ms, EARLIEST), LATEST)) }
  return { error: { type: 'datetime_from_date_parsing', msg: 'Input should be a valid datetime or date' } }
}

const cursorParam: QueryReader<string> = (text) => {
  const read = integerParam(1, Number.MAX_SAFE_INTEGER)(text)
  return 'value' in read ? { value: String(read.value) } : read
}

function userIdParam(manager: UserManager<BaseUser>): QueryReader<string> {
  return (text) => {
    const id = manager.parseId(text)
    if (id !== null) return { value: String(id) }
    return manager.idType === 'integer'
      ? { error: { type: 'int_parsing', msg: 'Input should be a valid integer, unable to parse string as an integer' } }
      : { error: { type: 'uuid_parsing', msg: 'Input should be a valid UUID' } }
  }
}

const pageReaders = { limit: integerParam(1, AUDIT_PAGE.max), before: cursorParam }

const limitDoc = Type.Integer({ minimum: 1, maximum: AUDIT_PAGE.max, default: AUDIT_PAGE.default })
const beforeDoc = Type.Optional(
  Type.String({ pattern: '^[0-9]+$', description: 'A cursor: the `next` of the previous page (an event id).' }),
)
const OwnQuery = Type.Object({ limit: limitDoc, before: beforeDoc })
const AdminQuery = Type.Object({
  user_id: Type.Optional(Type.String({ description: 'Events about this user (its id).' })),
  type: Type.Optional(Type.String({ enum: [...AUTH_EVENT_TYPES] })),
  // read in code as pydantic reads a datetime (a date, or a date and time); no ajv `format`: the service's
  // ajv knows none, and would warn at every start
  since: Type.Optional(Type.String({ description: 'From this time on (included): an ISO 8601 date or date-time.' })),
  until: Type.Optional(Type.String({ description: 'Before this time (excluded): an ISO 8601 date or date-time.' })),
  limit: limitDoc,
  before: beforeDoc,
})

function wire(event: StoredAuthEvent) {
  return { ...event, at: event.at.toISOString() }
}

/**
 * Past fastapi-users: the audit log, read. GET /users/me/events (the signed-in user's own events) and
 * GET /audit-events (every event, filtered, for superusers), newest first, a page at a time with a
 * cursor; mount it at the root (beside the users router at /users).
 */
export function auditRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  reader: AuditReader,
  options: AuditRouterOptions = {},
): FastifyPluginAsync {
  const verified = options.requiresVerification ?? false
  const activeUser = ctx.currentUser({ active: true, verified })
  const superuser = ctx.currentUser({ active: true, verified, superuser: true })
  const adminReaders = {
    ...pageReaders,
    user_id: userIdParam(ctx.manager as unknown as UserManager<BaseUser>),
    type: literalParam(AUTH_EVENT_TYPES),
    since: dateParam,
    until: dateParam,
  }
  const queries = new WeakMap<FastifyRequest, AuditQuery>()
  // FastAPI reads the query after the dependencies: 401/403 first, then 422. What was read replaces
  // the query (dates as ISO text), so that the documented schema validates it as it is.
  const readInto = (readers: typeof pageReaders | typeof adminReaders) => async (request: FastifyRequest) => {
    const query = { limit: AUDIT_PAGE.default, ...readQuery(request.query, readers) } as AuditQuery
    queries.set(request, query)
    request.query = {
      ...query,
      ...(query.since && { since: query.since.toISOString() }),
      ...(query.until && { until: query.until.toISOString() }),
    }
  }
  const queryOf = (request: FastifyRequest): AuditQuery => queries.get(request) ?? { limit: AUDIT_PAGE.default }

  const pageOf = async (query: AuditQuery) => {
    const found = await reader.list({ ...query, limit: query.limit + 1 })
    const items = found.slice(0, query.limit)
    const last = items[items.length - 1]
    return { items: items.map(wire), next: found.length > query.limit && last ? last.id : null }
  }

  const common = { exposeHeadRoute: false }
  const refusedUnverified = verified && errors.notVerified

  // the user's own events under the `users` tag, beside /users/me; the superusers' log under `audit`
  const own: FastifyPluginAsync = async (instance) => {
    jsonScope(instance, options, ['users'])
    instance.get('/users/me/events', {
      ...common,
      config: { fastapiName: 'users:events' },
      schema: {
        security: ctx.security,
        querystring: OwnQuery,
        ...documented({
          description:
            'Past fastapi-users: the signed-in user’s own security events (sign-ins, failures, sessions ended, ' +
            `changes of password or address…), newest first. \`limit\` 1–${AUDIT_PAGE.max} (default ` +
            `${AUDIT_PAGE.default}); \`before\` the \`next\` of the previous page. The e-mail typed in failures is left out.`,
          success: {
            200: {
              schema: OwnEventList,
              description: 'One page of the user’s events.',
              example: { items: [OWN_EXAMPLE], next: null },
            },
          },
          errors: [errors.unauthorized, refusedUnverified, errors.queryValidation, errors.unavailable],
        }),
      },
      preValidation: [activeUser, readInto(pageReaders)],
      handler: async (request) => {
        const user = request.currentUser
        if (!user) throw unauthorized()
        const result = await pageOf({ ...queryOf(request), user_id: String(user.id) })
        for (const item of result.items) delete (item as { email?: unknown }).email
        return result
      },
    })
  }

  const all: FastifyPluginAsync = async (instance) => {
    jsonScope(instance, options, ['audit'])
    instance.get('/audit-events', {
      ...common,
      config: { fastapiName: 'audit:events' },
      schema: {
        security: ctx.security,
        querystring: AdminQuery,
        ...documented({
          description:
            'Past fastapi-users: every security event, for superusers, newest first: `user_id`, `type`, `since` ' +
            `(included) and \`until\` (excluded, ISO 8601) narrow it; \`limit\` 1–${AUDIT_PAGE.max} (default ` +
            `${AUDIT_PAGE.default}); \`before\` the \`next\` of the previous page.`,
          success: {
            200: {
              schema: AuditEventList,
              description: 'One page of the matching events.',
              example: { items: [EVENT_EXAMPLE], next: '1041' },
            },
          },
          errors: [
            errors.unauthorized,
            errors.notSuperuser,
            refusedUnverified,
            errors.queryValidation,
            errors.unavailable,
          ],
        }),
      },
      preValidation: [superuser, readInto(adminReaders)],
      handler: async (request) => pageOf(queryOf(request)),
    })
  }

  return async (instance) => {
    await instance.register(own)
    await instance.register(all)
  }
}
