/**
 * `import 'fastify-users/request-user'` types the authenticated user in `request.user` as well as
 * in `request.currentUser`. For apps without @fastify/jwt, which declares `request.user` for its
 * own payload (the two declarations would clash, TS2717).
 */
import type { RegisteredUser } from './fastify/types.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The user `currentUser()` authenticated (the same as `request.currentUser`). */
    user: RegisteredUser | null
  }
}
