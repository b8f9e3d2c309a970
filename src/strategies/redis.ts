import type { Cluster, Redis } from 'ioredis'
import { ServiceUnavailable } from '../core/errors.js'
import type { UserId } from '../core/ids.js'
import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import { generateToken, sessionIdOf } from './session-id.js'
import type { Session, Strategy } from './strategy.js'

export interface RedisStrategyOptions {
  /**
   * One server's client (directly or through Sentinel) or a `Cluster`. On a Cluster a token's key and
   * its user's index live in different hash slots, so they are written and deleted one by one rather
   * than in one MULTI (see `writeToken`, `destroyToken`).
   */
  redis: Redis | Cluster
  /** Seconds; the key's TTL. null: until logout. */
  lifetimeSeconds: number | null
  /** fastapi-users' default `fastapi_users_token:`. */
  keyPrefix?: string
}

/**
 * fastapi-users' RedisStrategy: `fastapi_users_token:<token>` holds the user id with a TTL.
 * We also keep a sorted set of each user's tokens (`…user_tokens:<id>`, scored by login time)
 * so sessions can be listed and revoked.
 */
export class RedisStrategy<U extends BaseUser> implements Strategy<U> {
  private readonly prefix: string
  /** Keys of different hash slots cannot share a MULTI or a DEL: a Redis Cluster client. */
  private readonly crossSlot: boolean

  constructor(private readonly options: RedisStrategyOptions) {
    if (!options.redis) throw new TypeError('RedisStrategy: `redis` is required')
    this.prefix = options.keyPrefix ?? 'fastapi_users_token:'
    this.crossSlot = options.redis.isCluster === true
  }

  private userSet(userId: UserId) {
    return `${this.prefix.replace(/token:?$/, '')}user_tokens:${userId}`
  }

  async readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null> {
    if (!token || token.length > 64) return null
    const userId = await this.call(() => this.options.redis.get(this.prefix + token))
    return userId ? manager.get(userId) : null
  }

  async writeToken(user: U): Promise<string> {
    const token = generateToken()
    const { redis, lifetimeSeconds } = this.options
    const index = this.userSet(user.id)
    // One server: the token and its index entry in one MULTI. A Cluster: the index first (its
    // commands share its slot), then the token, so no token exists that "log out everywhere"
    // cannot find; an index entry whose token was never written is pruned by listSessions.
    const multi = redis.multi()
    if (!this.crossSlot) {
      if (lifetimeSeconds === null) multi.set(this.prefix + token, String(user.id))
      else multi.set(this.prefix + token, String(user.id), 'EX', lifetimeSeconds)
    }
    multi.zadd(index, Date.now(), token)
    if (lifetimeSeconds !== null) {
      // The index lives as long as its newest token, and forgets tokens past their lifetime.
      multi.zremrangebyscore(index, '-inf', Date.now() - lifetimeSeconds * 1000)
      multi.expire(index, lifetimeSeconds)
    }
    await this.call(() => multi.exec().then(failedStep))
    if (this.crossSlot) {
      await this.call(() =>
        lifetimeSeconds === null
          ? redis.set(this.prefix + token, String(user.id))
          : redis.set(this.prefix + token, String(user.id), 'EX', lifetimeSeconds),
      )
    }
    return token
  }

  async destroyToken(token: string, user: U): Promise<void> {
    const { redis } = this.options
    if (!this.crossSlot) {
      await this.call(() =>
        redis
          .multi()
          .del(this.prefix + token)
          .zrem(this.userSet(user.id), token)
          .exec()
          .then(failedStep),
      )
      return
    }
    // A Cluster: the token first (that is the revocation; its failure reaches the caller), then its index entry.
    await this.call(() => redis.del(this.prefix + token))
    await this.call(() => redis.zrem(this.userSet(user.id), token))
  }

  async destroyAllTokens(user: U): Promise<void> {
    const { redis } = this.options
    const tokens = await this.call(() => redis.zrange(this.userSet(user.id), '0', '-1'))
    if (!this.crossSlot) {
      const keys = [...tokens.map((t) => this.prefix + t), this.userSet(user.id)]
      await this.call(() => redis.del(...keys))
      return
    }
    // A Cluster: each token key on its own (they lie in different slots); the index only once all
    // are gone, so that after a failure a retry still finds the tokens left.
    await this.call(() => Promise.all(tokens.map((t) => redis.del(this.prefix + t))))
    await this.call(() => redis.del(this.userSet(user.id)))
  }

  async listSessions(user: U): Promise<Session[]> {
    const { redis } = this.options
    const entries = await this.call(() => redis.zrange(this.userSet(user.id), '0', '-1', 'WITHSCORES'))
    const sessions: Session[] = []
    for (let i = 0; i < entries.length; i += 2) {
      const token = entries[i] as string
      const ttl = await this.call(() => redis.pttl(this.prefix + token))
      if (ttl === -2) {
        await this.call(() => redis.zrem(this.userSet(user.id), token)) // expired: forget it
        continue
      }
      sessions.push({
        id: sessionIdOf(token),
        created_at: new Date(Number(entries[i + 1])).toISOString(),
        expires_at: ttl < 0 ? null : new Date(Date.now() + ttl).toISOString(),
      })
    }
    return sessions.reverse()
  }

  async destroySession(user: U, sessionId: string): Promise<boolean> {
    const tokens = await this.call(() => this.options.redis.zrange(this.userSet(user.id), '0', '-1'))
    const token = tokens.find((t) => sessionIdOf(t) === sessionId)
    if (!token) return false
    await this.destroyToken(token, user)
    return true
  }

  /** Redis down or unreachable is a 503, never a 500 and never a silent pass. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw new ServiceUnavailable('redis unavailable', { cause: error })
    }
  }
}

/** MULTI's EXEC resolves with each command's error: the first one is thrown (null: the transaction was discarded). */
function failedStep(results: [Error | null, unknown][] | null): void {
  if (results === null) throw new Error('redis transaction discarded')
  const failed = results.find(([error]) => error)
  if (failed) throw failed[0]
}
