import { randomUUID } from 'node:crypto'
import { type Expression, type Kysely, type RawBuilder, type SelectQueryBuilder, sql } from 'kysely'
import { batchedLookup } from '../../core/batch.js'
import type { UserId } from '../../core/ids.js'
import {
  DuplicateEmail,
  DuplicateIdentifier,
  type NewUser,
  type UserChanges,
  type UserListQuery,
  type UserStore,
} from '../../core/store.js'
import type { BaseUser, UserFields } from '../../core/user.js'
import { type Database, idFromRow } from './database.js'
import { isTransientConflict, isUniqueViolation, scrubDatabaseError, unavailableOr } from './errors.js'
import { emailKeyDigest } from './identity.js'
import { identifierDigest, storeIdentifiers, writeIdentity } from './login-identity.js'
import { batchedRowsNow } from './read-batch.js'

const BASE_BOOLEANS = ['is_active', 'is_superuser', 'is_verified']

/**
 * Users in the user table (`user`, or the name `openDatabase` was given), through Kysely: the same
 * queries on SQLite, PostgreSQL and MariaDB. Ids are of the database's `userIdType`: UUIDs made here,
 * or integers the database numbers (read back from the insert itself, never by a second query).
 * Who an address belongs to is the table `email_identity` (see identity.ts), written with every e-mail
 * in the same transaction.
 */
