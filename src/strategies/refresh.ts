import { createHash } from 'node:crypto'
import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import type { RefreshTokenRow, RefreshTokenStore } from '../stores/kysely/refresh-token-store.js'
import { generateToken } from './session-id.js'

export interface RefreshTokensOptions {
  store: RefreshTokenStore
  /** Seconds a refresh token may be exchanged after it was issued. Default 30 days. */
  lifetimeSeconds?: number
}

/**
 * Refresh tokens with rotation and reuse detection (Supabase Auth is the model): each one is
 * single-use; exchanging it yields a new one in the same family; presenting a spent one
 * revokes the whole family. Stored as SHA-256 digests only.
 */
export class RefreshTokens {
  readonly lifetimeSeconds: number

  constructor(private readonly options: RefreshTokensOptions) {
    if (!options.store) throw new TypeError('RefreshTokens: `store` is required')
    this.lifetimeSeconds = options.lifetimeSeconds ?? 30 * 24 * 3600
  }

  /** A new refresh token for a login (a new family) or a rotation (the same family). */
  async issue(user: BaseUser, backend: string, familyId: string = generateToken()): Promise<string> {
    const token = generateToken()
    const now = new Date()
    await this.options.store.create({
      token_hash: digest(token),
      family_id: familyId,
      backend,
      user_id: user.id,
      created_at: now,
      expires_at: new Date(now.getTime() + this.lifetimeSeconds * 1000),
    })
    return token
  }

  /**
   * Spends `token` and returns its user and a fresh token of the same family, or null
   * (unknown, expired, another backend's, spent: the family is then revoked, user inactive).
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
    if (row.used_at !== null || !(await store.markUsed(row.token_hash, now))) {
      await this.revokeFamily(row) // reuse: someone holds a copy; end the whole chain
      return null
    }
    if (row.expires_at.getTime() <= now.getTime()) return null
    const user = await manager.get(row.user_id)
    if (!user?.is_active) return null
    await admit?.(user)
    return { user, refreshToken: await this.issue(user, backend, row.family_id) }
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
