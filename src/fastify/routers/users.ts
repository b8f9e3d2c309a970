import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { CreateInput, UpdateInput } from '../../core/manager.js'
import { USER_ORDERS } from '../../core/store.js'
import { type BaseUser, writableInput } from '../../core/user.js'
import { audit, audited } from '../audit.js'
import { csrfPossible } from '../current-user.js'
import { keepRawBody, notFound, unauthorized } from '../errors.js'
import { booleanParam, integerParam, literalParam, readQuery, textParam } from '../query.js'
import { bodyErrors, documented, errors, exampleOf, identifierErrors } from '../route-docs.js'
import { Null, REGISTER_EXAMPLE, USER_EXAMPLE } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import { changesCredentials, twoFactorErrors } from '../second-factor.js'
import { endSession, listAllSessions, SESSION_LIST_EXAMPLE, SessionList } from '../sessions.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'
import { deleteMeRoute, deleteRefused, type SelfDeleteOptions } from './delete-me.js'

export interface UsersRouterOptions extends RouterOptions {
  /** Only verified users may use these routes (403 otherwise). Default false. */
  requiresVerification?: boolean
  /**
   * Past fastapi-users: `DELETE /me`, users delete their own account after confirming their password
   * (see deleteMeRoute). `true`, or its options (another `confirmIdentity`). Default false: fastapi-users
   * has no such route, and a destructive route should not appear with an upgrade.
   */
  selfDelete?: boolean | SelfDeleteOptions<BaseUser>
}

const IdParams = Type.Object({ id: Type.String() })

const LIST_LIMIT = { default: 50, max: 100 }
const MAX_EMAIL_SEARCH = 320
const listReaders = {
  limit: integerParam(1, LIST_LIMIT.max),
  offset: integerParam(0, Number.MAX_SAFE_INTEGER),
  email: textParam(MAX_EMAIL_SEARCH),
  is_active: booleanParam,
  is_verified: booleanParam,
  is_superuser: booleanParam,
  order_by: literalParam(USER_ORDERS),
}
const ListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: LIST_LIMIT.max, default: LIST_LIMIT.default }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
  email: Type.Optional(
    Type.String({
      maxLength: MAX_EMAIL_SEARCH,
      description: 'A part of the address: letters A–Z in either case, every other character (`%`, `_` too) as it is.',
    }),
  ),
  is_active: Type.Optional(Type.Boolean()),
  is_verified: Type.Optional(Type.Boolean()),
  is_superuser: Type.Optional(Type.Boolean()),
  order_by: Type.Union(
    USER_ORDERS.map((order) => Type.Literal(order)),
    { default: 'email', description: 'By address (code point order) or id; `-` for descending.' },
  ),
})

/** The names of the fields an update changed (never their values), the password apart. */
function changedFields(before: BaseUser, after: BaseUser): string[] {
  const a = before as unknown as Record<string, unknown>
  const b = after as unknown as Record<string, unknown>
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((key) => key !== 'hashed_password' && JSON.stringify(a[key]) !== JSON.stringify(b[key]))
    .sort()
}

/**
 * GET/PATCH /me for the user, GET/PATCH/DELETE /:id for superusers: fastapi-users'
 * get_users_router, with its order of checks (401, 403, then 404, then the body).
 */
