import { createHash, createHmac } from 'node:crypto'
import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import type { RefreshTokenRow, RefreshTokenStore } from '../stores/kysely/refresh-token-store.js'
import type { SessionInfoStore } from '../stores/kysely/session-info-store.js'
import { generateToken, sessionIdOf } from './session-id.js'
import { MAX_IP, MAX_USER_AGENT, type SessionLimit, storableMeta } from './session-usage.js'
import type { Session, SessionContext } from './strategy.js'

export interface RefreshTokensOptions {
  store: RefreshTokenStore
  /** Seconds a refresh token may be exchanged after it was issued. Default 30 days. */
  lifetimeSeconds?: number
  /**
   * Seconds after a token was spent during which presenting it again is answered with the same
   * successor instead of revoking the family (two tabs refreshing at once; Supabase Auth's reuse
   * interval). Default 0: strict rotation, every reuse revokes. Above 0, `secret` is required.
   */
  reuseIntervalSeconds?: number
  /** Keys the derivation of a token's successor (the app's SECRET); required with `reuseIntervalSeconds`. */
  secret?: string
  /**
   * Where each family's User-Agent and address are kept (the `session_info` table): with it, and a
   * store that can list a user's rows, families are listed as sessions (GET /users/me/sessions).
   */
  sessions?: SessionInfoStore
  /** A cap on each user's concurrent sessions: the oldest end when a login goes beyond it. */
  limit?: SessionLimit
}

/** A family's public id: a digest of its id (never a token), the `sid` claim of its access tokens. */
export function familySessionId(familyId: string): string {
  return sessionIdOf(familyId)
}

/**
 * Refresh tokens with rotation and reuse detection (Supabase Auth is the model): each one is
 * single-use; exchanging it yields a new one in the same family; presenting a spent one
 * revokes the whole family. Stored as SHA-256 digests only.
 *
 * With a reuse interval, a token's successor is an HMAC of the token keyed by the secret: every
 * request that presents the token (on any instance) computes the same successor, so the ones that
 * lose the race within the interval are answered with it, and nothing usable is stored.
 */
export class RefreshTokens {
  readonly lifetimeSeconds: number
  readonly reuseIntervalSeconds: number
  private readonly successorKey: Buffer | null

  constructor(private readonly options: RefreshTokensOptions) {
    if (!options.store) throw new TypeError('RefreshTokens: `store` is required')
    this.lifetimeSeconds = options.lifetimeSeconds ?? 30 * 24 * 3600
    this.reuseIntervalSeconds = options.reuseIntervalSeconds ?? 0
    if (!(this.reuseIntervalSeconds >= 0)) throw new TypeError('RefreshTokens: `reuseIntervalSeconds` must be >= 0')
    if (this.reuseIntervalSeconds > 0 && !options.secret) {
      throw new TypeError('RefreshTokens: `secret` is required with `reuseIntervalSeconds`')
    }
    // A key of its own, so that a successor is no HMAC the secret makes elsewhere (a JWT signature).
    this.successorKey =
      this.reuseIntervalSeconds > 0
        ? createHmac('sha256', options.secret as string)
            .update('fastify-users refresh-token successor')
            .digest()
        : null
    options.limit?.register(this)
  }

  /**
   * A new family for a login: its first refresh token and the family's public session id (for the
   * access token's `sid` claim), with where it was opened from. Beyond the cap, the oldest sessions end.
   */
  async open(
    user: BaseUser,
    backend: string,
    context?: SessionContext,
  ): Promise<{ refreshToken: string; sessionId: string }> {
    const { store, sessions } = this.options
    const familyId = generateToken()
    const refreshToken = generateToken()
    const row = this.rowOf(refreshToken, user, backend, familyId)
    const sessionId = familySessionId(familyId)
    const info = sessions && {
      session_id: sessionId,
      user_id: user.id,
      created_at: row.created_at,
      last_used_at: row.created_at,
      user_agent: storableMeta(context?.userAgent, MAX_USER_AGENT),
      ip: storableMeta(context?.ip, MAX_IP),
    }
    if (info && store.openFamily) {
      await store.openFamily(row, info) // both rows at once (SQLite: one commit)
    } else {
      await store.create(row)
      await sessions?.create(info as NonNullable<typeof info>)
    }
    await this.options.limit?.enforce(user, sessionId)
    return { refreshToken, sessionId }
  }

