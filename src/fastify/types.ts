import type { FastifyReply, FastifyRequest } from 'fastify'
import type { BaseUser } from '../core/user.js'
import { requestLocale } from './locale.js'

/**
 * The app's user type, declared once by the app:
 * `declare module 'fastify-users' { interface Register { user: UserOf<typeof fields> } }`
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the app through declaration merging
export interface Register {}

export type RegisteredUser = Register extends { user: infer U } ? U : BaseUser

/** The token a request authenticated with, and the name of its backend. */
export interface CurrentToken {
  token: string
  backend: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The FastAPI route name its operationId is made from (`users:current_user`). */
    fastapiName?: string
  }
  interface FastifyRequest {
    /**
     * Set by `currentUser()`; null where authentication was optional and failed. A name of its own,
     * so that @fastify/jwt (which owns `request.user`) can share the app. Without such a plugin the
     * user is in `request.user` too; `import 'fastify-users/request-user'` types it there.
     */
    currentUser: RegisteredUser | null
    /**
     * fastapi-users' `current_user_token`: the token the request authenticated with and the name of the
     * backend that accepted it, set by `currentUserToken()` (or `currentUser({ token: true })`); null
     * where authentication was optional and failed, undefined on routes that did not ask for it.
     */
    currentToken?: CurrentToken | null
  }
}

declare module '../core/hooks.js' {
  interface HookContext {
    /** The Fastify request and reply behind the operation, when there is one. */
    request?: FastifyRequest
    reply?: FastifyReply
  }
}

export function hookContext(request: FastifyRequest, reply?: FastifyReply) {
  return {
    ip: request.ip,
    userAgent: request.headers['user-agent'],
    locale: requestLocale(request),
    logger: request.log,
    request,
    reply,
  }
}