export function usersRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  options: UsersRouterOptions = {},
): FastifyPluginAsync {
  const { manager, schemas, fields } = ctx
  const verified = options.requiresVerification ?? false
  const activeUser = ctx.currentUser({ active: true, verified })
  const superuser = ctx.currentUser({ active: true, verified, superuser: true })
  const targets = new WeakMap<FastifyRequest, U>()

  const me = (request: FastifyRequest): U => {
    if (!request.currentUser) throw unauthorized()
    return request.currentUser as unknown as U
  }
  const target = (request: FastifyRequest): U => {
    const user = targets.get(request)
    if (!user) throw notFound()
    return user
  }
  // Runs after the superuser check and before body validation, as FastAPI's get_user_or_404.
  /**
   * An update through PATCH /me or /{id}: `password.changed` when the body set a password, and
   * `user.updated` naming the other fields it changed; a refusal is recorded as the failure of the
   * first. `actor` is the superuser, for PATCH /{id}.
   */
  const auditedUpdate = (request: FastifyRequest, before: U, input: UpdateInput<U>, update: () => Promise<U>) => {
    const actor = request.currentUser && request.currentUser.id !== before.id ? String(request.currentUser.id) : null
    const who = { user_id: String(before.id), actor_id: actor }
    const password = typeof input.password === 'string'
    return audited(
      ctx.audit,
      request,
      { type: password ? 'password.changed' : 'user.updated', ...who },
      update,
      (after) => {
        if (password) audit(ctx.audit, request, { type: 'password.changed', outcome: 'success', ...who })
        const fields = changedFields(before, after)
        return fields.length > 0
          ? { type: 'user.updated', outcome: 'success', ...who, detail: { fields: fields.join(',') } }
          : null
      },
    )
  }
  const loadTarget = async (request: FastifyRequest) => {
    const user = await manager.get((request.params as { id: string }).id)
    if (!user) throw notFound()
    targets.set(request, user)
  }

  return async (instance) => {
    jsonScope(instance, options, ['users'])
    const common = { exposeHeadRoute: false }
    // `/users/` is no `/users/{id}` in Starlette: an empty id is an unknown path, before any check.
    const nonEmptyId = async (request: FastifyRequest) => {
      if ((request.params as { id?: string }).id === '') throw notFound()
    }
    const user = exampleOf(schemas.UserRead, USER_EXAMPLE, true)
    const read = { 200: { schema: schemas.UserRead, description: 'The user.', example: user } }
    const updated = { 200: { schema: schemas.UserRead, description: 'The user, updated.', example: user } }
    const deleted = { 204: { schema: Null, description: 'Done: no body.' } }
    const patchExample = { examples: [{ email: 'arthur.pendragon@camelot.bt', password: 'excalibur-2' }] }
    const csrf = csrfPossible(ctx) && errors.csrf
    const refusedUnverified = verified && errors.notVerified
    const signedIn = [errors.unauthorized, refusedUnverified]
    const bySuperuser = [errors.unauthorized, errors.notSuperuser, refusedUnverified]
    // the taken-value errors of login identifiers besides the e-mail (a username), where there are any
    const takenBy = (place: 'self' | 'admin', context: 'REGISTER' | 'UPDATE_USER') =>
      identifierErrors(manager.store.loginIdentifiers, fields, place, context)

    instance.get('/me', {
      ...common,
      config: { fastapiName: 'users:current_user' },
      schema: {
        security: ctx.security,
        ...documented({
          description: 'The signed-in user (any active user, with its token).',
          success: read,
          errors: [...signedIn, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request) => me(request),
    })

    instance.patch('/me', {
      ...common,
      config: { fastapiName: 'users:patch_current_user' },
      schema: {
        security: ctx.security,
        body: { ...schemas.UserUpdate, ...patchExample },
        ...documented({
          description:
            'Updates the signed-in user’s own e-mail address, password and custom fields (any active user). ' +
            '`is_active`, `is_superuser` and `is_verified` are ignored here. A new address clears `is_verified`; a new ' +
            'password revokes the user’s sessions (past fastapi-users), and the owner is told by mail in the reference service.' +
            (ctx.rateLimits ? ' Past fastapi-users: changes of address or password are rate-limited.' : '') +
            (manager.emailChange === 'confirm'
              ? ' Past fastapi-users (e-mail changes confirmed): a new address is not written; a link goes to it, and ' +
                'the answer is the user with its address unchanged (other fields of the same body are applied). ' +
                'POST /auth/confirm-email-change makes the change.'
              : ''),
          success: updated,
          errors: [
            ...bodyErrors,
            errors.updateEmailExists,
            ...takenBy('self', 'UPDATE_USER'),
            errors.updateInvalidPassword,
            ...signedIn,
            csrf,
            errors.validation,
            ctx.rateLimits && errors.tooManyRequests,
            ctx.secondFactors?.enabled && twoFactorErrors.stepUpRequired,
            errors.unavailable,
          ],
        }),
      },
      preValidation: [activeUser, keepRawBody],
      // a new e-mail address or password: limited per address, per user and per new address
      preHandler: [
        ...(ctx.rateLimits ? [ctx.rateLimits.credentialChange((request) => request.user?.id)] : []),
        // a user with a second factor changes the address or password only from a recently authenticated session
        ...(ctx.secondFactors?.enabled ? [ctx.secondFactors.requireRecentAuth(changesCredentials)] : []),
      ],
      handler: async (request, reply) => {
        const input = writableInput(request.body as UpdateInput<U>, fields, 'self')
        return auditedUpdate(request, me(request), input, () =>
          manager.update(me(request), input, { safe: true, ctx: hookContext(request, reply) }),
        )
      },
    })

    // Past fastapi-users: a user deletes its own account (opt-in).
    if (options.selfDelete) {
      const selfDelete = options.selfDelete === true ? {} : (options.selfDelete as SelfDeleteOptions<U>)
      deleteMeRoute(instance, ctx, activeUser, { ...selfDelete, verified })
    }

    // Past fastapi-users: the sessions of the stateful strategies (database, Redis).
    instance.get('/me/sessions', {
      ...common,
      config: { fastapiName: 'users:sessions' },
      schema: {
        security: ctx.security,
        ...documented({
          description:
            'Past fastapi-users: every way the signed-in user is signed in, newest first: the sessions of the ' +
            'stateful backends (database, Redis) and the refresh-token families (one per login with a refresh ' +
            'token), each with its backend, creation, last use, expiry, the User-Agent and address it was opened ' +
            'from, and `current` for the one this request is made with (a JWT names its family in its `sid` claim). ' +
            'A JWT issued without a refresh token is no session and is not listed.',
          success: { 200: { schema: SessionList, description: 'The sessions.', example: SESSION_LIST_EXAMPLE } },
          errors: [...signedIn, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request) => listAllSessions(request, ctx.backends, me(request)),
    })

    instance.delete('/me/sessions', {
      ...common,
      config: { fastapiName: 'users:revoke_sessions' },
      schema: {
        security: ctx.security,
        ...documented({
          description:
            'Past fastapi-users: signs the user out everywhere: every stored session (database, Redis) and ' +
            'refresh token of every backend is revoked; a JWT lasts until it expires or the password changes.',
          success: deleted,
          errors: [...bodyErrors, ...signedIn, csrf, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request, reply) => {
        await manager.revokeSessions(me(request), { reason: 'user', ctx: hookContext(request, reply) })
        return reply.code(204).send()
      },
    })

    instance.delete('/me/sessions/:id', {
      ...common,
      config: { fastapiName: 'users:revoke_session' },
      schema: {
        security: ctx.security,
        params: IdParams,
        ...documented({
          description:
            'Past fastapi-users: ends one of the signed-in user’s sessions, by its id from GET /users/me/sessions. ' +
            'A refresh family ends with all its refresh tokens; the access JWTs already issued to it are stateless ' +
            'and stay valid until they expire (ACCESS_TOKEN_LIFETIME), or until the password changes.',
          success: deleted,
          errors: [...bodyErrors, ...signedIn, csrf, errors.sessionNotFound, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request, reply) => {
        const user = me(request)
        const { id } = request.params as { id: string }
        if (!(await endSession(ctx.backends, user, id))) throw notFound()
        audit(ctx.audit, request, {
          type: 'session.ended',
          outcome: 'success',
          user_id: String(user.id),
          reason: 'user',
          detail: { sessions: 'one' },
        })
        return reply.code(204).send()
      },
    })

    // Past fastapi-users: the superusers' list of users (where the store can list), and their own way to create one.
    if (manager.store.list)
      instance.get('/', {
        ...common,
        prefixTrailingSlash: 'no-slash',
        config: { fastapiName: 'users:list_users' },
        schema: {
          security: ctx.security,
          querystring: ListQuery,
          ...documented({
            description:
              'Past fastapi-users: the users, a page at a time, for superusers. `email` matches a part of the ' +
              'address (letters A–Z in either case, every other character as it is: `%` and `_` are no wildcards); ' +
              `the flags match exactly. \`limit\` 1–${LIST_LIMIT.max} (default ${LIST_LIMIT.default}), \`offset\` from 0; ` +
              '`order_by` is `email` (default, by code point), `-email`, `id` or `-id`. `total` counts every match.',
            success: {
              200: {
                schema: Type.Object(
                  {
                    items: Type.Array(schemas.UserRead),
                    total: Type.Integer(),
                    limit: Type.Integer(),
                    offset: Type.Integer(),
                  },
                  { title: 'UserList' },
                ),
                description: 'One page of the matching users.',
                example: { items: [user], total: 1, limit: LIST_LIMIT.default, offset: 0 },
              },
            },
            errors: [...bySuperuser, errors.queryValidation, errors.unavailable],
          }),
        },
        preValidation: [
          superuser,
          async (request) => {
            // FastAPI reads the query after the dependencies: 401/403 first, then 422
            request.query = {
              limit: LIST_LIMIT.default,
              offset: 0,
              order_by: 'email',
              ...readQuery(request.query, listReaders),
            }
          },
        ],
        handler: async (request) => {
          const { limit, offset, email, is_active, is_verified, is_superuser, order_by } = request.query as Required<
            ReturnType<typeof readQuery<typeof listReaders>>
          >
          const page = await manager.list({
            limit,
            offset,
            email,
            is_active,
            is_verified,
            is_superuser,
            orderBy: order_by,
          })
          return { ...page, limit, offset }
        },
      })

    instance.post('/', {
      ...common,
      prefixTrailingSlash: 'no-slash',
      config: { fastapiName: 'users:create_user' },
      schema: {
        security: ctx.security,
        body: { ...schemas.UserCreateAdmin, examples: [exampleOf(schemas.UserCreateAdmin, REGISTER_EXAMPLE)] },
        ...documented({
          description:
            'Past fastapi-users: creates a user, for superusers, who may set `is_active`, `is_superuser` and ' +
            '`is_verified` and the custom fields a superuser may write. The password rules and the duplicate check ' +
            'are those of registration; the after-register hook runs.',
          success: { 201: { schema: schemas.UserRead, description: 'The user, created.', example: user } },
          errors: [
            ...bodyErrors,
            errors.registerUserExists,
            ...takenBy('admin', 'REGISTER'),
            errors.registerInvalidPassword,
            ...bySuperuser,
            csrf,
            errors.validation,
            errors.unavailable,
          ],
        }),
      },
      preValidation: [superuser, keepRawBody],
      handler: async (request, reply) => {
        const input = writableInput(request.body as CreateInput<U>, fields, 'admin')
        // recorded by the manager: `register`, with this superuser as the actor
        const created = await manager.create(input, { safe: false, ctx: hookContext(request, reply) })
        return reply.code(201).send(created)
      },
    })

    instance.delete('/:id/sessions', {
      ...common,
      config: { fastapiName: 'users:revoke_user_sessions' },
      schema: {
        security: ctx.security,
        params: IdParams,
        ...documented({
          description:
            'Past fastapi-users: signs a user out everywhere, for superusers: every stored session (database, ' +
            'Redis) and refresh token of every backend is revoked; a JWT lasts until it expires.',
          success: deleted,
          errors: [...bodyErrors, ...bySuperuser, csrf, errors.userNotFound, errors.unavailable],
        }),
      },
      onRequest: nonEmptyId,
      preValidation: [superuser, loadTarget],
      handler: async (request, reply) => {
        await manager.revokeSessions(target(request), { reason: 'admin', ctx: hookContext(request, reply) })
        return reply.code(204).send()
      },
    })

    instance.get('/:id', {
      ...common,
      config: { fastapiName: 'users:user' },
      schema: {
        security: ctx.security,
        params: IdParams,
        ...documented({
          description: 'Any user, by id: superusers only. An ordinary user gets 403 for any id, its own included.',
          success: read,
          errors: [...bySuperuser, errors.userNotFound, errors.unavailable],
        }),
      },
      onRequest: nonEmptyId,
      preValidation: [superuser, loadTarget],
      handler: async (request) => target(request),
    })

    instance.patch('/:id', {
      ...common,
      config: { fastapiName: 'users:patch_user' },
      schema: {
        security: ctx.security,
        params: IdParams,
        body: { ...schemas.UserUpdateAdmin, ...patchExample },
        ...documented({
          description:
            'Updates any user, by id: superusers only, who may also set `is_active`, `is_superuser` and ' +
            '`is_verified`. Deactivating a user or changing its password revokes its sessions (past fastapi-users).' +
            (manager.emailChange === 'confirm'
              ? ' A new address is written at once, unconfirmed: superusers are trusted.'
              : ''),
          success: updated,
          errors: [
            ...bodyErrors,
            errors.updateEmailExists,
            ...takenBy('admin', 'UPDATE_USER'),
            errors.updateInvalidPassword,
            ...bySuperuser,
            csrf,
            errors.userNotFound,
            errors.validation,
            errors.unavailable,
          ],
        }),
      },
      onRequest: nonEmptyId,
      preValidation: [superuser, loadTarget, keepRawBody],
      handler: async (request, reply) => {
        const input = writableInput(request.body as UpdateInput<U>, fields, 'admin')
        return auditedUpdate(request, target(request), input, () =>
          manager.update(target(request), input, { safe: false, ctx: hookContext(request, reply) }),
        )
      },
    })

    instance.delete('/:id', {
      ...common,
      config: { fastapiName: 'users:delete_user' },
      schema: {
        security: ctx.security,
        params: IdParams,
        ...documented({
          description:
            'Deletes any user, by id: superusers only. The app’s before-delete hook may refuse (400, past ' +
            'fastapi-users); every session and refresh token of the user ends before the row goes.',
          success: deleted,
          errors: [...bodyErrors, deleteRefused, ...bySuperuser, csrf, errors.userNotFound, errors.unavailable],
        }),
      },
      onRequest: nonEmptyId,
      preValidation: [superuser, loadTarget],
      handler: async (request, reply) => {
        const user = target(request)
        await audited(
          ctx.audit,
          request,
          { type: 'user.deleted', user_id: String(user.id), actor_id: String(me(request).id) },
          () => manager.delete(user, hookContext(request, reply)),
          () => ({
            type: 'user.deleted',
            outcome: 'success',
            user_id: String(user.id),
            actor_id: String(me(request).id),
          }),
        )
        return reply.code(204).send()
      },
    })
  }
}
