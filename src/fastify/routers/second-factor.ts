import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { BaseUser } from '../../core/user.js'
import { audit } from '../audit.js'
import { authenticationOf, csrfPossible } from '../current-user.js'
import { HttpError, notFound, unauthorized } from '../errors.js'
import { rateLimited } from '../rate-limit.js'
import { bodyErrors, documented, type ErrorDoc, errors } from '../route-docs.js'
import { Null } from '../schemas.js'
import { jsonScope, type RouterOptions } from '../scope.js'
import { type SecondFactors, twoFactorErrors } from '../second-factor.js'
import {
  CodeBody,
  DisableBody,
  RecoveryCodesRead,
  SecondFactorStatus,
  StepUpBody,
  TotpSetupRead,
} from '../second-factor-schemas.js'
import { hookContext } from '../types.js'
import type { RouterContext } from './context.js'

const error = (status: number, code: string, summary: string): ErrorDoc => ({
  status,
  code,
  summary,
  body: { detail: code },
})

export const secondFactorErrors = {
  totpInvalidCode: error(
    400,
    'TOTP_INVALID_CODE',
    'The code is not the pending secret’s current one, or nothing is pending.',
  ),
  totpAlreadyEnabled: error(400, 'TOTP_ALREADY_ENABLED', 'TOTP is already on: disable it first.'),
  notEnabled: error(400, 'TWO_FACTOR_NOT_ENABLED', 'The user has no second factor.'),
  badProof: error(400, 'TWO_FACTOR_BAD_PROOF', 'The password or the code is wrong (or neither was given).'),
  badCode: error(
    400,
    'TWO_FACTOR_BAD_CODE',
    'The code is not a current code of the user’s factor, or was already used.',
  ),
}

const RECOVERY_EXAMPLE = { recovery_codes: ['k7m2p-9xq4r', 'h3n8t-w5z2c', '…'] }

function factorsOf<U extends BaseUser>(ctx: RouterContext<U>): SecondFactors<U> {
  const factors = ctx.secondFactors
  if (!factors?.enabled) throw new TypeError('second factors are not configured (FastifyUsers `secondFactor`)')
  return factors
}

/**
 * The second-factor routes of the signed-in user (mount at /auth): status, TOTP enrolment,
 * disabling, new recovery codes, and step-up.
 */
