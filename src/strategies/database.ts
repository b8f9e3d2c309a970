import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import type { AccessTokenStore } from '../stores/kysely/access-token-store.js'
import { generateToken, sessionIdOf } from './session-id.js'
import type { Session, Strategy } from './strategy.js'

export interface DatabaseStrategyOptions {
  store: AccessTokenStore
  /** Seconds a token stays valid after login; null: until logout. */
  lifetimeSeconds: number | null
}

/** fastapi-users' DatabaseStrategy: opaque tokens, one `accesstoken` row each; logout deletes the row. */
export class DatabaseStrategy<U extends BaseUser> implements Strategy<U> {
  constructor(private readonly options: DatabaseStrategyOptions) {
    if (!options.store) throw new TypeError('DatabaseStrategy: `store` is required')
  }

  async readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null> {
    if (!token || token.length > 64) return null
    const row = await this.options.store.get(token, this.options.lifetimeSeconds)
    return row ? manager.get(row.user_id) : null
  }

  async writeToken(user: U): Promise<string> {
    const token = generateToken()
    await this.options.store.create({ token, user_id: user.id, created_at: new Date() })
    return token
  }

  async destroyToken(token: string): Promise<void> {
    await this.options.store.delete(token)
  }

  async destroyAllTokens(user: U): Promise<void> {
    await this.options.store.deleteForUser(user.id)
  }

  async listSessions(user: U): Promise<Session[]> {
    const lifetime = this.options.lifetimeSeconds
    const rows = await this.options.store.listForUser(user.id)
    return rows
      .filter((row) => lifetime === null || row.created_at.getTime() + lifetime * 1000 > Date.now())
      .map((row) => ({
        id: sessionIdOf(row.token),
        created_at: row.created_at.toISOString(),
        expires_at: lifetime === null ? null : new Date(row.created_at.getTime() + lifetime * 1000).toISOString(),
      }))
  }

  async destroySession(user: U, sessionId: string): Promise<boolean> {
    const rows = await this.options.store.listForUser(user.id)
    const row = rows.find((r) => sessionIdOf(r.token) === sessionId)
    if (!row) return false
    await this.options.store.delete(row.token)
    return true
  }
}
