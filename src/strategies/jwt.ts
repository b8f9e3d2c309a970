import type { UserManager } from '../core/manager'
import { AUDIENCE, type Clock, signJwt, verifyJwt } from '../core/tokens'
import type { BaseUser } from '../core/user'
import type { Strategy } from './strategy'

export interface JWTStrategyOptions<U extends BaseUser> {
  secret: string
  /** Seconds; null for tokens that never expire. fastapi-users' reference app uses 3600. */
  lifetimeSeconds: number | null
  audience?: string[]
  algorithm?: 'HS256' | 'HS384' | 'HS512'
  /** Custom claims added to every access token; they cannot replace sub, aud or exp. */
  claims?: (user: U) => Record<string, unknown> | Promise<Record<string, unknown>>
  clock?: Clock
}

const RESERVED = new Set(['sub', 'aud', 'exp'])

/** Stateless access tokens: `{sub, aud: ["fastapi-users:auth"], exp}` plus custom claims, HS256. */
export class JWTStrategy<U extends BaseUser> implements Strategy<U> {
  private readonly key: { secret: string; algorithm: 'HS256' | 'HS384' | 'HS512' }
  private readonly audience: string[]

  constructor(private readonly options: JWTStrategyOptions<U>) {
    if (!options.secret) throw new TypeError('JWTStrategy: `secret` is required')
    this.key = { secret: options.secret, algorithm: options.algorithm ?? 'HS256' }
    this.audience = options.audience ?? [AUDIENCE.auth]
  }

  get lifetimeSeconds(): number | null {
    return this.options.lifetimeSeconds
  }

  async readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null> {
    if (!token) return null
    const claims = await verifyJwt(token, this.key, this.audience, this.options.clock)
    if (!claims || typeof claims.sub !== 'string') return null
    return manager.get(claims.sub)
  }

  async writeToken(user: U): Promise<string> {
    const custom = (await this.options.claims?.(user)) ?? {}
    const extra = Object.fromEntries(Object.entries(custom).filter(([name]) => !RESERVED.has(name)))
    return signJwt(
      { sub: user.id, aud: this.audience, ...extra },
      this.key,
      this.options.lifetimeSeconds,
      this.options.clock,
    )
  }

  async destroyToken(): Promise<void> {
    // A JWT cannot be destroyed; it expires. Revocation comes with the stateful strategies.
  }
}