  /**
   * The user's live families (of `backend`, or all), as sessions: created when the login was,
   * last used at the latest refresh, expiring with the newest refresh token. Empty when the store
   * cannot list.
   */
  async listSessions(user: BaseUser, backend?: string): Promise<Session[]> {
    const { store, sessions } = this.options
    if (!store.listForUser) return []
    const [rows, infos] = await Promise.all([store.listForUser(user.id), sessions?.listForUser(user.id) ?? []])
    const now = Date.now()
    const revoked = new Set(rows.filter((r) => isMarker(r.token_hash)).map((r) => r.family_id))
    const first = new Map<string, Date>()
    const live = new Map<string, RefreshTokenRow>()
    for (const row of rows) {
      if (isMarker(row.token_hash) || revoked.has(row.family_id)) continue
      if (backend !== undefined && row.backend !== backend) continue
      const seen = first.get(row.family_id)
      if (!seen || row.created_at < seen) first.set(row.family_id, row.created_at)
      if (row.used_at !== null || row.expires_at.getTime() <= now) continue
      const newest = live.get(row.family_id)
      if (!newest || row.created_at > newest.created_at) live.set(row.family_id, row)
    }
    const infoOf = new Map(infos.map((info) => [info.session_id, info]))
    return [...live.values()]
      .map((row) => {
        const id = familySessionId(row.family_id)
        const info = infoOf.get(id)
        const created = info?.created_at ?? (first.get(row.family_id) as Date)
        return {
          id,
          created_at: created.toISOString(),
          expires_at: row.expires_at.toISOString(),
          // the latest refresh (the login itself until the first)
          last_used_at: new Date(Math.max(row.created_at.getTime(), created.getTime())).toISOString(),
          user_agent: info?.user_agent ?? null,
          ip: info?.ip ?? null,
        }
      })
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
  }

  /** Ends one family of the user (of `backend`, or any) by its public id: its refresh tokens are deleted. */
  async destroySession(user: BaseUser, sessionId: string, backend?: string): Promise<boolean> {
    const { store } = this.options
    if (!store.listForUser) return false
    const rows = await store.listForUser(user.id)
    const row = rows.find(
      (r) =>
        !isMarker(r.token_hash) &&
        familySessionId(r.family_id) === sessionId &&
        (backend === undefined || r.backend === backend),
    )
    if (!row) return false
    // A family already ended (a live token left behind by nothing) is no session either.
    if (!(await this.listSessions(user, row.backend)).some((s) => s.id === sessionId)) return false
    await store.deleteFamily(row.family_id)
    await this.options.sessions?.delete([sessionId])
    return true
  }

  /** A new refresh token for a login (a new family) or a rotation (the same family). */
  async issue(user: BaseUser, backend: string, familyId: string = generateToken()): Promise<string> {
    const token = generateToken()
    await this.options.store.create(this.rowOf(token, user, backend, familyId))
    return token
  }

  private rowOf(token: string, user: BaseUser, backend: string, familyId: string) {
    const now = new Date()
    return {
      token_hash: digest(token),
      family_id: familyId,
      backend,
      user_id: user.id,
      created_at: now,
      expires_at: new Date(now.getTime() + this.lifetimeSeconds * 1000),
    }
  }

  /**
   * The successor of a spent token, stored once whichever request (of any instance) gets here
   * first; null when it exists and is already spent itself (a replay, not a race).
   */
  private async successor(
    spent: string,
    row: RefreshTokenRow,
    user: BaseUser,
  ): Promise<{ token: string; checked: boolean } | 'gone' | null> {
    const { store } = this.options
    const token = this.successorKey
      ? createHmac('sha256', this.successorKey).update(spent).digest('base64url')
      : generateToken()
    const successorRow = this.rowOf(token, user, row.backend, row.family_id)
    if (store.createSuccessor) {
      // one statement: stored only while the spent row (its family) still exists
      try {
        if (await store.createSuccessor(successorRow, row.token_hash)) return { token, checked: true }
        // Revoked meanwhile for a reuse (a racing request presented it too): answered as before, with a
        // token that the family's marker refuses at its first use. Ended otherwise: none.
        if (!(await store.get(revokedMarker(row.family_id)))) return 'gone'
        await store.create(successorRow).catch(() => {}) // stored already by a racer: the same token
        return { token, checked: true }
      } catch (error) {
        // A concurrent request stored it first (the primary key refused ours): the same token.
        const stored = this.successorKey && (await store.get(digest(token)))
        if (!stored) throw error
        return stored.used_at === null && stored.family_id === row.family_id ? { token, checked: false } : null
      }
    }
    if (!this.successorKey) {
      await store.create(successorRow)
      return { token, checked: false }
    }
    const existing = await store.get(digest(token))
    if (existing)
      return existing.used_at === null && existing.family_id === row.family_id ? { token, checked: false } : null
    try {
      await store.create(successorRow)
    } catch (error) {
      // A concurrent request stored it first (the primary key refused ours): the same token.
      const stored = await store.get(digest(token))
      if (!stored) throw error
      return stored.used_at === null ? { token, checked: false } : null
    }
    return { token, checked: false }
  }

  /** Whether the spent token of `row` may still be answered with its successor. */
  private async withinReuseInterval(row: RefreshTokenRow, now: Date): Promise<boolean> {
    if (!this.successorKey) return false
    // Spent by the winner of a race after our read: its row says when.
    const usedAt = row.used_at ?? (await this.options.store.get(row.token_hash))?.used_at
    return usedAt != null && now.getTime() - usedAt.getTime() <= this.reuseIntervalSeconds * 1000
  }

