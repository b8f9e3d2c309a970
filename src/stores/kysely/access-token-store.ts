import { batchedLookup } from '../../core/batch.js'
import type { UserId } from '../../core/ids.js'
import { isStorableText } from '../../core/storable.js'
import { type Database, idFromRow } from './database.js'
import { unavailableOr } from './errors.js'
import { batchedRowsNow } from './read-batch.js'
import { decodeTimestamp, encodeTimestamp } from './timestamps.js'

export interface AccessTokenRow {
  token: string
  user_id: UserId
  created_at: Date
}

/** The rows of `accesstoken` (or the app's name for it), fastapi-users' table for the DatabaseStrategy. */
export interface AccessTokenStore {
  create(row: AccessTokenRow): Promise<void>
  /** The row, unless it is older than `maxAgeSeconds`. */
  get(token: string, maxAgeSeconds: number | null): Promise<AccessTokenRow | null>
  delete(token: string): Promise<void>
  listForUser(userId: UserId): Promise<AccessTokenRow[]>
  deleteForUser(userId: UserId): Promise<void>
}

export function createKyselyAccessTokenStore(database: Database): AccessTokenStore {
  const { db, capabilities } = database
  const table = database.tables.accessToken
  const toRow = (row: Record<string, unknown>): AccessTokenRow => ({
    token: String(row.token),
    user_id: idFromRow(database, row.user_id),
    created_at: decodeTimestamp(row.created_at),
  })
  // Over a connection: the look-ups of one turn of the event loop in one query (batch.ts), one
  // batch per lifetime; the oldest valid creation time is taken when the query is sent.
  const lookUps = new Map<number | null, (token: string) => Promise<Record<string, unknown> | undefined>>()
  const lookUp = (maxAgeSeconds: number | null) => {
    let batch = lookUps.get(maxAgeSeconds)
    if (!batch) {
      batch = batchedLookup<string, Record<string, unknown>>({
        keyOf: (token) => token,
        keyOfRow: (row) => String(row.token),
        load: (tokens) =>
          db
            .selectFrom(table)
            .select(['token', 'user_id', 'created_at'])
            .where('token', 'in', tokens)
            .where('created_at', '>=', encodeTimestamp(capabilities, oldestValid(maxAgeSeconds)))
            .execute(),
      })
      lookUps.set(maxAgeSeconds, batch)
    }
    return batch
  }
  // On a SQLite file: the same on the read-only connection, its statements compiled once per batch
  // size (read-batch.ts); the parameters are the tokens, then the oldest valid creation time.
  const readRowsNow = database.readRowsNow
  const readsByToken = new Map<number | null, (token: string) => Promise<unknown[] | undefined>>()
  const readByToken =
    readRowsNow &&
    ((maxAgeSeconds: number | null) => {
      let batch = readsByToken.get(maxAgeSeconds)
      if (!batch) {
        batch = batchedRowsNow<string>(readRowsNow, {
          sqlFor: (count) => {
            const query = db
              .selectFrom(table)
              .select(['token', 'user_id', 'created_at'])
              .where(
                'token',
                'in',
                Array.from({ length: count }, () => ''),
              )
              .where('created_at', '>=', encodeTimestamp(capabilities, NO_AGE_LIMIT))
              .compile()
            if (query.parameters.length !== count + 1)
              throw new Error('access token store: unexpected shape of the by-token query')
            return query.sql
          },
          parameters: (tokens) => [...tokens, encodeTimestamp(capabilities, oldestValid(maxAgeSeconds))],
          keyOf: (token) => token,
          keyOfRow: (row) => String(row[0]),
        })
        readsByToken.set(maxAgeSeconds, batch)
      }
      return batch
    })
  return {
    async create(row) {
      await db
        .insertInto(table)
        .values({ ...row, created_at: encodeTimestamp(capabilities, row.created_at) })
        .execute()
        .catch(unavailableOr)
    },
    async get(token, maxAgeSeconds) {
      if (!isTokenValue(token)) return null // a cookie or header no stored token can equal: no query
      try {
        if (readByToken) {
          const row = await readByToken(maxAgeSeconds)(token)
          return row ? toRow({ token: row[0], user_id: row[1], created_at: row[2] }) : null
        }
        const row = await lookUp(maxAgeSeconds)(token)
        return row ? toRow(row) : null
      } catch (error) {
        return unavailableOr(error)
      }
    },
    async delete(token) {
      if (!isTokenValue(token)) return
      await db.deleteFrom(table).where('token', '=', token).execute().catch(unavailableOr)
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom(table)
        .select(['token', 'user_id', 'created_at'])
        .where('user_id', '=', userId)
        .orderBy('created_at', 'desc')
        .execute()
        .catch(unavailableOr)
      return rows.map(toRow)
    },
    async deleteForUser(userId) {
      await db.deleteFrom(table).where('user_id', '=', userId).execute().catch(unavailableOr)
    },
  }
}

/** The oldest creation time a token without a lifetime may have: before any stored row. */
const NO_AGE_LIMIT = new Date(Date.UTC(1970, 0, 1))

/** The oldest creation time of a token still valid now. */
function oldestValid(maxAgeSeconds: number | null): Date {
  return maxAgeSeconds === null ? NO_AGE_LIMIT : new Date(Date.now() - maxAgeSeconds * 1000)
}

/** A value the token column (VARCHAR(43)) can hold: anything else is no stored token. */
function isTokenValue(token: string): boolean {
  return token.length <= 43 && isStorableText(token)
}
