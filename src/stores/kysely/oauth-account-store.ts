import { randomUUID } from 'node:crypto'
import {
  type OAuthAccount,
  type OAuthAccountData,
  OAuthAccountExists,
  type OAuthAccountStore,
} from '../../core/oauth.js'
import { isStorableText } from '../../core/storable.js'
import { type Database, idFromRow } from './database.js'
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

function toAccount(database: Database, row: Record<string, unknown>): OAuthAccount {
  return {
    id: String(row.id).toLowerCase(),
    oauth_name: String(row.oauth_name),
    access_token: String(row.access_token),
    expires_at: row.expires_at === null || row.expires_at === undefined ? null : Number(row.expires_at),
    refresh_token: row.refresh_token === null || row.refresh_token === undefined ? null : String(row.refresh_token),
    account_id: String(row.account_id),
    account_email: String(row.account_email),
    email_verified: Boolean(Number(row.email_verified)),
    user_id: idFromRow(database, row.user_id),
  }
}

/**
 * OAuth accounts in fastapi-users' `oauth_account` table (or the app's name for it), through Kysely.
 * With integer user ids the table's own ids are integers the database numbers, as fastapi-users' are.
 */
export function createKyselyOAuthAccountStore(database: Database): OAuthAccountStore {
  const { db, capabilities } = database
  const table = database.tables.oauthAccount
  const integer = database.userIdType === 'integer'
  const bool = (value: boolean) => (capabilities.bindsBooleans ? value : value ? 1 : 0)
  const values = (data: Partial<OAuthAccountData>) =>
    data.email_verified === undefined ? data : { ...data, email_verified: bool(data.email_verified) }
  const byId = async (id: string): Promise<OAuthAccount> => {
    const row = await db.selectFrom(table).select(COLUMNS).where('id', '=', id).executeTakeFirst()
    if (!row) throw new Error('the OAuth account could not be read back')
    return toAccount(database, row)
  }
  return {
    async find(oauthName, accountId) {
      if (!isStorableText(oauthName) || !isStorableText(accountId)) return null // no stored account has it
      const row = await db
        .selectFrom(table)
        .select(COLUMNS)
        .where('oauth_name', '=', oauthName)
        .where('account_id', '=', accountId)
        .orderBy('id')
        .executeTakeFirst()
        .catch(unavailableOr)
      return row ? toAccount(database, row) : null
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom(table)
        .select(COLUMNS)
        .where('user_id', '=', userId)
        .orderBy('oauth_name')
        .execute()
        .catch(unavailableOr)
      return rows.map((row) => toAccount(database, row))
    },
    async add(userId, data: OAuthAccountData) {
      const row = { ...values(data), user_id: userId, ...(integer ? {} : { id: randomUUID() }) }
      const query = db.insertInto(table).values(row)
      const inserted = await (integer && capabilities.returning
        ? query.returning('id').executeTakeFirstOrThrow()
        : query.executeTakeFirstOrThrow()
      ).catch((error) => {
        if (isUniqueViolation(error))
          throw new OAuthAccountExists('the provider account is linked already', { cause: error })
        return unavailableOr(error)
      })
      const id = !integer ? row.id : 'id' in inserted ? inserted.id : inserted.insertId
      return byId(String(id)).catch(unavailableOr)
    },
    async update(account, data) {
      if (Object.keys(data).length > 0) {
        await db.updateTable(table).set(values(data)).where('id', '=', account.id).execute().catch(unavailableOr)
      }
      return byId(account.id).catch(unavailableOr)
    },
    async remove(account) {
      await db.deleteFrom(table).where('id', '=', account.id).execute().catch(unavailableOr)
    },
  }
}
