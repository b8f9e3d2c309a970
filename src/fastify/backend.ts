import type { BaseUser } from '../core/user.js'
import type { RefreshTokens } from '../strategies/refresh.js'
import type { Strategy } from '../strategies/strategy.js'
import type { Transport } from '../transports/transport.js'

/** fastapi-users' AuthenticationBackend: a named pair of Transport and Strategy. */
export interface AuthenticationBackend<U extends BaseUser> {
  name: string
  transport: Transport
  strategy: Strategy<U>
  /** Opt-in refresh tokens: login also returns one, and POST <prefix>/refresh rotates it. */
  refresh?: RefreshTokens
}

export function authenticationBackend<U extends BaseUser>(backend: AuthenticationBackend<U>): AuthenticationBackend<U> {
  if (!/^[A-Za-z0-9_-]+$/.test(backend.name)) throw new TypeError(`backend name "${backend.name}" must be a word`)
  return backend
}
