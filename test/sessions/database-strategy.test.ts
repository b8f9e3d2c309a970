/**
 * The DatabaseStrategy behind /auth/cookie (Cookie + database) in the reference service, on
 * every database: login, authenticated request, logout, expiry, the `accesstoken` table as
 * fastapi-users-db-sqlalchemy creates it, and its rows cascading with the user.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { sql } from 'kysely'
import type { Database } from '../../src/kysely.js'
import { databaseKinds } from '../support/databases.js'
import { idModels } from '../support/id-models.js'
import {
  ACCESS_COOKIE,
  adminToken,
  assertMe,
  assertRefused,
  bearer,
  cookieLogin,
  me,
  meByCookie,
  NO_CONTENT,
  newEmail,
  postLogin,
  registered,
  reply,
  rows,
  service,
  setCookie,
  sleep,
  UNAUTHORIZED,
  withCookies,
} from './helpers.js'

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

const cookieHeaders = (token: string) => withCookies({ [ACCESS_COOKIE]: token })

/**
 * The models the suite runs with: fastapi-users' defaults, and integer ids with tables of the app's own
 * names (USER_TABLE, ACCESS_TOKEN_TABLE), as an IntegerIDMixin app with `__tablename__`s has them.
 */
interface Model {
  idType: string
  env: Record<string, string>
  userTable: string
  table: string
  userId: Record<'sqlite' | 'postgres' | 'mysql', string>
}
const ALL_MODELS: Model[] = [
  {
    idType: 'uuid',
    env: {},
    userTable: 'user',
    table: 'accesstoken',
    userId: { sqlite: 'char(36)', postgres: 'uuid', mysql: 'char(36)' },
  },
  {
    idType: 'integer',
    env: { USER_ID_TYPE: 'integer', USER_TABLE: 'demo_users', ACCESS_TOKEN_TABLE: 'demo_access_tokens' },
    userTable: 'demo_users',
    table: 'demo_access_tokens',
    userId: { sqlite: 'integer', postgres: 'integer', mysql: 'int' },
  },
]
const MODELS = ALL_MODELS.filter((m) => idModels().some((i) => i.name === m.idType))

/** The columns of the access-token table: name → { type, length, nullable }, read from the catalog. */
async function accessTokenColumns(db: Database, table: string) {
  if (db.kind === 'sqlite') {
    const { rows: cols } = await sql<{ name: string; type: string; notnull: number; pk: number }>`
      select name, type, "notnull", pk from pragma_table_info(${table})`.execute(db.db)
    return Object.fromEntries(cols.map((c) => [c.name, { type: c.type.toLowerCase(), notNull: c.notnull === 1 }]))
  }
  const schema = db.kind === 'postgres' ? sql`current_schema()` : sql`database()`
  const { rows: cols } = await sql<Record<string, unknown>>`
    select column_name, data_type, character_maximum_length, is_nullable
    from information_schema.columns
    where table_schema = ${schema} and table_name = ${table}`.execute(db.db)
  return Object.fromEntries(
    cols.map((c) => {
      const get = (k: string) => c[k] ?? c[k.toUpperCase()]
      const length = get('character_maximum_length')
      const type = String(get('data_type')).toLowerCase()
      return [
        String(get('column_name')),
        { type: length == null ? type : `${type}(${Number(length)})`, notNull: get('is_nullable') === 'NO' },
      ]
    }),
  )
}

/** Whether the user_id foreign key cascades on delete, from the catalog. */
async function userIdCascades(db: Database, table: string, userTable: string): Promise<boolean> {
  if (db.kind === 'sqlite') {
    const { rows: fks } = await sql<{ from: string; table: string; on_delete: string }>`
      select "from", "table", on_delete from pragma_foreign_key_list(${table})`.execute(db.db)
    return fks.some((fk) => fk.from === 'user_id' && fk.table === userTable && fk.on_delete === 'CASCADE')
  }
  const schema = db.kind === 'postgres' ? sql`current_schema()` : sql`database()`
  const { rows: rules } = await sql<Record<string, unknown>>`
    select delete_rule from information_schema.referential_constraints
    where constraint_schema = ${schema} and table_name = ${table}`
    .execute(db.db)
    .catch(async () =>
      // PostgreSQL's referential_constraints has no table_name: join through table_constraints.
      sql<Record<string, unknown>>`
        select rc.delete_rule from information_schema.referential_constraints rc
        join information_schema.table_constraints tc
          on tc.constraint_name = rc.constraint_name and tc.constraint_schema = rc.constraint_schema
        where tc.table_name = ${table} and tc.constraint_type = 'FOREIGN KEY'`.execute(db.db),
    )
  return rules.some((r) => (r.delete_rule ?? r.DELETE_RULE) === 'CASCADE')
}