export function createKyselyUserStore<U extends BaseUser>(
  database: Database,
  fields: UserFields = {},
  options: KyselyUserStoreOptions = {},
): UserStore<U> {
  const { db, capabilities, userIdType } = database
  // The login identifiers besides the e-mail, each kept unique by the table login_identity (0011).
  const identifiers = storeIdentifiers(options.loginIdentifiers, fields)
  const table = database.tables.user
  const integer = userIdType === 'integer'
  const booleans = [
    ...BASE_BOOLEANS,
    ...Object.entries(fields)
      .filter(([, f]) => f.column === 'boolean' || (f.schema as { type?: unknown }).type === 'boolean')
      .map(([name]) => name),
  ]
  const columns = ['id', 'email', 'hashed_password', ...BASE_BOOLEANS, ...Object.keys(fields)]

  // SQLite and MariaDB hand booleans back as 0/1.
  const decoded = (user: Record<string, unknown>): U => {
    for (const name of booleans) if (user[name] !== null && user[name] !== undefined) user[name] = Boolean(user[name])
    user.id = idFromRow(database, user.id)
    return user as U
  }
  const toUser = (row: Record<string, unknown> | undefined): U | null => (row ? decoded({ ...row }) : null)
  // A row read as an array (SQLite's read-only connection), in the order of `columns`.
  const fromArray = (row: unknown[] | undefined): U | null => {
    if (!row) return null
    const user: Record<string, unknown> = {}
    for (let i = 0; i < columns.length; i++) user[columns[i] as string] = row[i]
    return decoded(user)
  }

  const toRow = (values: Record<string, unknown>): Record<string, unknown> => {
    if (capabilities.bindsBooleans) return values
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'boolean' ? Number(v) : v]))
  }

  const select = () => db.selectFrom(table).select(columns)

  // biome-ignore lint/suspicious/noExplicitAny: the user table's columns depend on the app's custom fields
  const filter = (query: UserListQuery): SelectQueryBuilder<any, any, object> => {
    let rows = db.selectFrom(table)
    if (query.email)
      rows = rows.where(sql<boolean>`${asciiLower(sql.ref('email'))} like ${likeLiteral(query.email)} escape '!'`)
    for (const flag of ['is_active', 'is_verified', 'is_superuser'] as const) {
      const value = query[flag]
      if (value !== undefined) rows = rows.where(flag, '=', toRow({ [flag]: value })[flag])
    }
    return rows
  }
  // biome-ignore lint/suspicious/noExplicitAny: as above
  const orderBy = <Q extends SelectQueryBuilder<any, any, any>>(rows: Q, query: UserListQuery): Q => {
    const direction = query.orderBy.startsWith('-') ? 'desc' : 'asc'
    const email = capabilities.codePointOrder
      ? sql`email collate ${sql.id(capabilities.codePointOrder)}`
      : sql.ref('email')
    const ordered = query.orderBy.endsWith('email') ? rows.orderBy(email, direction) : rows
    return ordered.orderBy('id', direction) as Q
  }
  // An id of another type, or beyond the column's range, names no row (and never reaches the database).
  const storable = (id: UserId) =>
    integer
      ? typeof id === 'number' && Number.isSafeInteger(id) && Math.abs(id) <= capabilities.integerMax
      : typeof id === 'string' && UUID.test(id) // anything else would fail PostgreSQL's uuid cast, and a batch with it

  // The look-up of every authenticated request: the look-ups of one turn of the event loop in one
  // query (batch.ts). On a SQLite file, on the read-only connection, with its statements compiled once
  // per batch size (read-batch.ts), and its ids compared as SQLite compares them (exactly).
  const byId = async (id: UserId): Promise<U | null> => {
    if (!storable(id)) return null
    if (readById) return fromArray(await readById(id).catch(unavailableOr))
    return toUser(await lookUpById(id).catch(unavailableOr))
  }
  const readRowsNow = database.readRowsNow
  const readById =
    readRowsNow &&
    batchedRowsNow<UserId>(readRowsNow, {
      sqlFor: (count) => {
        const query = select()
          .where(
            'id',
            'in',
            Array.from({ length: count }, () => (integer ? 0 : '')),
          )
          .compile()
        if (query.parameters.length !== count) throw new Error('user store: unexpected shape of the by-id query')
        return query.sql
      },
      parameters: (ids) => ids,
      keyOf: String,
      keyOfRow: (row) => String(row[0]),
    })
  // Over a connection: the same, one query per turn (batch.ts).
  const lookUpById = batchedLookup<UserId, Record<string, unknown>>({
    keyOf: idKey,
    keyOfRow: (row) => idKey(idFromRow(database, row.id)),
    load: (ids) => select().where('id', 'in', ids).execute(),
  })

  // A write (a statement, or a transaction run whole again): a deadlock's victim is rolled back
  // and tried again, so that two users taking one address get one success and one DuplicateEmail.
  const write = async <T>(query: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await query()
      } catch (error) {
        if (error instanceof DuplicateIdentifier) throw error
        if (isUniqueViolation(error)) throw new DuplicateEmail({ cause: scrubDatabaseError(error) })
        if (isTransientConflict(error) && attempt < 5) continue
        return unavailableOr(error)
      }
    }
  }

  // The new row's id: generated here (UUID), or numbered by the database and read from the insert.
  // biome-ignore lint/suspicious/noExplicitAny: the user table's columns depend on the app's custom fields
  const insert = async (trx: Kysely<any>, row: Record<string, unknown>): Promise<UserId> => {
    if (!integer || row.id !== undefined) {
      await trx.insertInto(table).values(row).execute()
      return row.id as UserId
    }
    if (capabilities.returning) {
      const inserted = await trx.insertInto(table).values(row).returning('id').executeTakeFirstOrThrow()
      return Number(inserted.id)
    }
    const result = await trx.insertInto(table).values(row).executeTakeFirstOrThrow()
    return Number(result.insertId)
  }

  return {
    idType: userIdType,
    get: byId,
    ...(options.loginIdentifiers && { loginIdentifiers: [...options.loginIdentifiers] }),

    async getByIdentifier(field, value) {
      if (!identifiers.includes(field)) return null
      const row = await db
        .selectFrom(table)
        .innerJoin('login_identity', 'login_identity.user_id', `${table}.id`)
        .select(columns.map((c) => `${table}.${c}`))
        .where('login_identity.field', '=', field)
        .where('login_identity.identity_key', '=', identifierDigest(value))
        .executeTakeFirst()
        .catch(unavailableOr)
      return toUser(row)
    },

    async getByEmail(email) {
      const row = await db
        .selectFrom(table)
        .innerJoin('email_identity', 'email_identity.user_id', `${table}.id`)
        .select(columns.map((c) => `${table}.${c}`))
        .where('email_identity.email_key', '=', emailKeyDigest(email))
        .executeTakeFirst()
        .catch(unavailableOr)
      return toUser(row)
    },

    async create(data: NewUser<U>) {
      const row = toRow({ ...data, id: data.id ?? (integer ? undefined : randomUUID()) })
      if (row.id === undefined) delete row.id
      const id = await write(() =>
        db.transaction().execute(async (trx) => {
          const id = await insert(trx, row)
          await trx
            .insertInto('email_identity')
            .values({ email_key: emailKeyDigest(data.email), user_id: id })
            .execute()
          const values = data as Record<string, unknown>
          for (const field of identifiers) await writeIdentity(trx, id, field, values[field], false)
          return id
        }),
      )
      const created = await byId(id)
      if (!created) throw new Error('the created user could not be read back')
      return created
    },

    async update(user, changes: UserChanges<U>, options = {}) {
      if (Object.keys(changes).length === 0) return byId(user.id)
      // Only the given columns are written: concurrent updates of other fields are never undone.
      let query = db.updateTable(table).set(toRow(changes)).where('id', '=', user.id)
      const conditions = toRow({
        ...options.ifStill,
        ...(options.ifPasswordIs === undefined ? {} : { hashed_password: options.ifPasswordIs }),
      })
      for (const [column, value] of Object.entries(conditions)) {
        query = value === null ? query.where(column, 'is', null) : query.where(column, '=', value)
      }
      const email = changes.email
      const conditional = Object.keys(conditions).length > 0
      const moved = identifiers.filter((field) => (changes as Record<string, unknown>)[field] !== undefined)
      if (email === undefined && moved.length === 0) {
        const result = await write(() => query.executeTakeFirst())
        // MariaDB counts matched rows here too (mysql2 sets CLIENT_FOUND_ROWS), not only changed ones.
        return conditional && Number(result.numUpdatedRows) === 0 ? null : byId(user.id)
      }
      const applied = await write(() =>
        db.transaction().execute(async (trx) => {
          const result = await trx.executeQuery(query.compile())
          if (conditional && Number(result.numAffectedRows ?? 0) === 0) return false
          if (email !== undefined) {
            // The identity moves with the address; another user's identity refuses it (DuplicateEmail).
            await trx.deleteFrom('email_identity').where('user_id', '=', user.id).execute()
            await trx
              .insertInto('email_identity')
              .values({ email_key: emailKeyDigest(email), user_id: user.id })
              .execute()
          }
          const values = changes as Record<string, unknown>
          for (const field of moved) await writeIdentity(trx, user.id, field, values[field], true)
          return true
        }),
      )
      return applied ? byId(user.id) : null
    },

    async list(query) {
      const filtered = filter(query)
      const [rows, count] = await Promise.all([
        orderBy(filtered.select(columns), query).limit(query.limit).offset(query.offset).execute(),
        filtered.select((eb) => eb.fn.countAll().as('total')).executeTakeFirstOrThrow(),
      ]).catch(unavailableOr)
      return { items: rows.map((row) => toUser(row) as U), total: Number(count.total) }
    },

    async delete(user) {
      await db.deleteFrom(table).where('id', '=', user.id).execute().catch(unavailableOr)
    },
  }
}