export function secondFactorRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  options: RouterOptions = {},
): FastifyPluginAsync {
  const factors = factorsOf(ctx)
  const { manager } = ctx
  const activeUser = ctx.currentUser({ active: true })
  /** Disable and recovery-codes: the user has a factor on, and authenticated recently. */
  const factorOnAndRecent = async (request: FastifyRequest) => {
    if (!(await factors.hasFactor(me(request)))) throw new HttpError(400, 'TWO_FACTOR_NOT_ENABLED')
    await factors.assertRecent(request)
  }
  const me = (request: FastifyRequest): U => {
    if (!request.currentUser) throw unauthorized()
    return request.currentUser as unknown as U
  }
  /** A wrong code or proof on one of these routes: `second_factor.failed` with the code answered. */
  const wrong = (request: FastifyRequest, code: string, stage: string) => {
    audit(ctx.audit, request, {
      type: 'second_factor.failed',
      outcome: 'failure',
      reason: code,
      user_id: String(me(request).id),
      detail: { stage },
    })
    return new HttpError(400, code)
  }
  const factorEvent = (
    request: FastifyRequest,
    type: 'second_factor.enabled' | 'second_factor.disabled' | 'second_factor.recovery_codes_renewed',
    method: string,
  ) => audit(ctx.audit, request, { type, outcome: 'success', user_id: String(me(request).id), detail: { method } })
  const window = factors.stepUpWindowSeconds
  const codeGuesses = rateLimited(ctx.rateLimits, 'login')

  return async (instance) => {
    jsonScope(instance, options, ['auth'])
    const common = { exposeHeadRoute: false }
    const csrf = csrfPossible(ctx) && errors.csrf
    const signedIn = [errors.unauthorized, csrf]

    instance.get('/2fa', {
      ...common,
      config: { fastapiName: 'auth:2fa.status' },
      schema: {
        security: ctx.security,
        ...documented({
          description:
            'Past fastapi-users: the signed-in user’s second factors: whether any is on, which (`totp`, …), and ' +
            'how many recovery codes remain unused.',
          success: {
            200: {
              schema: SecondFactorStatus,
              description: 'The user’s second factors.',
              example: { enabled: true, methods: ['totp'], recovery_codes_remaining: 10 },
            },
          },
          errors: [errors.unauthorized, errors.unavailable],
        }),
      },
      preValidation: activeUser,
      handler: async (request) => {
        const user = me(request)
        const methods = (await factors.methodsOf(user)).filter((m) => m !== 'recovery_code')
        return {
          enabled: methods.length > 0,
          methods,
          recovery_codes_remaining: methods.length > 0 ? await factors.recoveryCodesRemaining(user) : 0,
        }
      },
    })

    const totp = factors.totp
    if (totp) {
      instance.post('/2fa/totp/setup', {
        ...common,
        config: { fastapiName: 'auth:2fa.totp_setup' },
        schema: {
          security: ctx.security,
          ...documented({
            description:
              'Past fastapi-users: a new TOTP secret for the signed-in user (RFC 6238: SHA-1, 6 digits, 30 s), stored ' +
              'encrypted and pending until POST /2fa/totp/enable gets a code of it; a new setup replaces a pending one. ' +
              'Answer its `otpauth_url` as a QR code, or the secret as text.',
            success: {
              200: {
                schema: TotpSetupRead,
                description: 'The pending secret (base32) and its otpauth:// URL.',
                example: {
                  secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
                  otpauth_url: 'otpauth://totp/fastify-users:ann%40example.com?secret=JBSW…&issuer=fastify-users',
                },
              },
            },
            errors: [...bodyErrors, secondFactorErrors.totpAlreadyEnabled, ...signedIn, errors.unavailable],
          }),
        },
        preValidation: activeUser,
        handler: async (request, reply) => {
          const setup = await totp.setup(me(request))
          if (!setup) throw new HttpError(400, 'TOTP_ALREADY_ENABLED')
          reply.header('cache-control', 'no-store')
          return setup
        },
      })

      instance.post('/2fa/totp/enable', {
        ...common,
        config: { fastapiName: 'auth:2fa.totp_enable' },
        schema: {
          security: ctx.security,
          body: { ...CodeBody, examples: [{ code: '123456' }] },
          ...documented({
            description:
              'Past fastapi-users: turns TOTP on with a current code of the pending secret, and answers ten recovery ' +
              'codes (each works once, in place of a code; only their hashes are kept: show them once). From then on ' +
              'every login of the user asks for a second factor. This session counts as recently authenticated.',
            success: {
              200: {
                schema: RecoveryCodesRead,
                description: 'TOTP is on: the recovery codes.',
                example: RECOVERY_EXAMPLE,
              },
            },
            errors: [
              ...bodyErrors,
              secondFactorErrors.totpInvalidCode,
              ...signedIn,
              errors.validation,
              errors.unavailable,
            ],
          }),
        },
        preValidation: activeUser,
        handler: async (request, reply) => {
          const user = me(request)
          if (!(await totp.enable(user, (request.body as { code: string }).code.trim())))
            throw wrong(request, 'TOTP_INVALID_CODE', 'enable')
          const codes = await factors.newRecoveryCodes(user)
          factorEvent(request, 'second_factor.enabled', 'totp')
          const auth = authenticationOf<U>(request)
          if (auth) await factors.recordStepUp(user, auth.token)
          await factors.notify(user, { method: 'totp', change: 'added', by: 'user' }, hookContext(request, reply))
          reply.header('cache-control', 'no-store')
          return { recovery_codes: codes }
        },
      })
    }

    instance.post('/2fa/disable', {
      ...common,
      config: { fastapiName: 'auth:2fa.disable' },
      schema: {
        security: ctx.security,
        body: { ...DisableBody, examples: [{ password: 'guinevere' }] },
        ...documented({
          description:
            'Past fastapi-users: turns every second factor of the signed-in user off (TOTP, and its passkeys: a passkey ' +
            'is one of the factors) and deletes the recovery codes, ' +
            'given the password or a current code. Needs a recent authentication (a login through the second ' +
            `factor, or POST /2fa/step-up, within ${window} s).`,
          success: { 204: { schema: Null, description: 'Done: no body.' } },
          errors: [
            ...bodyErrors,
            secondFactorErrors.notEnabled,
            secondFactorErrors.badProof,
            ...signedIn,
            twoFactorErrors.stepUpRequired,
            errors.validation,
            errors.unavailable,
          ],
        }),
      },
      preValidation: activeUser,
      preHandler: factorOnAndRecent,
      handler: async (request, reply) => {
        const user = me(request)
        const { password, code } = request.body as { password?: string; code?: string }
        let proven = false
        if (code !== undefined) proven = await factors.verifyAny(user, code, false)
        else if (password !== undefined) {
          const checked = await manager.authenticate({ username: user.email, password })
          proven = checked !== null && checked.id === user.id
        }
        if (!proven) throw wrong(request, 'TWO_FACTOR_BAD_PROOF', 'disable')
        const removed = await factors.removeAll(user)
        for (const method of removed) factorEvent(request, 'second_factor.disabled', method)
        for (const method of removed)
          await factors.notify(user, { method, change: 'removed', by: 'user' }, hookContext(request, reply))
        return reply.code(204).send()
      },
    })

    instance.post('/2fa/recovery-codes', {
      ...common,
      config: { fastapiName: 'auth:2fa.recovery_codes' },
      schema: {
        security: ctx.security,
        body: { ...CodeBody, examples: [{ code: '123456' }] },
        ...documented({
          description:
            'Past fastapi-users: ten new recovery codes for the signed-in user, given a current code of a factor; ' +
            `the old ones stop working. Needs a recent authentication (within ${window} s).`,
          success: {
            200: { schema: RecoveryCodesRead, description: 'The new recovery codes.', example: RECOVERY_EXAMPLE },
          },
          errors: [
            ...bodyErrors,
            secondFactorErrors.notEnabled,
            secondFactorErrors.badCode,
            ...signedIn,
            twoFactorErrors.stepUpRequired,
            errors.validation,
            errors.unavailable,
          ],
        }),
      },
      preValidation: activeUser,
      preHandler: factorOnAndRecent,
      handler: async (request, reply) => {
        const user = me(request)
        if (!(await factors.verifyAny(user, (request.body as { code: string }).code, false)))
          throw wrong(request, 'TWO_FACTOR_BAD_CODE', 'recovery_codes')
        reply.header('cache-control', 'no-store')
        const codes = await factors.newRecoveryCodes(user)
        factorEvent(request, 'second_factor.recovery_codes_renewed', 'recovery_code')
        return { recovery_codes: codes }
      },
    })

    instance.post('/2fa/step-up', {
      ...common,
      config: { fastapiName: 'auth:2fa.step_up' },
      schema: {
        security: ctx.security,
        body: { ...StepUpBody, examples: [{ code: '123456' }] },
        ...documented({
          description:
            'Past fastapi-users: a current code of a second factor, or a passkey’s assertion (`{"passkey"}`, answering ' +
            '`/2fa/step-up/passkey/options`), marks this session (its token) as recently ' +
            `authenticated for ${window} s: long enough to change the e-mail address or the password, disable ` +
            'the factors or get new recovery codes. Recorded server-side, shared by every instance.',
          success: { 204: { schema: Null, description: 'Done: no body.' } },
          errors: [
            ...bodyErrors,
            secondFactorErrors.notEnabled,
            secondFactorErrors.badCode,
            ...signedIn,
            errors.validation,
            ...codeGuesses.errors,
            errors.unavailable,
          ],
        }),
      },
      onRequest: codeGuesses.onRequest, // a code guessed here is a login code guessed: login's per-address budget
      preValidation: activeUser,
      handler: async (request, reply) => {
        const user = me(request)
        if (!(await factors.hasFactor(user))) throw new HttpError(400, 'TWO_FACTOR_NOT_ENABLED')
        // wrong codes here count toward the login lock-out, as at /login/2fa
        const attempt = await ctx.rateLimits?.beginLogin(request, user.email)
        const { code, passkey } = request.body as { code?: string; passkey?: unknown }
        if (!(await factors.verifyProof(user, { code, passkey }, false)))
          throw wrong(request, 'TWO_FACTOR_BAD_CODE', 'step_up')
        await attempt?.succeeded()
        const auth = authenticationOf<U>(request)
        if (!auth) throw unauthorized()
        await factors.recordStepUp(user, auth.token)
        audit(ctx.audit, request, {
          type: 'step_up.succeeded',
          outcome: 'success',
          user_id: String(user.id),
          detail: { method: passkey !== undefined ? 'passkey' : 'code' },
        })
        return reply.code(204).send()
      },
    })

    if (factors.factors.some((f) => f.method === 'passkey' && f.options)) {
      instance.post('/2fa/step-up/passkey/options', {
        ...common,
        config: { fastapiName: 'auth:2fa.step_up_passkey_options' },
        schema: {
          security: ctx.security,
          ...documented({
            description:
              'Past fastapi-users: request options for `navigator.credentials.get()` limited to the signed-in user’s ' +
              'passkeys, the challenge bound to the user: send the assertion to POST /2fa/step-up as `passkey`.',
            success: {
              200: {
                schema: Type.Unsafe<Record<string, unknown>>({
                  type: 'object',
                  additionalProperties: true,
                  title: 'PublicKeyCredentialRequestOptionsJSON',
                }),
                description: 'The options.',
              },
            },
            errors: [
              ...bodyErrors,
              { ...secondFactorErrors.notEnabled, summary: 'The user has no passkey (or second factors are off).' },
              ...signedIn,
              errors.unavailable,
            ],
          }),
        },
        preValidation: activeUser,
        handler: async (request, reply) => {
          const options = await factors.optionsFor(
            me(request),
            'passkey',
            () => new HttpError(400, 'TWO_FACTOR_NOT_ENABLED'),
          )
          reply.header('cache-control', 'no-store')
          return options
        },
      })
    }
  }
}

