/**
 * The superusers' additions to /users (past fastapi-users), on every database and id model: the user
 * list (filters, literal and case-insensitive e-mail search, pagination bounds, ordering, 422s),
 * POST /users, and DELETE /users/{id}/sessions ending every session of another user.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe } from 'node:test'
import {
  ACCESS_COOKIE,
  ADMIN,
  adminToken,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  bearerRefresh,
  cookieLogin,
  NO_CONTENT,
  NOT_FOUND,
  PASSWORD,
  registered,
  reply,
  service,
  UNAUTHORIZED,
  withCookies,
} from '../sessions/helpers.js'
import { databaseKinds } from '../support/databases.js'
import { idModels } from '../support/id-models.js'

const FORBIDDEN = [403, { detail: 'Forbidden' }]
type Api = Parameters<typeof adminToken>[0]
type UserRead = { id: string | number; email: string }

/** POST /users as the first superuser, expecting 201. */
async function created(api: Api, body: Record<string, unknown>): Promise<UserRead> {
  const res = await api.post('/users', { password: PASSWORD, first_name: 'Bo', ...body }, await adminToken(api))
  assert.equal(res.statusCode, 201, res.body)
  return res.json()
}

/** Three users whose addresses start with a fresh tag: `.BRAVO` < `.alpha` < `_50%!off` by code point. */
async function tagged(api: Api) {
  const tag = `t${randomBytes(5).toString('hex')}`
  const alpha = await created(api, { email: `${tag}.alpha@example.com`, is_verified: true, first_name: 'Al' })
  const bravo = await created(api, { email: `${tag}.BRAVO@example.com`, is_superuser: true })
  const off = await created(api, { email: `${tag}_50%!off@example.com`, is_active: false })
  return { tag, alpha, bravo, off }
}

