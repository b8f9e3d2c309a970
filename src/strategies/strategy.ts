import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'

/**
 * What a token *is* (a JWT, a database row, a Redis key). A strategy that cannot read a
 * token returns null; only the place the contract names turns that into a 401.
 */
export interface Strategy<U extends BaseUser> {
  readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null>
  /** `context`: where the session is opened from (stored by the strategies that keep sessions). */
  writeToken(user: U, context?: SessionContext): Promise<string>
  /** Ends the token's validity where the strategy can (stateless JWTs cannot). */
  destroyToken(token: string, user: U): Promise<void>
  /** Ends every token of the user (password change, reset, deactivation, "log out everywhere"). */
  destroyAllTokens?(user: U): Promise<void>
  /** The user's live sessions, for strategies that keep them. */
  listSessions?(user: U): Promise<Session[]>
  /** Ends one session by its id (never the token itself); false when the user has no such session. */
  destroySession?(user: U, sessionId: string): Promise<boolean>
  /** The public session id of a token this strategy has just read (`current` in the list); null: none. */
  sessionIdOf?(token: string): string | null
}

/** Where a session is opened from: the request's User-Agent and address, and the refresh family it belongs to. */
export interface SessionContext {
  userAgent: string | null
  ip: string | null
  /** The public id of the refresh-token family issued with this access token (a JWT's `sid` claim). */
  refreshSessionId?: string
}

/** A live session as the user sees it: an id derived from the token, never the token. */
export interface Session {
  id: string
  created_at: string
  expires_at: string | null
  /** When it was last used (at most a minute or so behind); null where nothing is recorded. */
  last_used_at?: string | null
  /** The User-Agent and address it was opened from; null where nothing is recorded. */
  user_agent?: string | null
  ip?: string | null
}