const IdParams = Type.Object({ id: Type.String() })

/** DELETE /{id}/2fa (mount at /users): a superuser removes a user's second factors and recovery codes. */
export function secondFactorAdminRouter<U extends BaseUser>(
  ctx: RouterContext<U>,
  options: RouterOptions = {},
): FastifyPluginAsync {
  const factors = factorsOf(ctx)
  const superuser = ctx.currentUser({ active: true, superuser: true })
  return async (instance) => {
    jsonScope(instance, options, ['users'])
    instance.delete('/:id/2fa', {
      exposeHeadRoute: false,
      config: { fastapiName: 'users:delete_user_2fa' },
      schema: {
        security: ctx.security,
        params: IdParams,
        ...documented({
          description:
            'Past fastapi-users: removes every second factor (TOTP, passkeys) and recovery code of a user, by id (a user who lost ' +
            'the device and the codes): superusers only. The user is told by mail in the reference service.',
          success: { 204: { schema: Null, description: 'Done: no body.' } },
          errors: [
            ...bodyErrors,
            errors.unauthorized,
            errors.notSuperuser,
            csrfPossible(ctx) && errors.csrf,
            errors.userNotFound,
            errors.unavailable,
          ],
        }),
      },
      preValidation: superuser,
      handler: async (request, reply) => {
        const user = await ctx.manager.get((request.params as { id: string }).id)
        if (!user) throw notFound()
        const removed = await factors.removeAll(user)
        for (const method of removed)
          audit(ctx.audit, request, {
            type: 'second_factor.disabled',
            outcome: 'success',
            user_id: String(user.id),
            actor_id: request.currentUser ? String(request.currentUser.id) : null,
            detail: { method },
          })
        for (const method of removed)
          await factors.notify(user, { method, change: 'removed', by: 'admin' }, hookContext(request, reply))
        return reply.code(204).send()
      },
    })
  }
}
