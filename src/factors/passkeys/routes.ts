import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { type TSchema, Type } from 'typebox'
import { BadCredentials, UserNotVerified } from '../../core/errors.js'
import { UserGone } from '../../core/store.js'
import type { BaseUser } from '../../core/user.js'
import { audit, failureCode } from '../../fastify/audit.js'
import type { AuthenticationBackend } from '../../fastify/backend.js'
import { csrfFailed, csrfPossible } from '../../fastify/current-user.js'
import { notFound, unauthorized } from '../../fastify/errors.js'
import { rateLimited } from '../../fastify/rate-limit.js'
import { bodyErrors, documented, type ErrorDoc, errors } from '../../fastify/route-docs.js'
import type { RouterContext } from '../../fastify/routers/context.js'
import { Null } from '../../fastify/schemas.js'
import { jsonScope, type RouterOptions } from '../../fastify/scope.js'
import { twoFactorErrors } from '../../fastify/second-factor.js'
import { hookContext } from '../../fastify/types.js'
import type { Passkeys } from './passkeys.js'
import type { PasskeyRow } from './store.js'

export interface PasskeyRouterOptions extends RouterOptions {
  /** Only verified users may manage passkeys, and sign in with one (as the other routes). Default false. */
  requiresVerification?: boolean
}

const passkeyError = (code: string, summary: string): ErrorDoc => ({
  status: 400,
  code,
  summary,
  body: { detail: code },
})

/** The passkey codes, for the routers' docs. */
const stepUpRequired = twoFactorErrors.stepUpRequired

export const passkeyErrors = {
  invalid: passkeyError(
    'PASSKEY_INVALID',
    'The passkey’s answer does not check out: unknown or foreign credential, bad signature or origin, a signature counter that did not move forward.',
  ),
  challengeExpired: passkeyError(
    'PASSKEY_CHALLENGE_EXPIRED',
    'The challenge answered is unknown, already used, expired, or was issued for another ceremony or user: ask for new options.',
  ),
  alreadyRegistered: passkeyError('PASSKEY_ALREADY_REGISTERED', 'This authenticator’s passkey is registered already.'),
  notFound: {
    status: 404,
    code: 'Not Found',
    summary: 'The user has no passkey with this id.',
    body: { detail: 'Not Found' },
  },
} satisfies Record<string, ErrorDoc>

/** What a client sends back from `navigator.credentials.create()` / `.get()`, as JSON (`PublicKeyCredential.toJSON()`). */
const CredentialJson = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description:
    'The PublicKeyCredential as JSON (`credential.toJSON()`): id, rawId, type, response, clientExtensionResults.',
})
const Options = (title: string) =>
  Type.Unsafe<Record<string, unknown>>({
    type: 'object',
    additionalProperties: true,
    title,
    description: 'WebAuthn options as JSON, for `PublicKeyCredential.parse…OptionsFromJSON()`.',
  })
const Name = Type.String({ minLength: 1, maxLength: 100, 'x-storable': { maxChars: 100 } })
const RegisterBody = Type.Object(
  { response: CredentialJson, name: Type.Optional(Name) },
  { examples: [{ response: { id: 'AbC…', rawId: 'AbC…', type: 'public-key', response: {} }, name: 'My laptop' }] },
)
const RenameBody = Type.Object({ name: Name }, { examples: [{ name: 'My phone' }] })
const LoginBody = Type.Object({ response: CredentialJson })
const IdParams = Type.Object({ id: Type.String() })
export const PasskeyRead = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    transports: Type.Array(Type.String()),
    device_type: Type.String({ description: '`singleDevice`, or `multiDevice` (a synced passkey).' }),
    backed_up: Type.Boolean(),
  },
  { title: 'PasskeyRead' },
)
const PASSKEY_EXAMPLE = {
  id: 'q3F0Zk1tR2Q4c0xQbW9Y',
  name: 'My laptop',
  created_at: '2026-01-01T12:00:00.000Z',
  last_used_at: null,
  transports: ['internal', 'hybrid'],
  device_type: 'multiDevice',
  backed_up: true,
}

export function passkeyRead(row: PasskeyRow) {
  return {
    id: row.id,
    name: row.name,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    transports: row.transports,
    device_type: row.device_type,
    backed_up: row.backed_up,
  }
}

const DEFAULT_NAME = 'Passkey'

