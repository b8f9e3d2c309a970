import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import type { AccessTokenStore } from '../stores/kysely/access-token-store.js'
import type { SessionInfoRow, SessionInfoStore } from '../stores/kysely/session-info-store.js'
import { generateToken, sessionIdOf } from './session-id.js'
import {
  LAST_USED_INTERVAL_MS,
  MAX_IP,
  MAX_USER_AGENT,
  type SessionLimit,
  storableMeta,
  UsageClock,
} from './session-usage.js'
import type { Session, SessionContext, Strategy } from './strategy.js'

export interface DatabaseStrategyOptions {
  store: AccessTokenStore
  /** Seconds a token stays valid after login; null: until logout. */
  lifetimeSeconds: number | null
  /**
   * Where each session's User-Agent, address and last use are kept (the `session_info` table, keyed by
   * the session's id: `accesstoken` keeps fastapi-users' shape). Without it sessions list none of these.
   */
  sessions?: SessionInfoStore
  /** A cap on each user's concurrent sessions: the oldest end when a login goes beyond it. */
  limit?: SessionLimit
}

/** fastapi-users' DatabaseStrategy: opaque tokens, one `accesstoken` row each; logout deletes the row. */
export class DatabaseStrategy<U extends BaseUser> implements Strategy<U> {
  private readonly usage = new UsageClock()

  constructor(private readonly options: DatabaseStrategyOptions) {
    if (!options.store) throw new TypeError('DatabaseStrategy: `store` is required')
    options.limit?.register(this)
  }

  async readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null> {
    if (!token || token.length > 64) return null
    const row = await this.options.store.get(token, this.options.lifetimeSeconds)
    if (!row) return null
    const { sessions } = this.options
    const id = sessionIdOf(token)
    const now = Date.now()
    // At most one write a minute per session and process; the condition keeps other processes' writes to one too.
    if (sessions && this.usage.due(id, now)) {
      await sessions.touch(id, new Date(now), new Date(now - LAST_USED_INTERVAL_MS))
    }
    return manager.get(row.user_id)
  }

  async writeToken(user: U, context?: SessionContext): Promise<string> {
    const token = generateToken()
    const created_at = new Date()
    await this.options.store.create({ token, user_id: user.id, created_at })
    const id = sessionIdOf(token)
    await this.options.sessions?.create({
      session_id: id,
      user_id: user.id,
      created_at,
      last_used_at: created_at,
      user_agent: storableMeta(context?.userAgent, MAX_USER_AGENT),
      ip: storableMeta(context?.ip, MAX_IP),
    })
    await this.options.limit?.enforce(user, id)
    return token
  }

  async destroyToken(token: string): Promise<void> {
    await this.options.store.delete(token)
    await this.options.sessions?.delete([sessionIdOf(token)])
  }

  async destroyAllTokens(user: U): Promise<void> {
    const rows = this.options.sessions ? await this.options.store.listForUser(user.id) : []
    await this.options.store.deleteForUser(user.id)
    await this.options.sessions?.delete(rows.map((row) => sessionIdOf(row.token)))
  }

  async listSessions(user: U): Promise<Session[]> {
    const lifetime = this.options.lifetimeSeconds
    const [rows, infos] = await Promise.all([
      this.options.store.listForUser(user.id),
      this.options.sessions?.listForUser(user.id) ?? [],
    ])
    const infoOf = new Map<string, SessionInfoRow>(infos.map((info) => [info.session_id, info]))
    return rows
      .filter((row) => lifetime === null || row.created_at.getTime() + lifetime * 1000 > Date.now())
      .map((row) => {
        const id = sessionIdOf(row.token)
        const info = infoOf.get(id)
        return {
          id,
          created_at: row.created_at.toISOString(),
          expires_at: lifetime === null ? null : new Date(row.created_at.getTime() + lifetime * 1000).toISOString(),
          last_used_at: (info?.last_used_at ?? row.created_at).toISOString(),
          user_agent: info?.user_agent ?? null,
          ip: info?.ip ?? null,
        }
      })
  }

  async destroySession(user: BaseUser, sessionId: string): Promise<boolean> {
    const rows = await this.options.store.listForUser(user.id)
    const row = rows.find((r) => sessionIdOf(r.token) === sessionId)
    if (!row) return false
    await this.options.store.delete(row.token)
    await this.options.sessions?.delete([sessionId])
    this.usage.forget(sessionId)
    return true
  }

  sessionIdOf(token: string): string {
    return sessionIdOf(token)
  }
}
