import type { Cluster, Redis } from 'ioredis'
import { batchedLookup } from '../core/batch.js'
import { ServiceUnavailable } from '../core/errors.js'
import type { UserId } from '../core/ids.js'
import type { UserManager } from '../core/manager.js'
import type { BaseUser } from '../core/user.js'
import { generateToken, sessionIdOf } from './session-id.js'
import { MAX_IP, MAX_USER_AGENT, type SessionLimit, storableMeta, UsageClock } from './session-usage.js'
import type { Session, SessionContext, Strategy } from './strategy.js'

/** Sets a session's last use, only while its metadata hash exists (never recreating one without a TTL). */
const TOUCH =
  "if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], 'last_used_at', ARGV[1]) end return 0"

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
  /** A cap on each user's concurrent sessions: the oldest end when a login goes beyond it. */
  limit?: SessionLimit
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
  private readonly usage = new UsageClock()
  /** A token's user id, or null; on one server, the tokens asked for in one turn share one `MGET`. */
  private readonly userIdOf: (token: string) => Promise<string | null>

  constructor(private readonly options: RedisStrategyOptions) {
    if (!options.redis) throw new TypeError('RedisStrategy: `redis` is required')
    const prefix = options.keyPrefix ?? 'fastapi_users_token:'
    this.prefix = prefix
    this.crossSlot = options.redis.isCluster === true
    const redis = options.redis
    if (this.crossSlot) {
      // A Cluster refuses an MGET whose keys lie in different slots.
      this.userIdOf = (token) => redis.get(prefix + token)
    } else {
      const lookUp = batchedLookup<string, [token: string, userId: string]>({
        keyOf: (token) => token,
        keyOfRow: ([token]) => token,
        load: async (tokens) => {
          const ids = await redis.mget(tokens.map((token) => prefix + token))
          return tokens.flatMap((token, i) => (ids[i] ? [[token, ids[i]] as [string, string]] : []))
        },
      })
      this.userIdOf = async (token) => (await lookUp(token))?.[1] ?? null
    }
    options.limit?.register(this)
  }

  private userSet(userId: UserId) {
    return `${this.prefix.replace(/token:?$/, '')}user_tokens:${userId}`
  }

  /** A session's metadata (a hash: created_at, last_used_at, user_agent, ip), with its token's TTL. */
  private infoKey(sessionId: string) {
    return `${this.prefix.replace(/token:?$/, '')}session_info:${sessionId}`
  }

  async readToken(token: string | undefined, manager: UserManager<U>): Promise<U | null> {
    if (!token || token.length > 64) return null
    const userId = await this.call(() => this.userIdOf(token))
    if (!userId) return null
    const id = sessionIdOf(token)
    const now = Date.now()
    // At most one write a minute per session and process.
    if (this.usage.due(id, now)) await this.call(() => this.options.redis.eval(TOUCH, 1, this.infoKey(id), String(now)))
    return manager.get(userId)
  }

  async writeToken(user: U, context?: SessionContext): Promise<string> {
    const token = generateToken()
    const { redis, lifetimeSeconds } = this.options
    const index = this.userSet(user.id)
    const now = Date.now()
    const info = this.infoKey(sessionIdOf(token))
    const fields = {
      created_at: String(now),
      last_used_at: String(now),
      user_agent: storableMeta(context?.userAgent, MAX_USER_AGENT) ?? '',
      ip: storableMeta(context?.ip, MAX_IP) ?? '',
    }
    // One server: the token and its index entry in one MULTI. A Cluster: the index first (its
    // commands share its slot), then the token, so no token exists that "log out everywhere"
    // cannot find; an index entry whose token was never written is pruned by listSessions.
    const multi = redis.multi()
    if (!this.crossSlot) {
      multi.hset(info, fields)
      if (lifetimeSeconds !== null) multi.expire(info, lifetimeSeconds)
      if (lifetimeSeconds === null) multi.set(this.prefix + token, String(user.id))
      else multi.set(this.prefix + token, String(user.id), 'EX', lifetimeSeconds)
    }
    multi.zadd(index, now, token)
    if (lifetimeSeconds !== null) {
      // The index lives as long as its newest token, and forgets tokens past their lifetime.
      multi.zremrangebyscore(index, '-inf', Date.now() - lifetimeSeconds * 1000)
      multi.expire(index, lifetimeSeconds)
    }
    await this.call(() => multi.exec().then(failedStep))
    if (this.crossSlot) {
      await this.call(async () => {
        await redis.hset(info, fields)
        if (lifetimeSeconds !== null) await redis.expire(info, lifetimeSeconds)
      })
      await this.call(() =>
        lifetimeSeconds === null
          ? redis.set(this.prefix + token, String(user.id))
          : redis.set(this.prefix + token, String(user.id), 'EX', lifetimeSeconds),
      )
    }
    await this.options.limit?.enforce(user, sessionIdOf(token))
    return token
  }

  async destroyToken(token: string, user: U): Promise<void> {
    const { redis } = this.options
    if (!this.crossSlot) {
      await this.call(() =>
        redis
          .multi()
          .del(this.prefix + token)
          .del(this.infoKey(sessionIdOf(token)))
          .zrem(this.userSet(user.id), token)
          .exec()
          .then(failedStep),
      )
      return
    }
    // A Cluster: the token first (that is the revocation; its failure reaches the caller), then its index entry.
    await this.call(() => redis.del(this.prefix + token))
    await this.call(() => redis.del(this.infoKey(sessionIdOf(token))))
    await this.call(() => redis.zrem(this.userSet(user.id), token))
  }

  async destroyAllTokens(user: U): Promise<void> {
    const { redis } = this.options
    const tokens = await this.call(() => redis.zrange(this.userSet(user.id), '0', '-1'))
    if (!this.crossSlot) {
      const infos = tokens.map((t) => this.infoKey(sessionIdOf(t)))
      const keys = [...tokens.map((t) => this.prefix + t), ...infos, this.userSet(user.id)]
      await this.call(() => redis.del(...keys))
      return
    }
    // A Cluster: each token key on its own (they lie in different slots); the index only once all
    // are gone, so that after a failure a retry still finds the tokens left.
    await this.call(() => Promise.all(tokens.map((t) => redis.del(this.prefix + t))))
    await this.call(() => Promise.all(tokens.map((t) => redis.del(this.infoKey(sessionIdOf(t))))))
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
      const id = sessionIdOf(token)
      const info = await this.call(() => redis.hgetall(this.infoKey(id)))
      const created = new Date(Number(entries[i + 1]))
      const lastUsed = Number(info.last_used_at)
      sessions.push({
        id,
        created_at: created.toISOString(),
        expires_at: ttl < 0 ? null : new Date(Date.now() + ttl).toISOString(),
        last_used_at: (Number.isFinite(lastUsed) && lastUsed > 0 ? new Date(lastUsed) : created).toISOString(),
        user_agent: info.user_agent || null,
        ip: info.ip || null,
      })
    }
    return sessions.reverse()
  }

  async destroySession(user: U, sessionId: string): Promise<boolean> {
    const tokens = await this.call(() => this.options.redis.zrange(this.userSet(user.id), '0', '-1'))
    const token = tokens.find((t) => sessionIdOf(t) === sessionId)
    if (!token) return false
    await this.destroyToken(token, user)
    this.usage.forget(sessionId)
    return true
  }

  sessionIdOf(token: string): string {
    return sessionIdOf(token)
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
