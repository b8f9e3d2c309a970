import type { OAuthStateStore } from '../../oauth/state.js'
import type { Database } from './database.js'
import { isUniqueViolation, unavailableOr } from './errors.js'

export interface KyselyStateStoreOptions {
  /** Expired rows are deleted once every this many consumptions. Default 64. */
  pruneEvery?: number
}

/**
 * Consumed OAuth states in the `oauth_state` table (migration 0006): the primary key on the
 * state's id makes the first insert win on every instance sharing the database.
 */
export function createKyselyOAuthStateStore(
  database: Database,
  options: KyselyStateStoreOptions = {},
): OAuthStateStore {
  const { db } = database
  const pruneEvery = options.pruneEvery ?? 64
  let calls = 0
  return {
    async consume(jti, expiresAt) {
      const now = Math.floor(Date.now() / 1000)
      if (++calls % pruneEvery === 0) {
        await db.deleteFrom('oauth_state').where('expires_at', '<', now).execute().catch(unavailableOr)
      }
      try {
        await db.insertInto('oauth_state').values({ jti, expires_at: expiresAt }).execute()
        return true
      } catch (error) {
        if (isUniqueViolation(error)) return false
        return unavailableOr(error)
      }
    },
  }
}