const list = async (api: Api, query: string) => {
  const res = await api.get(`/users?${query}`, await adminToken(api))
  return reply(res)
}
const page = (items: UserRead[], total = items.length, limit = 50, offset = 0) => [200, { items, total, limit, offset }]
const invalid = (detail: object[]) => [422, { detail }]

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids`, () => {
      const { it } = service(kind, model.env, { redis: true })

      it('GET /users: 401 without a token, 403 for an ordinary user', async ({ api }) => {
        const user = await registered(api)
        const token = (await bearerLogin(api, '/auth/jwt', user.email)).access_token
        assert.deepEqual(reply(await api.get('/users')), UNAUTHORIZED)
        assert.deepEqual(reply(await api.get('/users?limit=0')), UNAUTHORIZED)
        assert.deepEqual(reply(await api.get('/users', token)), FORBIDDEN)
        assert.deepEqual(reply(await api.get('/users?limit=0', token)), FORBIDDEN)
      })

      it('GET /users: the UserRead items, filtered by e-mail part and flags', async ({ api }) => {
        const { tag, alpha, bravo, off } = await tagged(api)
        assert.deepEqual(alpha, {
          id: alpha.id,
          email: `${tag}.alpha@example.com`,
          is_active: true,
          is_superuser: false,
          is_verified: true,
          first_name: 'Al',
        })
        assert.deepEqual(await list(api, `email=${tag}`), page([bravo, alpha, off]))
        assert.deepEqual(await list(api, `email=${tag}&is_superuser=true`), page([bravo]))
        assert.deepEqual(await list(api, `email=${tag}&is_superuser=false`), page([alpha, off]))
        assert.deepEqual(await list(api, `email=${tag}&is_active=false`), page([off]))
        assert.deepEqual(await list(api, `email=${tag}&is_verified=1&is_active=yes`), page([alpha]))
      })

      it('GET /users: e-mail search ignores the case of A–Z and takes %, _, ! and \\ literally', async ({ api }) => {
        const { tag, alpha, bravo, off } = await tagged(api)
        const TAG = tag.toUpperCase()
        assert.deepEqual(await list(api, `email=${TAG}.BRAVO`), page([bravo]))
        assert.deepEqual(await list(api, `email=${tag}.bravo`), page([bravo]))
        assert.deepEqual(await list(api, `email=${TAG}.ALPHA%40EXAMPLE`), page([alpha]))
        assert.deepEqual(await list(api, `email=${tag}_`), page([off]))
        assert.deepEqual(await list(api, `email=${tag}%25`), page([]))
        assert.deepEqual(await list(api, `email=${tag}_50%25!off`), page([off]))
        assert.deepEqual(await list(api, `email=${tag}_50%25!`), page([off]))
        assert.deepEqual(await list(api, `email=${tag}!`), page([]))
        assert.deepEqual(await list(api, `email=${tag}%5C`), page([]))
        assert.deepEqual(await list(api, `email=${tag}.%C3%A0`), page([]))
      })

      it('GET /users: ordering by code point or id, both ways', async ({ api }) => {
        const { tag, alpha, bravo, off } = await tagged(api)
        assert.deepEqual(await list(api, `email=${tag}&order_by=email`), page([bravo, alpha, off]))
        assert.deepEqual(await list(api, `email=${tag}&order_by=-email`), page([off, alpha, bravo]))
        const byId = [alpha, bravo, off].sort((a, b) =>
          typeof a.id === 'number' ? a.id - (b.id as number) : String(a.id).localeCompare(String(b.id), 'en'),
        )
        assert.deepEqual(await list(api, `email=${tag}&order_by=id`), page(byId))
        assert.deepEqual(await list(api, `email=${tag}&order_by=-id`), page([...byId].reverse()))
      })

      it('GET /users: pages by limit and offset, total counting every match', async ({ api }) => {
        const { tag, alpha, bravo, off } = await tagged(api)
        assert.deepEqual(await list(api, `email=${tag}&limit=1`), page([bravo], 3, 1))
        assert.deepEqual(await list(api, `email=${tag}&limit=2&offset=1`), page([alpha, off], 3, 2, 1))
        assert.deepEqual(await list(api, `email=${tag}&limit=100&offset=3`), page([], 3, 100, 3))
        assert.deepEqual(await list(api, `email=${tag}&offset=99999999`), page([], 3, 50, 99999999))
        const all = await list(api, '')
        assert.equal(all[0], 200)
        const body = all[1] as { items: UserRead[]; total: number; limit: number }
        assert.equal(body.limit, 50)
        assert.equal(body.items.length, Math.min(body.total, 50))
        assert.ok(body.items.some((u) => u.email === ADMIN.email))
      })

      it('GET /users: bad parameters answer FastAPI’s 422, every one at once', async ({ api }) => {
        assert.deepEqual(await list(api, 'limit=0'), invalid([greaterEqual('limit', '0', 1)]))
        assert.deepEqual(await list(api, 'limit=101'), invalid([lessEqual('limit', '101', 100)]))
        assert.deepEqual(
          await list(api, 'limit=abc&offset=-1&is_active=maybe&order_by=name&email=a%00b'),
          invalid([
            {
              type: 'int_parsing',
              loc: ['query', 'limit'],
              msg: 'Input should be a valid integer, unable to parse string as an integer',
              input: 'abc',
            },
            greaterEqual('offset', '-1', 0),
            {
              type: 'string_unicode',
              loc: ['query', 'email'],
              msg: 'String should not contain NUL characters or unpaired surrogates',
              input: 'a\u0000b',
            },
            {
              type: 'bool_parsing',
              loc: ['query', 'is_active'],
              msg: 'Input should be a valid boolean, unable to interpret input',
              input: 'maybe',
            },
            {
              type: 'literal_error',
              loc: ['query', 'order_by'],
              msg: "Input should be 'email', '-email', 'id' or '-id'",
              input: 'name',
              ctx: { expected: "'email', '-email', 'id' or '-id'" },
            },
          ]),
        )
        assert.deepEqual(
          await list(api, `email=${'a'.repeat(321)}`),
          invalid([
            {
              type: 'string_too_long',
              loc: ['query', 'email'],
              msg: 'String should have at most 320 characters',
              input: 'a'.repeat(321),
              ctx: { max_length: 320 },
            },
          ]),
        )
      })

      it('POST /users: a superuser creates a user with flags; register’s errors; 401/403', async ({ api }) => {
        const admin = await adminToken(api)
        const email = `new-${randomBytes(4).toString('hex')}@example.com`
        const body = { email, password: PASSWORD, first_name: 'Ann', is_superuser: true, is_verified: true }
        const res = await api.post('/users', body, admin)
        const user = res.json()
        assert.ok(model.isId(user.id), res.body)
        assert.deepEqual(reply(res), [
          201,
          { id: user.id, email, is_active: true, is_superuser: true, is_verified: true, first_name: 'Ann' },
        ])
        await assertMe(api, bearer((await bearerLogin(api, '/auth/jwt', email)).access_token), email)
        assert.deepEqual(reply(await api.post('/users', { ...body, email: email.toUpperCase() }, admin)), [
          400,
          { detail: 'REGISTER_USER_ALREADY_EXISTS' },
        ])
        assert.deepEqual(reply(await api.post('/users', { ...body, email: `x${email}`, password: 'short' }, admin)), [
          400,
          { detail: { code: 'REGISTER_INVALID_PASSWORD', reason: 'Password should be at least 8 characters' } },
        ])
        const ordinary = (await bearerLogin(api, '/auth/jwt', (await registered(api)).email)).access_token
        assert.deepEqual(reply(await api.post('/users', { ...body, email: `y${email}` })), UNAUTHORIZED)
        assert.deepEqual(reply(await api.post('/users', { ...body, email: `y${email}` }, ordinary)), FORBIDDEN)
      })

      it('DELETE /users/{id}/sessions ends every session of the user, and only theirs', async ({ api }) => {
        const user = await registered(api)
        const jwt = await bearerLogin(api, '/auth/jwt', user.email)
        const cookie = await cookieLogin(api, user.email)
        const redis = (await bearerLogin(api, '/auth/redis', user.email)).access_token
        const admin = await adminToken(api)
        const adminCookie = await cookieLogin(api, ADMIN.email, ADMIN.password)

        assert.deepEqual(reply(await api.delete(`/users/${user.id}/sessions`)), UNAUTHORIZED)
        assert.deepEqual(reply(await api.delete(`/users/${user.id}/sessions`, jwt.access_token)), FORBIDDEN)
        assert.deepEqual(reply(await api.delete(`/users/${model.unknownId}/sessions`, admin)), NOT_FOUND)
        await assertMe(api, withCookies({ [ACCESS_COOKIE]: cookie }), user.email)

        assert.deepEqual(reply(await api.delete(`/users/${user.id}/sessions`, admin)), NO_CONTENT)
        await assertRefused(api, withCookies({ [ACCESS_COOKIE]: cookie }), 'the database session')
        await assertRefused(api, bearer(redis), 'the Redis session')
        assert.deepEqual(reply(await bearerRefresh(api, jwt.refresh_token as string)), UNAUTHORIZED)
        await assertMe(api, withCookies({ [ACCESS_COOKIE]: adminCookie }), ADMIN.email)
      })
    })
  }
}

function greaterEqual(name: string, input: string, ge: number) {
  const msg = `Input should be greater than or equal to ${ge}`
  return { type: 'greater_than_equal', loc: ['query', name], msg, input, ctx: { ge } }
}

function lessEqual(name: string, input: string, le: number) {
  const msg = `Input should be less than or equal to ${le}`
  return { type: 'less_than_equal', loc: ['query', name], msg, input, ctx: { le } }
}