/** Runs an after-hook of a change already made: its failure is logged, never the request's answer. */
async function after(request: FastifyRequest, hook: () => void | Promise<void>) {
  try {
    await hook()
  } catch (error) {
    request.log.error({ err: error }, 'passkey hook failed')
  }
}

/**
 * The signed-in user's passkeys, under the auth prefix: POST /passkeys/register/options and
 * /passkeys/register, GET /passkeys, PATCH and DELETE /passkeys/{id}.
 */
export function passkeysRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  passkeys: Passkeys,
  options: PasskeyRouterOptions = {},
): FastifyPluginAsync {
  const verified = options.requiresVerification ?? false
  const activeUser = ctx.currentUser({ active: true, verified })
  const me = (request: FastifyRequest): U => {
    if (!request.currentUser) throw unauthorized()
    return request.currentUser as unknown as U
  }
  const signedIn = [errors.unauthorized, verified && errors.notVerified]
  const csrf = csrfPossible(ctx) && errors.csrf
  const read = (description: string, status = 200) => ({
    [status]: { schema: PasskeyRead, description, example: PASSKEY_EXAMPLE },
  })

  return async (instance) => {
    jsonScope(instance, options, ['auth'])
    const common = { exposeHeadRoute: false }

    instance.post('/passkeys/register/options', {
      ...common,
      config: { fastapiName: 'passkeys:register_options' },
      schema: {
        security: ctx.security,
        ...documented({
          description:
            'Past fastapi-users: creation options for `navigator.credentials.create()`, to add a passkey (a discoverable ' +
            `credential) to the signed-in user. Its challenge is answered once, within ${passkeys.challengeLifetimeSeconds} s.`,
          success: { 200: { schema: Options('PublicKeyCredentialCreationOptionsJSON'), description: 'The options.' } },
          errors: [...bodyErrors, ...signedIn, csrf, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request, reply) => {
        reply.header('cache-control', 'no-store')
        return passkeys.registrationOptions(me(request))
      },
    })

    instance.post('/passkeys/register', {
      ...common,
      config: { fastapiName: 'passkeys:register' },
      schema: {
        security: ctx.security,
        body: RegisterBody,
        ...documented({
          description:
            'Past fastapi-users: stores the passkey the authenticator made from the options (`response`: the credential ' +
            `as JSON), under \`name\` (default "${DEFAULT_NAME}"). The owner is told by mail in the reference service.`,
          success: read('The passkey, added.', 201),
          errors: [
            ...bodyErrors,
            passkeyErrors.invalid,
            passkeyErrors.challengeExpired,
            passkeyErrors.alreadyRegistered,
            ...signedIn,
            csrf,
            errors.validation,
            errors.unavailable,
          ],
        }),
      },
      preValidation: activeUser,
      handler: async (request, reply) => {
        const user = me(request)
        const body = request.body as { response: unknown; name?: string }
        const passkey = await passkeys.register(user, body.response, body.name?.trim() || DEFAULT_NAME)
        audit(ctx.audit, request, {
          type: 'passkey.added',
          outcome: 'success',
          user_id: String(user.id),
          detail: { passkey_id: passkey.id },
        })
        await after(request, () => passkeys.hooks.onPasskeyAdded?.(user, passkey, hookContext(request, reply)))
        return reply.code(201).send(passkeyRead(passkey))
      },
    })

    instance.get('/passkeys', {
      ...common,
      config: { fastapiName: 'passkeys:list' },
      schema: {
        security: ctx.security,
        ...documented({
          description: 'Past fastapi-users: the signed-in user’s passkeys, oldest first.',
          success: {
            200: {
              schema: Type.Array(PasskeyRead, { title: 'PasskeyList' }),
              description: 'The passkeys.',
              example: [PASSKEY_EXAMPLE],
            },
          },
          errors: [...signedIn, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request) => (await passkeys.store.listForUser(me(request).id)).map(passkeyRead),
    })

    instance.patch('/passkeys/:id', {
      ...common,
      config: { fastapiName: 'passkeys:rename' },
      schema: {
        security: ctx.security,
        params: IdParams,
        body: RenameBody,
        ...documented({
          description: 'Past fastapi-users: renames one of the signed-in user’s passkeys.',
          success: read('The passkey, renamed.'),
          errors: [...bodyErrors, ...signedIn, csrf, passkeyErrors.notFound, errors.validation, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request) => {
        const user = me(request)
        const { id } = request.params as { id: string }
        const { name } = request.body as { name: string }
        if (!(await passkeys.store.rename(user.id, id, name.trim() || DEFAULT_NAME))) throw notFound()
        const passkey = await passkeys.store.getForUser(user.id, id)
        if (!passkey) throw notFound()
        return passkeyRead(passkey)
      },
    })

    instance.delete('/passkeys/:id', {
      ...common,
      config: { fastapiName: 'passkeys:delete' },
      schema: {
        security: ctx.security,
        params: IdParams,
        ...documented({
          description:
            'Past fastapi-users: removes one of the signed-in user’s passkeys; it signs in no more. The owner is told by mail in the reference service.' +
            (ctx.secondFactors?.enabled
              ? ' With second factors on, a passkey is one: this needs a recent authentication (POST /auth/2fa/step-up).'
              : ''),
          success: { 204: { schema: Null, description: 'Done: no body.' } },
          errors: [
            ...bodyErrors,
            ...signedIn,
            csrf,
            ctx.secondFactors?.enabled && stepUpRequired,
            passkeyErrors.notFound,
            errors.unavailable,
          ],
        }),
      },
      preValidation: activeUser,
      // with second factors on, a passkey is one: removing it needs a recent authentication (step-up)
      preHandler: async (request) => {
        if (ctx.secondFactors?.enabled) await ctx.secondFactors.assertRecent(request)
      },
      handler: async (request, reply) => {
        const user = me(request)
        const { id } = request.params as { id: string }
        const passkey = await passkeys.store.getForUser(user.id, id)
        if (!passkey || !(await passkeys.store.delete(user.id, id))) throw notFound()
        audit(ctx.audit, request, {
          type: 'passkey.removed',
          outcome: 'success',
          user_id: String(user.id),
          detail: { passkey_id: passkey.id },
        })
        await after(request, () => passkeys.hooks.onPasskeysRemoved?.(user, [passkey], hookContext(request, reply)))
        return reply.code(204).send()
      },
    })
  }
}

/** DELETE /{id}/passkeys for superusers, under the users prefix: removes every passkey of a user. */
export function passkeysAdminRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  passkeys: Passkeys,
  options: PasskeyRouterOptions = {},
): FastifyPluginAsync {
  const verified = options.requiresVerification ?? false
  const superuser = ctx.currentUser({ active: true, verified, superuser: true })
  return async (instance) => {
    jsonScope(instance, options, ['users'])
    instance.delete('/:id/passkeys', {
      exposeHeadRoute: false,
      config: { fastapiName: 'users:delete_user_passkeys' },
      schema: {
        security: ctx.security,
        params: IdParams,
        ...documented({
          description:
            'Past fastapi-users: removes every passkey of a user, for superusers (a lost device, a suspected theft). ' +
            'The owner is told by mail in the reference service when there was any.',
          success: { 204: { schema: Null, description: 'Done: no body.' } },
          errors: [
            ...bodyErrors,
            errors.unauthorized,
            errors.notSuperuser,
            verified && errors.notVerified,
            csrfPossible(ctx) && errors.csrf,
            errors.userNotFound,
            errors.unavailable,
          ],
        }),
      },
      onRequest: async (request) => {
        if ((request.params as { id?: string }).id === '') throw notFound()
      },
      preValidation: superuser,
      handler: async (request, reply) => {
        const user = await ctx.manager.get((request.params as { id: string }).id)
        if (!user) throw notFound()
        const removed = await passkeys.store.listForUser(user.id)
        await passkeys.store.deleteForUser(user.id)
        if (removed.length > 0)
          audit(ctx.audit, request, {
            type: 'passkey.removed',
            outcome: 'success',
            user_id: String(user.id),
            actor_id: request.currentUser ? String(request.currentUser.id) : null,
            detail: { count: removed.length },
          })
        if (removed.length > 0)
          await after(request, () => passkeys.hooks.onPasskeysRemoved?.(user, removed, hookContext(request, reply)))
        return reply.code(204).send()
      },
    })
  }
}

/**
 * POST /login/passkey/options and POST /login/passkey for one backend, under its prefix: a sign-in with
 * a passkey alone (a discoverable credential: no e-mail typed), answered exactly as that backend's
 * password login, after the same checks (active user, verification where required, onBeforeLogin).
 */
export function passkeyLoginRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  passkeys: Passkeys,
  backend: AuthenticationBackend<U>,
  options: PasskeyRouterOptions = {},
): FastifyPluginAsync {
  const { manager } = ctx
  const requiresVerification = options.requiresVerification ?? false
  const { transport, strategy, refresh } = backend
  const loginLimit = rateLimited(ctx.rateLimits, 'login')
  const refuseCrossSite = async (request: FastifyRequest) => {
    if (transport.isCrossSite?.(request)) throw csrfFailed()
  }
  const answers = Object.fromEntries(
    Object.entries(transport.openapi.loginResponses).map(([status, schema]) => [
      status,
      {
        schema: schema as TSchema,
        description: 'Signed in: the access token (the body or a cookie, as the transport carries it).',
      },
    ]),
  )

  return async (instance) => {
    jsonScope(instance, options, ['auth'])
    const prefix = instance.prefix || '/'

    instance.post('/login/passkey/options', {
      exposeHeadRoute: false,
      config: { fastapiName: `auth:${backend.name}.passkey_login_options` },
      schema: {
        ...documented({
          description:
            'Past fastapi-users: request options for `navigator.credentials.get()`, to sign in with a passkey alone ' +
            `(the authenticator offers the user's own). Anyone may call it; the challenge is answered once, within ${passkeys.challengeLifetimeSeconds} s.`,
          success: { 200: { schema: Options('PublicKeyCredentialRequestOptionsJSON'), description: 'The options.' } },
          errors: [...bodyErrors, ...loginLimit.errors, errors.unavailable],
        }),
      },
      onRequest: loginLimit.onRequest,
      handler: async (_request, reply) => {
        reply.header('cache-control', 'no-store')
        return passkeys.loginOptions()
      },
    })

    instance.post('/login/passkey', {
      exposeHeadRoute: false,
      config: { fastapiName: `auth:${backend.name}.passkey_login` },
      schema: {
        body: LoginBody,
        ...documented({
          description:
            `Past fastapi-users: signs in with a passkey (\`response\`: the assertion as JSON) and answers as the \`${backend.name}\` ` +
            `backend's /login does${refresh ? ', with a refresh token' : ''}. The user must be active` +
            `${requiresVerification ? ' and verified' : ''}; onBeforeLogin may refuse, as for a password.`,
          success: answers,
          errors: [
            ...bodyErrors,
            passkeyErrors.invalid,
            passkeyErrors.challengeExpired,
            errors.badCredentials,
            requiresVerification && errors.userNotVerified,
            transport.isCrossSite && errors.csrf,
            errors.validation,
            ...loginLimit.errors,
            errors.unavailable,
          ],
        }),
      },
      onRequest: [refuseCrossSite, ...loginLimit.onRequest],
      handler: async (request, reply: FastifyReply) => {
        let userId: string | null = null
        try {
          return await signIn(request, reply, (id) => {
            userId = id
          })
        } catch (error) {
          const reason = failureCode(error)
          if (reason)
            audit(ctx.audit, request, {
              type: 'login.failed',
              outcome: 'failure',
              reason,
              user_id: userId,
              backend: backend.name,
              detail: { method: 'passkey' },
            })
          throw error
        }
      },
    })
    const signIn = async (request: FastifyRequest, reply: FastifyReply, known: (userId: string) => void) => {
      const passkey = await passkeys.authenticate((request.body as { response: unknown }).response, 'login')
      known(String(passkey.user_id))
      const user = await manager.get(passkey.user_id)
      if (!user?.is_active) throw new BadCredentials()
      if (requiresVerification && !user.is_verified) throw new UserNotVerified()
      await manager.beforeLogin(user, { ...hookContext(request, reply), backend: backend.name, method: 'passkey' })
      let token: string
      let refreshToken: string | undefined
      try {
        refreshToken = await refresh?.issue(user, backend.name)
        token = await strategy.writeToken(user)
      } catch (error) {
        if (error instanceof UserGone) throw new BadCredentials()
        throw error
      }
      reply.header('cache-control', 'no-store')
      // a passkey is a second factor: signing in with one is a recent authentication (step-up)
      if (ctx.secondFactors?.enabled) await ctx.secondFactors.recordStepUp(user, token)
      audit(ctx.audit, request, {
        type: 'login.succeeded',
        outcome: 'success',
        user_id: String(user.id),
        backend: backend.name,
        detail: { method: 'passkey' },
      })
      await manager.onAfterLogin(user, { ...hookContext(request, reply), token })
      return transport.sendLogin(reply, token, {
        refreshToken,
        refreshLifetimeSeconds: refresh?.lifetimeSeconds,
        refreshPath: prefix,
      })
    }
  }
}
