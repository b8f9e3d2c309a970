import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { BaseUser } from '../core/user.js'
import type { SessionContext } from '../strategies/strategy.js'
import type { AuthenticationBackend } from './backend.js'
import { authenticationOf } from './current-user.js'

/** Where a session is being opened from: the request's User-Agent and address (Fastify's, so TRUST_PROXY decides). */
export function sessionContextOf(request: FastifyRequest): SessionContext {
  const agent = request.headers['user-agent']
  return { userAgent: typeof agent === 'string' && agent !== '' ? agent : null, ip: request.ip || null }
}

export const SessionList = Type.Array(
  Type.Object({
    id: Type.String({ description: 'Opaque: a digest, never a token.' }),
    backend: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description:
        'A database or Redis session’s last use (written at most once a minute); a refresh family’s last refresh.',
    }),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    user_agent: Type.Union([Type.String(), Type.Null()], { description: 'The User-Agent it was opened with.' }),
    ip: Type.Union([Type.String(), Type.Null()], {
      description: 'The address it was opened from (X-Forwarded-For only through a trusted proxy).',
    }),
    current: Type.Boolean({ description: 'The session this request is made with.' }),
  }),
  { title: 'SessionList' },
)

const SESSION_EXAMPLE = {
  id: 'pXq4v0Jm3tW8yZ1bC6dE9f',
  backend: 'jwt',
  created_at: '2026-03-01T09:30:00.000Z',
  last_used_at: '2026-03-01T10:25:12.000Z',
  expires_at: '2026-03-31T10:25:12.000Z',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:135.0) Gecko/20100101 Firefox/135.0',
  ip: '203.0.113.7',
  current: true,
}
export const SESSION_LIST_EXAMPLE = [SESSION_EXAMPLE]

/**
 * Every way the user is signed in, newest first: each backend's stored sessions (database, Redis) and
 * its refresh-token families, with `current` for the one the request came with.
 */
export async function listAllSessions<U extends BaseUser>(
  request: FastifyRequest,
  backends: AuthenticationBackend<U>[],
  user: U,
) {
  const auth = authenticationOf<U>(request)
  const currentId = auth ? (auth.backend.strategy.sessionIdOf?.(auth.token) ?? null) : null
  const lists = await Promise.all(
    backends.map(async (b) =>
      [
        ...((await b.strategy.listSessions?.(user)) ?? []),
        ...((await b.refresh?.listSessions(user, b.name)) ?? []),
      ].map((s) => ({
        id: s.id,
        backend: b.name,
        created_at: s.created_at,
        last_used_at: s.last_used_at ?? null,
        expires_at: s.expires_at,
        user_agent: s.user_agent ?? null,
        ip: s.ip ?? null,
        current: s.id === currentId,
      })),
    ),
  )
  return lists.flat().sort((a, b) => b.created_at.localeCompare(a.created_at))
}

/** Ends the user's session or refresh family with this id, whichever backend holds it; false when none does. */
export async function endSession<U extends BaseUser>(
  backends: AuthenticationBackend<U>[],
  user: U,
  id: string,
): Promise<boolean> {
  for (const backend of backends) {
    if (await backend.strategy.destroySession?.(user, id)) return true
    if (await backend.refresh?.destroySession(user, id, backend.name)) return true
  }
  return false
}
