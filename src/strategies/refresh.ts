import { createHash, createHmac } from 'node:crypto'
import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import type { RefreshTokenRow, RefreshTokenStore } from '../stores/kysely/refresh-token-store.js'
import { generateToken } from './session-id.js'

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
  private async successor(spent: string, row: RefreshTokenRow, user: BaseUser): Promise<string | null> {
    if (!this.successorKey) return this.issue(user, row.backend, row.family_id)
    const token = createHmac('sha256', this.successorKey).update(spent).digest('base64url')
    const { store } = this.options
    const existing = await store.get(digest(token))
    if (existing) return existing.used_at === null && existing.family_id === row.family_id ? token : null
    try {
      await store.create(this.rowOf(token, user, row.backend, row.family_id))
    } catch (error) {
      // A concurrent request stored it first (the primary key refused ours): the same token.
      const stored = await store.get(digest(token))
      if (!stored) throw error
      return stored.used_at === null ? token : null
    }
    return token
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
  ): Promise<{ user: U; refreshToken: string } | null> {
    if (!token || token.length > 64) return null
    const { store } = this.options
    const row = await store.get(digest(token))
    if (!row || row.backend !== backend) return null
    // A revoked family stays revoked: a token issued concurrently with the revocation is refused here.
    if (await store.get(revokedMarker(row.family_id))) return null
    const now = new Date()
    const won = row.used_at === null && (await store.markUsed(row.token_hash, now))
    // Lost to a concurrent request, or spent earlier: within the interval, answered with the same successor.
    if (won || (await this.withinReuseInterval(row, now))) {
      const next = await this.next(token, row, now, manager, admit)
      if (next !== 'spent') return next
    }
    await this.revokeFamily(row) // reuse: someone holds a copy; end the whole chain
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
    const refreshToken = await this.successor(token, row, user)
    if (refreshToken === null) return 'spent'
    // Ended meanwhile by a logout, log out everywhere or a password change: the spent row went with
    // its family, and a successor stored after that deletion (here a late racer may store it) must
    // not outlive it. A reuse's revocation leaves a marker that refuses the successor at its first use.
    const { store } = this.options
    if (this.successorKey && !(await store.get(row.token_hash)) && !(await store.get(revokedMarker(row.family_id)))) {
      await store.deleteFamily(row.family_id)
      return null
    }
    return { user, refreshToken }
  }

  /** Deletes the family's tokens and leaves a marker row that refuses any token of it issued later. */
  private async revokeFamily(row: RefreshTokenRow): Promise<void> {
    const { store } = this.options
    await store.deleteFamily(row.family_id)
    await store.create({ ...row, token_hash: revokedMarker(row.family_id), created_at: new Date() }).catch(() => {}) // a concurrent revocation already left it
  }

  /** Ends the family `token` belongs to (logout). */
  async revoke(token: string): Promise<void> {
    const row = await this.options.store.get(digest(token))
    if (row) await this.options.store.deleteFamily(row.family_id)
  }

  revokeAll(user: BaseUser): Promise<void> {
    return this.options.store.deleteForUser(user.id)
  }
}

/** Never a digest (those are 64 hex digits): cannot collide with a token. */
function revokedMarker(familyId: string): string {
  return `revoked:${familyId}`
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
