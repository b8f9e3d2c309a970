import { createHash } from 'node:crypto'
import type { UserId } from '../../core/ids.js'
import { type Database, idFromRow } from '../../stores/kysely/database.js'
import { isUniqueViolation, unavailableOr } from '../../stores/kysely/errors.js'
import { decodeTimestamp, encodeTimestamp } from '../../stores/kysely/timestamps.js'

/** A registered passkey (migration 0010's `passkey` row). */
export interface PasskeyRow {
  id: string
  user_id: UserId
  /** The authenticator's credential id, base64url. */
  credential_id: string
  /** The COSE public key, base64url. */
  public_key: string
  counter: number
  transports: string[]
  name: string
  device_type: string
  backed_up: boolean
  created_at: Date
  last_used_at: Date | null
}

export type ChallengePurpose = 'register' | 'login' | 'second-factor'

export interface ChallengeRow {
  purpose: ChallengePurpose
  user_id: UserId | null
  /** Milliseconds since the epoch. */
  expires_at: number
}

/** Where passkeys and their pending challenges are kept; shared by every instance of a service. */
export interface PasskeyStore {
  /** False when the credential is registered already (to anyone). */
  create(row: PasskeyRow): Promise<boolean>
  listForUser(userId: UserId): Promise<PasskeyRow[]>
  countForUser(userId: UserId): Promise<number>
  getForUser(userId: UserId, id: string): Promise<PasskeyRow | null>
  getByCredentialId(credentialId: string): Promise<PasskeyRow | null>
  rename(userId: UserId, id: string, name: string): Promise<boolean>
  delete(userId: UserId, id: string): Promise<boolean>
  deleteForUser(userId: UserId): Promise<number>
  /** Moves the counter from `from` to `to` (compare-and-set): false when another use got there first. */
  recordUse(id: string, from: number, to: number, at: Date, backedUp: boolean): Promise<boolean>
  createChallenge(challenge: string, row: ChallengeRow): Promise<void>
  /** The challenge's row, removed so that it serves once; null when unknown or already taken. */
  takeChallenge(challenge: string): Promise<ChallengeRow | null>
}

export const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex')

/** Expired challenges are swept once every this many new ones (per process). */
const SWEEP_EVERY = 64

/** The passkey store on a fastify-users database (SQLite, PostgreSQL, MariaDB), tables of migration 0010. */
export function createKyselyPasskeyStore(database: Database): PasskeyStore {
  const { db, capabilities } = database
  const ts = (date: Date) => encodeTimestamp(capabilities, date)
  const bool = (value: boolean) => (capabilities.bindsBooleans ? value : value ? 1 : 0)
  let created = 0
  const fromRow = (row: Record<string, unknown>): PasskeyRow => ({
    id: String(row.id),
    user_id: idFromRow(database, row.user_id),
    credential_id: String(row.credential_id),
    public_key: String(row.public_key),
    counter: Number(row.counter),
    transports: String(row.transports).split(',').filter(Boolean),
    name: String(row.name),
    device_type: String(row.device_type),
    backed_up: row.backed_up === true || Number(row.backed_up) === 1,
    created_at: decodeTimestamp(row.created_at),
    last_used_at: row.last_used_at === null ? null : decodeTimestamp(row.last_used_at),
  })
  const columns = [
    'id',
    'user_id',
    'credential_id',
    'public_key',
    'counter',
    'transports',
    'name',
    'device_type',
    'backed_up',
    'created_at',
    'last_used_at',
  ] as const
  return {
    async create(row) {
      try {
        await db
          .insertInto('passkey')
          .values({
            ...row,
            credential_key: sha256Hex(row.credential_id),
            transports: row.transports.join(','),
            backed_up: bool(row.backed_up),
            created_at: ts(row.created_at),
            last_used_at: row.last_used_at && ts(row.last_used_at),
          })
          .execute()
        return true
      } catch (error) {
        if (isUniqueViolation(error)) return false
        return unavailableOr(error)
      }
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom('passkey')
        .select(columns)
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
        .catch(unavailableOr)
      return rows.map(fromRow)
    },
    async countForUser(userId) {
      const row = await db
        .selectFrom('passkey')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('user_id', '=', userId)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(row?.n ?? 0)
    },
    async getForUser(userId, id) {
      const row = await db
        .selectFrom('passkey')
        .select(columns)
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .executeTakeFirst()
        .catch(unavailableOr)
      // the id is compared exactly here too, whatever the column's collation
      return row && row.id === id ? fromRow(row) : null
    },
    async getByCredentialId(credentialId) {
      const row = await db
        .selectFrom('passkey')
        .select(columns)
        .where('credential_key', '=', sha256Hex(credentialId))
        .executeTakeFirst()
        .catch(unavailableOr)
      return row && row.credential_id === credentialId ? fromRow(row) : null
    },
    async rename(userId, id, name) {
      const result = await db
        .updateTable('passkey')
        .set({ name })
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numUpdatedRows) > 0
    },
    async delete(userId, id) {
      const result = await db
        .deleteFrom('passkey')
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numDeletedRows) > 0
    },
    async deleteForUser(userId) {
      const result = await db
        .deleteFrom('passkey')
        .where('user_id', '=', userId)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numDeletedRows)
    },
    async recordUse(id, from, to, at, backedUp) {
      const result = await db
        .updateTable('passkey')
        .set({ counter: to, last_used_at: ts(at), backed_up: bool(backedUp) })
        .where('id', '=', id)
        .where('counter', '=', from)
        .executeTakeFirst()
        .catch(unavailableOr)
      return Number(result.numUpdatedRows) > 0
    },
    async createChallenge(challenge, row) {
      if (++created % SWEEP_EVERY === 0) {
        await db.deleteFrom('passkey_challenge').where('expires_at', '<', Date.now()).execute().catch(unavailableOr)
      }
      await db
        .insertInto('passkey_challenge')
        .values({ challenge_hash: sha256Hex(challenge), ...row })
        .execute()
        .catch(unavailableOr)
    },
    async takeChallenge(challenge) {
      const hash = sha256Hex(challenge)
      const row = await db
        .selectFrom('passkey_challenge')
        .select(['purpose', 'user_id', 'expires_at'])
        .where('challenge_hash', '=', hash)
        .executeTakeFirst()
        .catch(unavailableOr)
      if (!row) return null
      // The delete decides: of requests racing with one challenge, exactly one removes its row.
      const result = await db
        .deleteFrom('passkey_challenge')
        .where('challenge_hash', '=', hash)
        .executeTakeFirst()
        .catch(unavailableOr)
      if (Number(result.numDeletedRows) !== 1) return null
      return {
        purpose: row.purpose as ChallengePurpose,
        user_id: row.user_id === null ? null : idFromRow(database, row.user_id),
        expires_at: Number(row.expires_at),
      }
    },
  }
}