/** The names of the indexes on the access-token table. */
async function accessTokenIndexes(db: Database, table: string): Promise<string[]> {
  if (db.kind === 'sqlite') {
    const { rows: idx } = await sql<{ name: string }>`select name from pragma_index_list(${table})`.execute(db.db)
    return idx.map((i) => i.name)
  }
  if (db.kind === 'postgres') {
    const { rows: idx } = await sql<{ indexname: string }>`
      select indexname from pg_indexes where tablename = ${table}`.execute(db.db)
    return idx.map((i) => i.indexname)
  }
  const { rows: idx } = await sql<Record<string, unknown>>`
    select index_name from information_schema.statistics
    where table_schema = database() and table_name = ${table}`.execute(db.db)
  return idx.map((i) => String(i.index_name ?? i.INDEX_NAME))
}

for (const kind of databaseKinds()) {
  for (const { idType, env, table, userTable, userId } of MODELS) {
    describe(`${kind}: DatabaseStrategy at /auth/cookie (${idType} ids, table ${table})`, () => {
      describe('default lifetime (3600 s)', () => {
        const { it } = service(kind, env)

        it('login: 204 with an HttpOnly, Secure, SameSite=Lax cookie holding a 43-character URL-safe token', async ({
          api,
        }) => {
          const user = await registered(api)
          const res = await postLogin(api, '/auth/cookie', user.email, user.password)
          assert.deepEqual(reply(res), NO_CONTENT)
          const cookie = setCookie(res, ACCESS_COOKIE)
          assert.ok(cookie)
          assert.match(cookie.value, TOKEN_SHAPE)
          assert.equal(cookie.httpOnly, true)
          assert.equal(cookie.secure, true)
          assert.equal(cookie.sameSite, 'Lax')
          assert.equal(cookie.path, '/')
          assert.equal(cookie.maxAge, 3600)
        })

        it('the cookie authenticates GET /users/me', async ({ api }) => {
          const user = await registered(api)
          const token = await cookieLogin(api, user.email)
          const res = await meByCookie(api, token)
          assert.equal(res.statusCode, 200, res.body)
          assert.deepEqual(res.json(), {
            id: user.id,
            email: user.email,
            is_active: true,
            is_superuser: false,
            is_verified: false,
            first_name: 'Ann',
          })
        })

        it('bad credentials: 400 LOGIN_BAD_CREDENTIALS, no cookie and no row', async ({ api, db }) => {
          const user = await registered(api)
          const res = await postLogin(api, '/auth/cookie', user.email, 'wrong-password-123')
          assert.deepEqual(reply(res), [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
          assert.equal(res.headers['set-cookie'], undefined)
          assert.deepEqual(await rows(db, table, ['user_id', user.id]), [])
        })

        it('the accesstoken row: the token itself, the user id, created_at of the login', async ({ api, db }) => {
          const user = await registered(api)
          const before = Date.now()
          const token = await cookieLogin(api, user.email)
          const after = Date.now()
          const found = await rows(db, table, ['token', token])
          assert.equal(found.length, 1)
          const row = found[0] as Record<string, unknown>
          assert.deepEqual(Object.keys(row).sort(), ['created_at', 'token', 'user_id'])
          assert.equal(row.token, token)
          assert.equal(String(row.user_id).toLowerCase(), String(user.id))
          // created_at is UTC (SQLite: SQLAlchemy's naive UTC text), within the request.
          const raw = row.created_at
          const created =
            raw instanceof Date ? raw.getTime() : new Date(`${String(raw).replace(' ', 'T').slice(0, 23)}Z`).getTime()
          assert.ok(created >= before - 1000 && created <= after + 1000, `created_at ${String(raw)} is of the login`)
        })

        it('the access-token table: token VARCHAR(43) primary key, created_at indexed, user_id cascading', async ({
          db,
        }) => {
          const columns = await accessTokenColumns(db, table)
          assert.deepEqual(Object.keys(columns).sort(), ['created_at', 'token', 'user_id'])
          const expected = {
            sqlite: { token: 'varchar(43)', user_id: userId.sqlite, created_at: 'timestamp' },
            postgres: {
              token: 'character varying(43)',
              user_id: userId.postgres,
              created_at: 'timestamp with time zone',
            },
            mysql: { token: 'varchar(43)', user_id: userId.mysql, created_at: 'datetime' },
          }[db.kind]
          for (const [name, type] of Object.entries(expected)) {
            assert.equal(columns[name]?.type, type, `${table}.${name}`)
            assert.equal(columns[name]?.notNull, true, `${table}.${name} is NOT NULL`)
          }
          assert.ok(await userIdCascades(db, table, userTable), `user_id references ${userTable}(id) ON DELETE CASCADE`)
          assert.ok((await accessTokenIndexes(db, table)).includes(`ix_${table}_created_at`))
        })

        it('logout: 204, clears the cookie and deletes the row; the token is then refused (401)', async ({
          api,
          db,
        }) => {
          const user = await registered(api)
          const token = await cookieLogin(api, user.email)
          await assertMe(api, cookieHeaders(token), user.email)
          const res = await api.send({ method: 'POST', url: '/auth/cookie/logout', headers: cookieHeaders(token) })
          assert.deepEqual(reply(res), NO_CONTENT)
          const cleared = setCookie(res, ACCESS_COOKIE)
          assert.equal(cleared?.value, '')
          assert.equal(cleared?.maxAge, 0)
          assert.deepEqual(await rows(db, table, ['token', token]), [])
          await assertRefused(api, cookieHeaders(token))
          // A second logout with the dead cookie is a 401 too.
          assert.deepEqual(
            reply(await api.send({ method: 'POST', url: '/auth/cookie/logout', headers: cookieHeaders(token) })),
            UNAUTHORIZED,
          )
        })

        it('each login is a session of its own: logging one out leaves the other', async ({ api, db }) => {
          const user = await registered(api)
          const first = await cookieLogin(api, user.email)
          const second = await cookieLogin(api, user.email)
          assert.notEqual(first, second)
          assert.equal((await rows(db, table, ['user_id', user.id])).length, 2)
          await api.send({ method: 'POST', url: '/auth/cookie/logout', headers: cookieHeaders(first) })
          await assertRefused(api, cookieHeaders(first))
          await assertMe(api, cookieHeaders(second), user.email)
        })

        it('unknown, empty or over-long tokens are refused (401)', async ({ api }) => {
          for (const token of ['x'.repeat(43), '', 'a'.repeat(5000), "' or 1=1 --"]) {
            assert.deepEqual(reply(await meByCookie(api, token)), UNAUTHORIZED, JSON.stringify(token.slice(0, 20)))
          }
        })

        it('the database token is a cookie only: sent as a Bearer token it is refused (401)', async ({ api }) => {
          const user = await registered(api)
          const token = await cookieLogin(api, user.email)
          await assertRefused(api, bearer(token))
        })

        it('the rows cascade when the user is deleted; the cookie is then refused', async ({ api, db }) => {
          const user = await registered(api)
          const token = await cookieLogin(api, user.email)
          await cookieLogin(api, user.email)
          assert.equal((await rows(db, table, ['user_id', user.id])).length, 2)
          const res = await api.delete(`/users/${user.id}`, await adminToken(api))
          assert.deepEqual(reply(res), NO_CONTENT)
          assert.deepEqual(await rows(db, table, ['user_id', user.id]), [])
          await assertRefused(api, cookieHeaders(token))
        })

        it('a deactivated user’s cookie is refused even before any revocation (401)', async ({ api, db }) => {
          const user = await registered(api)
          const token = await cookieLogin(api, user.email)
          // Straight in the database: no revocation runs, only currentUser's active check.
          await db.db
            .updateTable(userTable)
            .set({ is_active: db.kind === 'sqlite' ? 0 : false })
            .where('id', '=', user.id)
            .execute()
          await assertRefused(api, cookieHeaders(token))
        })

        // The look-up is compiled once (and on SQLite read on a second connection): it still sees
        // every committed change at the very next request, whoever made it.
        it('a row deleted or aged by another process is refused at the next request (401)', async ({ api, db }) => {
          const user = await registered(api)
          const deleted = await cookieLogin(api, user.email)
          const aged = await cookieLogin(api, user.email)
          await assertMe(api, cookieHeaders(deleted), user.email)
          await assertMe(api, cookieHeaders(aged), user.email)
          await db.db.deleteFrom(table).where('token', '=', deleted).execute()
          await assertRefused(api, cookieHeaders(deleted))
          const past = new Date(Date.now() - 3601_000)
          const createdAt = db.kind === 'sqlite' ? `${past.toISOString().replace('T', ' ').replace('Z', '')}000` : past
          await db.db.updateTable(table).set({ created_at: createdAt }).where('token', '=', aged).execute()
          await assertRefused(api, cookieHeaders(aged))
        })
      })

      describe('ACCESS_TOKEN_LIFETIME=1', () => {
        const { it } = service(kind, { ...env, ACCESS_TOKEN_LIFETIME: '1' })

        it('the token works at once and is refused (401) after its lifetime', async ({ api }) => {
          const user = await registered(api, newEmail('short'))
          const res = await postLogin(api, '/auth/cookie', user.email, user.password)
          assert.equal(res.statusCode, 204, res.body)
          const token = setCookie(res, ACCESS_COOKIE)?.value as string
          assert.equal(setCookie(res, ACCESS_COOKIE)?.maxAge, 1)
          await assertMe(api, cookieHeaders(token), user.email)
          await sleep(1500)
          assert.deepEqual(reply(await me(api, cookieHeaders(token))), UNAUTHORIZED)
        })

        it('an expired session is not listed', async ({ api }) => {
          const user = await registered(api, newEmail('short'))
          const expired = await cookieLogin(api, user.email)
          const listed = await api.send({ method: 'GET', url: '/users/me/sessions', headers: cookieHeaders(expired) })
          assert.equal(listed.json().length, 1, listed.body)
          await sleep(1500)
          const fresh = await cookieLogin(api, user.email)
          const res = await api.send({ method: 'GET', url: '/users/me/sessions', headers: cookieHeaders(fresh) })
          assert.equal(res.statusCode, 200, res.body)
          assert.equal(res.json().length, 1, res.body)
        })
      })
    })
  }
}
