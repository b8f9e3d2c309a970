/**
 * What the session suites share: the reference service on one database (and the real Redis when
 * asked), a second connection to that database to look at its rows, cookie and Redis helpers.
 */
import assert from 'node:assert/strict'
import { after, before, type TestContext, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { type Database, openDatabase } from '../../src/kysely.js'
import { client, type Response, startTestApp, type TestApp } from '../support/app.js'
import type { DatabaseKind } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { openRedis, testRedisUrl } from '../support/redis.js'

export { newEmail }

export const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
export const SUPERUSER_ENV = { FIRST_SUPERUSER_EMAIL: ADMIN.email, FIRST_SUPERUSER_PASSWORD: ADMIN.password }
export const PASSWORD = 'correct-horse-battery'
export const NEW_PASSWORD = 'another-horse-battery'
/** The reference service's PUBLIC_URL in these suites: its origin is trusted by the CSRF check. */
export const PUBLIC_URL = 'https://app.example.com'
export const HOSTILE_ORIGIN = 'https://evil.example'
export const REDIS_PREFIX = 'fastapi_users_token:'
export const ACCESS_COOKIE = 'fastapiusersauth'
export const REFRESH_COOKIE = 'fastapiusersrefresh'

/** A fresh address for each test: a suite shares its database. */

/** [status, parsed body]: '' for an empty body. */
export const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]

export const UNAUTHORIZED = [401, { detail: 'Unauthorized' }]
export const NOT_FOUND = [404, { detail: 'Not Found' }]
export const CSRF_FAILED = [403, { detail: 'CSRF_CHECK_FAILED' }]
export const NO_CONTENT = [204, '']

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export type Api = ReturnType<typeof client>

export interface Service {
  kind: DatabaseKind
  app: FastifyInstance
  api: Api
  /** A second connection to the service's database, to look at its rows. */
  db: Database
  /** A client of the service's Redis when the suite asked for one. */
  redis: Redis | null
  started: TestApp
}

/**
 * The reference service on a fresh database of `kind` (with REDIS_URL when `redis`), started
 * once per suite. Tests skip, with the reason, where the database or Redis is unreachable
 * (never under CI=true: the helpers then throw).
 */
export function service(
  kind: DatabaseKind,
  env: Record<string, string> | (() => Record<string, string>) = {},
  options: { redis?: boolean } = {},
) {
  let current: Service | null = null
  let skipReason = `${kind} is not reachable locally`
  before(async () => {
    let redisUrl: string | null = null
    if (options.redis) {
      redisUrl = await testRedisUrl()
      if (!redisUrl) {
        skipReason = 'Redis is not reachable locally'
        return
      }
    }
    const started = await startTestApp(kind, {
      PUBLIC_URL,
      ...SUPERUSER_ENV,
      ...(typeof env === 'function' ? env() : env),
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    })
    if (!started) return
    current = {
      kind,
      app: started.app,
      api: client(started.app),
      db: openDatabase(started.database.url),
      redis: redisUrl ? openRedis(redisUrl) : null,
      started,
    }
  })
  after(async () => {
    if (!current) return
    current.redis?.disconnect()
    await current.db.close()
    await current.started.close()
  })
  const it = (name: string, body: (s: Service) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!current) return t.skip(skipReason)
      await body(current)
    })
  return { it }
}

// ---------------------------------------------------------------------------------------------
// Users and logins

export interface UserRead {
  id: string | number
  email: string
  is_active: boolean
  is_superuser: boolean
  is_verified: boolean
  first_name: string | null
}

/** Registers a user; returns its UserRead body with the password used. */
export async function registered(api: Api, email = newEmail(), password = PASSWORD) {
  const res = await api.register(email, password, 'Ann')
  assert.equal(res.statusCode, 201, res.body)
  return { ...(res.json() as UserRead), password }
}

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()

/** POST <prefix>/login with the OAuth2 form. */
export function postLogin(api: Api, prefix: string, email: string, password: string, headers = {}) {
  return api.send({
    method: 'POST',
    url: `${prefix}/login`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: form({ username: email, password }),
  })
}

/** A Bearer login (`/auth/jwt` or `/auth/redis`): its 200 body. */
export async function bearerLogin(api: Api, prefix: string, email: string, password = PASSWORD) {
  const res = await postLogin(api, prefix, email, password)
  assert.equal(res.statusCode, 200, res.body)
  return res.json() as { access_token: string; token_type: string; refresh_token?: string }
}

/** A cookie login at /auth/cookie: the `fastapiusersauth` value. */
export async function cookieLogin(api: Api, email: string, password = PASSWORD, prefix = '/auth/cookie') {
  const res = await postLogin(api, prefix, email, password)
  assert.equal(res.statusCode, 204, res.body)
  const cookie = setCookie(res, ACCESS_COOKIE)
  assert.ok(cookie?.value, 'the login sets the access cookie')
  return cookie.value
}

export interface SetCookie {
  name: string
  value: string
  path?: string
  maxAge?: number
  expires?: Date
  httpOnly?: boolean
  secure?: boolean
  sameSite?: string
}

/** The Set-Cookie of `name` in a response, parsed. */
export function setCookie(res: Response, name: string): SetCookie | undefined {
  return (res.cookies as SetCookie[]).find((c) => c.name === name)
}

/** Request headers carrying cookies. */
export const withCookies = (cookies: Record<string, string>, headers: Record<string, string> = {}) => ({
  ...headers,
  cookie: Object.entries(cookies)
    .map(([k, v]) => `${k}=${v}`)
    .join('; '),
})

export const bearer = (token: string, headers: Record<string, string> = {}) => ({
  ...headers,
  authorization: `Bearer ${token}`,
})

/** GET /users/me with these headers. */
export const me = (api: Api, headers: Record<string, string>) => api.send({ method: 'GET', url: '/users/me', headers })

/** GET /users/me authenticated by the access cookie. */
export const meByCookie = (api: Api, token: string) => me(api, withCookies({ [ACCESS_COOKIE]: token }))

/** GET /users/me authenticated by a Bearer token. */
export const meByBearer = (api: Api, token: string) => me(api, bearer(token))

/** Asserts GET /users/me with these headers is 200 for `email`. */
export async function assertMe(api: Api, headers: Record<string, string>, email: string) {
  const res = await me(api, headers)
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.json().email, email)
}

export async function assertRefused(api: Api, headers: Record<string, string>, what = 'the token') {
  assert.deepEqual(reply(await me(api, headers)), UNAUTHORIZED, `${what} is refused`)
}

/** POST /auth/jwt/refresh (or another Bearer backend's) with {"refresh_token"}. */
export function bearerRefresh(api: Api, refreshToken: string, prefix = '/auth/jwt') {
  return api.send({
    method: 'POST',
    url: `${prefix}/refresh`,
    headers: { 'content-type': 'application/json' },
    payload: { refresh_token: refreshToken },
  })
}

/** A superuser's JWT. */
export const adminToken = async (api: Api) =>
  (await bearerLogin(api, '/auth/jwt', ADMIN.email, ADMIN.password)).access_token

/** Rows of a table, as plain objects. */
export async function rows(db: Database, table: string, where?: [string, unknown]) {
  let query = db.db.selectFrom(table).selectAll()
  if (where) query = query.where(where[0], '=', where[1])
  return (await query.execute()) as Record<string, unknown>[]
}

export const within = (actual: number, expected: number, tolerance: number) => Math.abs(actual - expected) <= tolerance
