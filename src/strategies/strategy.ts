import type { UserManager } from '../core/manager'
import type { BaseUser } from '../core/user'

/**
 * What a token *is* (a JWT, a database row, a Redis key). A strategy that cannot read a
 * token returns null; only the place the contract names turns that into a 401.
 */
export interface Strategy<U extends BaseUser> {
  readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null>
  writeToken(user: U): Promise<string>
  /** Ends the token's validity where the strategy can (stateless JWTs cannot). */
  destroyToken(token: string, user: U): Promise<void>
}
