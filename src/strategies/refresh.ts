import { createHash } from 'node:crypto'
import type { UserManager } from '../core/manager'
import type { BaseUser } from '../core/user'
import type { RefreshTokenStore } from '../stores/kysely/refresh-token-store'
import { generateToken } from './session-id'

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
   */
  async rotate<U extends BaseUser>(
    token: string | undefined,
    backend: string,
    manager: UserManager<U>,
  ): Promise<{ user: U; refreshToken: string } | null> {
    if (!token || token.length > 64) return null
    const { store } = this.options
    const row = await store.get(digest(token))
    if (!row || row.backend !== backend) return null
    const now = new Date()
    if (row.used_at !== null || !(await store.markUsed(row.token_hash, now))) {
      await store.deleteFamily(row.family_id) // reuse: someone holds a copy; end the whole chain
      return null
    }
    if (row.expires_at.getTime() <= now.getTime()) return null
    const user = await manager.get(row.user_id)
    if (!user?.is_active) return null
    const refreshToken = await this.issue(user, backend, row.family_id)
    // A concurrent reuse may have revoked the family before our new token was stored: if the
    // spent token is gone, the family was revoked, and the new token must die with it.
    if (!(await store.get(row.token_hash))) await store.deleteFamily(row.family_id)
    return { user, refreshToken }
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

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
