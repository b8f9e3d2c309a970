import { type Kysely, sql } from 'kysely'
import { RateLimiterRes } from 'rate-limiter-flexible'
import type { Database } from './database.js'
import { isUniqueViolation, unavailableOr } from './errors.js'

export interface DatabaseRateLimiterOptions {
  /** Prefixes every key of this limiter (several limiters share the `rate_limit` table). */
  keyPrefix: string
  /** Points allowed per window; a consume past them is refused (rejects with a RateLimiterRes). */
  points: number
  /** The window in seconds, counted from its first point; 0: never expires. */
  durationSeconds: number
  /** The clock (ms since the epoch); every process sharing the table must agree on it. */
  now?: () => number
}

interface Tables {
  rate_limit: { id: string; points: number; expires_at: number | null }
}

interface Row {
  points: number
  expires_at: number | null
}

/** Expired rows are swept after this many new keys (per limiter and process). */
const SWEEP_EVERY = 200

/**
 * A fixed-window counter in the `rate_limit` table (migration 0007) with rate-limiter-flexible's
 * interface (consume, penalty, reward, delete): every process on one database shares it. Each
 * change is one atomic UPDATE (an expired window restarts in the same statement) of the key's row,
 * created empty first when missing; with `RETURNING` the row comes back from that statement,
 * without it (MariaDB) the change and the read share a transaction, so the count read is the
 * count written.
 */
export class DatabaseRateLimiter {
  readonly points: number
  private readonly now: () => number
  private inserts = 0

  constructor(
    private readonly database: Database,
    private readonly options: DatabaseRateLimiterOptions,
  ) {
    this.points = options.points
    this.now = options.now ?? Date.now
  }

  /** Adds `points`; over the limit, rejects with the RateLimiterRes (msBeforeNext: the window's end). */
  async consume(key: string, points = 1, options?: { customDuration?: number }): Promise<RateLimiterRes> {
    const res = await this.change(key, points, options?.customDuration)
    if (res.consumedPoints > this.points) throw res
    return res
  }

  penalty(key: string, points = 1, options?: { customDuration?: number }): Promise<RateLimiterRes> {
    return this.change(key, points, options?.customDuration)
  }

  reward(key: string, points = 1): Promise<RateLimiterRes> {
    return this.change(key, -points)
  }

  async delete(key: string): Promise<boolean> {
    const result = await this.database.db
      .deleteFrom('rate_limit')
      .where('id', '=', this.id(key))
      .executeTakeFirst()
      .catch(unavailableOr)
    return Number(result.numDeletedRows) > 0
  }

  /** The current count of `key`, or null when it has none (or its window is over). */
  async get(key: string): Promise<RateLimiterRes | null> {
    const row = await this.read(this.database.db as Kysely<Tables>, this.id(key)).catch(unavailableOr)
    if (!row || (row.expires_at !== null && row.expires_at <= this.now())) return null
    return this.result(row, 0)
  }

  private id(key: string): string {
    return `${this.options.keyPrefix}:${key}`
  }

  private async change(key: string, points: number, customDuration?: number): Promise<RateLimiterRes> {
    const id = this.id(key)
    const now = this.now()
    const seconds = customDuration ?? this.options.durationSeconds
    const expiresAt = seconds > 0 ? now + seconds * 1000 : null
    const { capabilities } = this.database
    const db = this.database.db as Kysely<Tables>
    const change = () =>
      capabilities.returning
        ? this.update(db, id, points, now, expiresAt, true)
        : db.transaction().execute((trx) => this.update(trx, id, points, now, expiresAt, false))
    const run = async (): Promise<Row> => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const changed = await change()
        if (changed) return changed
        // A new key: its row is created empty (outside any transaction, so that concurrent creations
        // never wait on each other's locks), then counted by the UPDATE like any other.
        await this.create(db, id, expiresAt, now)
      }
      throw new Error(`rate_limit: the row of ${id} keeps vanishing`)
    }
    const row = await run().catch(unavailableOr)
    return this.result(row, points)
  }

  private async update(
    db: Kysely<Tables>,
    id: string,
    points: number,
    now: number,
    expiresAt: number | null,
    returning: boolean,
  ): Promise<Row | undefined> {
    const expired = sql<boolean>`expires_at is not null and expires_at <= ${now}`
    // `points` first: MariaDB's SET sees columns already assigned, and expires_at must still be the old one.
    const query = db
      .updateTable('rate_limit')
      .set({
        points: sql<number>`case when ${expired} then ${points} else points + ${points} end`,
        expires_at: sql<number | null>`case when ${expired} then ${expiresAt} else expires_at end`,
      })
      .where('id', '=', id)
    if (returning) return row(await query.returning(['points', 'expires_at']).executeTakeFirst())
    // In the change's transaction: the read sees this UPDATE's row (its own write), locked until commit.
    await query.execute()
    return this.read(db, id)
  }

  private async create(db: Kysely<Tables>, id: string, expiresAt: number | null, now: number): Promise<void> {
    try {
      await db.insertInto('rate_limit').values({ id, points: 0, expires_at: expiresAt }).execute()
    } catch (error) {
      if (!isUniqueViolation(error)) throw error // another process created it meanwhile: fine
      return
    }
    if (++this.inserts % SWEEP_EVERY === 0) await this.sweep(db, now)
  }

  private async read(db: Kysely<Tables>, id: string): Promise<Row | undefined> {
    return row(
      await db.selectFrom('rate_limit').select(['points', 'expires_at']).where('id', '=', id).executeTakeFirst(),
    )
  }

  private async sweep(db: Kysely<Tables>, now: number): Promise<void> {
    await db.deleteFrom('rate_limit').where('expires_at', '<', now).execute()
  }

  private result(row: Row, changed: number): RateLimiterRes {
    const msBeforeNext = row.expires_at === null ? -1 : Math.max(0, row.expires_at - this.now())
    return new RateLimiterRes(Math.max(0, this.points - row.points), msBeforeNext, row.points, row.points === changed)
  }
}

function row(raw: { points: unknown; expires_at: unknown } | undefined): Row | undefined {
  if (!raw) return undefined
  return { points: Number(raw.points), expires_at: raw.expires_at === null ? null : Number(raw.expires_at) }
}
