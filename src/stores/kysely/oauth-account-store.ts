import { randomUUID } from 'node:crypto'
import {
  type OAuthAccount,
  type OAuthAccountData,
  OAuthAccountExists,
  type OAuthAccountStore,
} from '../../core/oauth.js'
import { isStorableText } from '../../core/storable.js'
import type { Database } from './database.js'
import { isUniqueViolation, unavailableOr } from './errors.js'

const COLUMNS = [
  'id',
  'oauth_name',
  'access_token',
  'expires_at',
  'refresh_token',
  'account_id',
  'account_email',
  'email_verified',
  'user_id',
] as const

function toAccount(row: Record<string, unknown>): OAuthAccount {
  return {
    id: String(row.id).toLowerCase(),
    oauth_name: String(row.oauth_name),
    access_token: String(row.access_token),
    expires_at: row.expires_at === null || row.expires_at === undefined ? null : Number(row.expires_at),
    refresh_token: row.refresh_token === null || row.refresh_token === undefined ? null : String(row.refresh_token),
    account_id: String(row.account_id),
    account_email: String(row.account_email),
    email_verified: Boolean(Number(row.email_verified)),
    user_id: String(row.user_id).toLowerCase(),
  }
}

/** OAuth accounts in fastapi-users' `oauth_account` table, through Kysely. */
export function createKyselyOAuthAccountStore(database: Database): OAuthAccountStore {
  const { db, capabilities } = database
  const bool = (value: boolean) => (capabilities.bindsBooleans ? value : value ? 1 : 0)
  const values = (data: Partial<OAuthAccountData>) =>
    data.email_verified === undefined ? data : { ...data, email_verified: bool(data.email_verified) }
  const byId = async (id: string): Promise<OAuthAccount> => {
    const row = await db.selectFrom('oauth_account').select(COLUMNS).where('id', '=', id).executeTakeFirst()
    if (!row) throw new Error('the OAuth account could not be read back')
    return toAccount(row)
  }
  return {
    async find(oauthName, accountId) {
      if (!isStorableText(oauthName) || !isStorableText(accountId)) return null // no stored account has it
      const row = await db
        .selectFrom('oauth_account')
        .select(COLUMNS)
        .where('oauth_name', '=', oauthName)
        .where('account_id', '=', accountId)
        .orderBy('id')
        .executeTakeFirst()
        .catch(unavailableOr)
      return row ? toAccount(row) : null
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom('oauth_account')
        .select(COLUMNS)
        .where('user_id', '=', userId)
        .orderBy('oauth_name')
        .execute()
        .catch(unavailableOr)
      return rows.map(toAccount)
    },
    async add(userId, data: OAuthAccountData) {
      const id = randomUUID()
      await db
        .insertInto('oauth_account')
        .values({ ...values(data), id, user_id: userId })
        .execute()
        .catch((error) => {
          if (isUniqueViolation(error))
            throw new OAuthAccountExists('the provider account is linked already', { cause: error })
          return unavailableOr(error)
        })
      return byId(id).catch(unavailableOr)
    },
    async update(account, data) {
      if (Object.keys(data).length > 0) {
        await db
          .updateTable('oauth_account')
          .set(values(data))
          .where('id', '=', account.id)
          .execute()
          .catch(unavailableOr)
      }
      return byId(account.id).catch(unavailableOr)
    },
    async remove(account) {
      await db.deleteFrom('oauth_account').where('id', '=', account.id).execute().catch(unavailableOr)
    },
  }
}