  /**
   * Spends `token` and returns its user and a fresh token of the same family, or null
   * (unknown, expired, another backend's, spent: the family is then revoked, user inactive).
   * A token spent less than `reuseIntervalSeconds` ago is answered with the same successor.
   * `admit` may refuse the user by throwing (an unverified user where verification is required):
   * the token is then spent and no new one is issued.
   */
  async rotate<U extends BaseUser>(
    token: string | undefined,
    backend: string,
    manager: UserManager<U>,
    admit?: (user: U) => void | Promise<void>,
    /** Told (with the family's user id) when a spent token came back and its whole family was revoked. */
    onReuse?: (userId: string) => void,
  ): Promise<{ user: U; refreshToken: string; sessionId: string } | null> {
    if (!token || token.length > 64) return null
    const { store } = this.options
    const tokenHash = digest(token)
    const now = new Date()
    // The usual case in one statement: an unspent token of this backend, its family not revoked.
    const spent = store.spend ? await store.spend(tokenHash, backend, now) : null
    if (spent) return this.advance(token, spent, now, manager, admit, onReuse)
    const row = await store.get(tokenHash)
    if (!row || row.backend !== backend) return null
    // A revoked family stays revoked: a token issued concurrently with the revocation is refused here.
    if (await store.get(revokedMarker(row.family_id))) return null
    const won = row.used_at === null && (await store.markUsed(row.token_hash, now))
    // Lost to a concurrent request, or spent earlier: within the interval, answered with the same successor.
    if (won || (await this.withinReuseInterval(row, now))) return this.advance(token, row, now, manager, admit, onReuse)
    await this.revokeFamily(row) // reuse: someone holds a copy; end the whole chain
    onReuse?.(String(row.user_id))
    return null
  }

  /** After `token` was spent (or its spending raced): its successor, or the family revoked if it is spent too. */
  private async advance<U extends BaseUser>(
    token: string,
    row: RefreshTokenRow,
    now: Date,
    manager: UserManager<U>,
    admit?: (user: U) => void | Promise<void>,
    onReuse?: (userId: string) => void,
  ): Promise<{ user: U; refreshToken: string; sessionId: string } | null> {
    const next = await this.next(token, row, now, manager, admit)
    if (next !== 'spent') return next && { ...next, sessionId: familySessionId(row.family_id) }
    await this.revokeFamily(row) // reuse: someone holds a copy; end the whole chain
    onReuse?.(String(row.user_id))
    return null
  }

  /** The user and the successor of the spent `token`, once the user is checked as at every refresh. */
  private async next<U extends BaseUser>(
    token: string,
    row: RefreshTokenRow,
    now: Date,
    manager: UserManager<U>,
    admit?: (user: U) => void | Promise<void>,
  ): Promise<{ user: U; refreshToken: string } | null | 'spent'> {
    if (row.expires_at.getTime() <= now.getTime()) return null
    const user = await manager.get(row.user_id)
    if (!user?.is_active) return null
    await admit?.(user)
    const successor = await this.successor(token, row, user)
    if (successor === null) return 'spent'
    if (successor === 'gone') return null // ended meanwhile (logout, password change): nothing was stored
    const refreshToken = successor.token
    // Ended meanwhile by a logout, log out everywhere or a password change: the spent row went with
    // its family, and a successor stored after that deletion (here a late racer may store it) must
    // not outlive it. A reuse's revocation leaves a marker that refuses the successor at its first use.
    const { store } = this.options
    if (
      this.successorKey &&
      !successor.checked &&
      !(await store.get(row.token_hash)) &&
      !(await store.get(revokedMarker(row.family_id)))
    ) {
      await store.deleteFamily(row.family_id)
      return null
    }
    return { user, refreshToken }
  }

  /** Deletes the family's tokens and leaves a marker row that refuses any token of it issued later. */
  private async revokeFamily(row: RefreshTokenRow): Promise<void> {
    const { store } = this.options
    const marker = { ...row, token_hash: revokedMarker(row.family_id), created_at: new Date() }
    if (store.revokeFamily) await store.revokeFamily(marker)
    else {
      await store.deleteFamily(row.family_id)
      await store.create(marker).catch(() => {}) // a concurrent revocation already left it
    }
    await this.options.sessions?.delete([familySessionId(row.family_id)])
  }

  /** Ends the family `token` belongs to (logout). */
  async revoke(token: string): Promise<void> {
    const row = await this.options.store.get(digest(token))
    if (!row) return
    await this.options.store.deleteFamily(row.family_id)
    await this.options.sessions?.delete([familySessionId(row.family_id)])
  }

  async revokeAll(user: BaseUser): Promise<void> {
    const { store, sessions } = this.options
    const rows = sessions && store.listForUser ? await store.listForUser(user.id) : []
    await store.deleteForUser(user.id)
    await sessions?.delete([...new Set(rows.map((r) => familySessionId(r.family_id)))])
  }
}

function isMarker(tokenHash: string): boolean {
  return tokenHash.startsWith('revoked:')
}

/** Never a digest (those are 64 hex digits): cannot collide with a token. */
function revokedMarker(familyId: string): string {
  return `revoked:${familyId}`
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