export interface KyselyUserStoreOptions {
  /**
   * The fields a login's `username` may name (default `['email']`); each besides `email` is one of
   * the app's fields, kept unique by its `identifierKey` (core/identifiers.ts) in the table
   * login_identity. Give the same list to `migrateToLatest`; the manager takes it from the store.
   */
  loginIdentifiers?: string[]
}

/**
 * Letters A–Z lower-cased and nothing else, the same on every database: SQLite's lower() knows no
 * other letters, PostgreSQL's follows its locale, MariaDB's its collation.
 */
function asciiLower(text: Expression<unknown>): RawBuilder<string> {
  let folded: RawBuilder<unknown> = sql`${text}`
  for (let c = 65; c <= 90; c++) {
    folded = sql`replace(${folded}, ${sql.lit(String.fromCharCode(c))}, ${sql.lit(String.fromCharCode(c + 32))})`
  }
  return folded as RawBuilder<string>
}

/** A LIKE pattern matching `text` anywhere, its letters A–Z lower-cased and its wildcards literal (escaped by `!`). */
function likeLiteral(text: string): string {
  const lower = text.replace(/[A-Z]/g, (c) => c.toLowerCase())
  return `%${lower.replace(/[!%_]/g, '!$&')}%`
}

export type { Database } from './database.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A user id as the database compares it: UUIDs whatever their case (PostgreSQL's uuid, MariaDB's collation). */
function idKey(id: UserId): string {
  return typeof id === 'string' ? id.toLowerCase() : String(id)
}
