/**
 * POST /auth/register, /auth/jwt/login, /auth/jwt/logout and the access token, against the
 * reference service on every database, as COMPAT.md describes fastapi-users 12.1.2.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { decodeJwt, decodeProtectedHeader, type JWTPayload, SignJWT } from 'jose'
import { client, type Response, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { idModels } from '../support/id-models.js'

// ---------------------------------------------------------------------------------------------
// Helpers

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const SUPERUSER_ENV = { FIRST_SUPERUSER_EMAIL: ADMIN.email, FIRST_SUPERUSER_PASSWORD: ADMIN.password }
const PASSWORD = 'correct-horse-battery'
const AUTH_AUDIENCE = 'fastapi-users:auth'

let counter = 0
/** A fresh address for each test: a suite shares its database. */

const now = () => Math.floor(Date.now() / 1000)

/** [status, parsed body]: '' for an empty body. */
const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]

/** The `loc` of every 422 error, after checking each error has FastAPI's shape. */
function validationLocs(res: Response): unknown[] {
  assert.equal(res.statusCode, 422, res.body)
  const { detail } = res.json()
  assert.ok(Array.isArray(detail) && detail.length > 0, res.body)
  for (const error of detail) {
    assert.equal(typeof error.msg, 'string')
    assert.equal(typeof error.type, 'string')
  }
  return detail.map((error: { loc: unknown }) => error.loc)
}

const BAD_CREDENTIALS = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]
const ALREADY_EXISTS = [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }]
const invalidPassword = (reason: string) => [400, { detail: { code: 'REGISTER_INVALID_PASSWORD', reason } }]

/** 401 {"detail":"Unauthorized"} and, as in fastapi-users, no WWW-Authenticate header. */
function assertUnauthorized(res: Response) {
  assert.deepEqual(reply(res), [401, { detail: 'Unauthorized' }])
  assert.equal(res.headers['www-authenticate'], undefined)
}

const key = (secret: string) => new TextEncoder().encode(secret)

/** An access token as the service would write it, with claims overridable, signed as asked. */
function forge(
  claims: JWTPayload,
  { alg = 'HS256', secret = TEST_SECRET }: { alg?: 'HS256' | 'HS384' | 'HS512'; secret?: string } = {},
) {
  return new SignJWT({ aud: [AUTH_AUDIENCE], exp: now() + 3600, ...claims })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .sign(key(secret))
}

/** An unsecured JWT (alg "none"): header.payload. with an empty signature. */
function unsigned(claims: JWTPayload) {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ aud: [AUTH_AUDIENCE], exp: now() + 3600, ...claims })}.`
}

/** The login form as multipart/form-data, serialised by the platform's own FormData. */
async function multipart(fields: Record<string, string>) {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.set(name, value)
  const request = new Request('http://localhost/', { method: 'POST', body: form })
  return {
    headers: { 'content-type': request.headers.get('content-type') ?? '' },
    payload: Buffer.from(await request.arrayBuffer()),
  }
}

const urlencoded = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString(),
})

type Api = ReturnType<typeof client>

/** The API of a service started once per suite; tests skip, with the reason, where the database is unreachable. */
function service(kind: DatabaseKind, env: Record<string, string>) {
  let started: TestApp | null = null
  let api: Api
  before(async () => {
    started = await startTestApp(kind, env)
    if (started) api = client(started.app)
  })
  after(() => started?.close())

  const it = (name: string, body: (api: Api) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!started) return t.skip(`${kind} is not reachable locally`)
      await body(api)
    })

  return {
    it,
    /** Registers a user and returns its UserRead body. */
    async registered(api: Api, email = newEmail(), password = PASSWORD, firstName = 'Ann') {
      const res = await api.register(email, password, firstName)
      assert.equal(res.statusCode, 201, res.body)
      return res.json() as { id: string | number; email: string; first_name: string | null }
    },
    adminToken: (api: Api) => api.token(ADMIN.email, ADMIN.password),
  }
}

const register = (api: Api, body: Record<string, unknown>) => api.post('/auth/register', body)
const postLogin = (api: Api, request: { headers: Record<string, string>; payload: string | Buffer }) =>
  api.send({ method: 'POST', url: '/auth/jwt/login', ...request })
const me = (api: Api, headers: Record<string, string>, url = '/users/me') => api.send({ method: 'GET', url, headers })

// ---------------------------------------------------------------------------------------------

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids`, () => {
      const { it, registered, adminToken } = service(kind, { ...SUPERUSER_ENV, ...model.env })

      describe('POST /auth/register', () => {
        it(`gives every user an id of its own (${model.name}): in sequence increasing, at once never the same`, async (api) => {
          const first = await registered(api)
          const second = await registered(api)
          if (model.name === 'integer') assert.ok(Number(second.id) > Number(first.id), `${first.id} < ${second.id}`)
          const all = await Promise.all(Array.from({ length: 8 }, () => api.register(newEmail('together'), PASSWORD)))
          assert.deepEqual(
            all.map((r) => r.statusCode),
            all.map(() => 201),
          )
          const ids = all.map((r) => r.json().id)
          assert.ok(ids.every(model.isId), String(ids))
          assert.equal(new Set([first.id, second.id, ...ids]).size, 10)
        })

        it('creates the user: 201 with exactly the UserRead fields', async (api) => {
          const email = newEmail('ann')
          const res = await api.register(email, PASSWORD, 'Ann')
          const body = res.json()
          assert.ok(model.isId(body.id), `an id of the model's type: ${body.id}`)
          assert.deepEqual(reply(res), [
            201,
            { id: body.id, email, is_active: true, is_superuser: false, is_verified: false, first_name: 'Ann' },
          ])
          assert.ok(!res.body.includes('hashed_password'))
          assert.ok(!res.body.includes(PASSWORD))
        })

        it('ignores id, is_active, is_superuser and is_verified sent by the client', async (api) => {
          const email = newEmail('sneaky')
          const forcedId = '3fa85f64-5717-4562-b3fc-2c963f66afa6'
          const res = await register(api, {
            email,
            password: PASSWORD,
            first_name: 'Sneaky',
            id: forcedId,
            is_active: false,
            is_superuser: true,
            is_verified: true,
          })
          const { id } = res.json()
          assert.notEqual(id, forcedId)
          assert.deepEqual(reply(res), [
            201,
            { id, email, is_active: true, is_superuser: false, is_verified: false, first_name: 'Sneaky' },
          ])
          // Still an ordinary, active user: it logs in and is refused the superuser routes.
          const token = await api.token(email, PASSWORD)
          assert.deepEqual(reply(await api.get(`/users/${id}`, token)), [403, { detail: 'Forbidden' }])
          assert.deepEqual(reply(await api.get(`/users/${forcedId}`, await adminToken(api))), [
            404,
            { detail: 'Not Found' },
          ])
        })

        it('strips spaces and lower-cases the domain but keeps the local part', async (api) => {
          const local = `Mixed.Case-${++counter}`
          const res = await register(api, { email: `  ${local}@EXAMPLE.Com  `, password: PASSWORD, first_name: 'M' })
          assert.equal(res.statusCode, 201, res.body)
          assert.equal(res.json().email, `${local}@example.com`)
          const token = await api.token(`${local}@example.com`, PASSWORD)
          assert.equal((await api.get('/users/me', token)).json().email, `${local}@example.com`)
        })

        it('stores `Name <addr>` as addr', async (api) => {
          const address = newEmail('carol')
          const res = await register(api, {
            email: `Carol Smith <${address.replace('example.com', 'Example.COM')}>`,
            password: PASSWORD,
            first_name: 'Carol',
          })
          assert.equal(res.statusCode, 201, res.body)
          assert.equal(res.json().email, address)
        })

        for (const email of ['x@a.test', 'x@localhost', 'x@printer.local', 'x@[127.0.0.1]', 'x@[IPv6:::1]']) {
          it(`refuses the special-use or literal domain of ${email}: 422 at body.email`, async (api) => {
            const res = await api.register(email, PASSWORD)
            assert.deepEqual(validationLocs(res), [['body', 'email']])
          })
        }

        it('requires first_name: 422 at body.first_name', async (api) => {
          const res = await register(api, { email: newEmail(), password: PASSWORD })
          assert.deepEqual(validationLocs(res), [['body', 'first_name']])
        })

        it('refuses an e-mail already registered, in any letter case', async (api) => {
          const email = newEmail('dup')
          await registered(api, email)
          assert.deepEqual(reply(await api.register(email, PASSWORD)), ALREADY_EXISTS)
          assert.deepEqual(reply(await api.register(email.toUpperCase(), PASSWORD)), ALREADY_EXISTS)
          assert.deepEqual(reply(await api.register(` ${email.replace('dup', 'DUP')} `, PASSWORD)), ALREADY_EXISTS)
        })

        it('refuses a password under 8 code points: seven emoji are too short, eight are enough', async (api) => {
          const seven = '😀'.repeat(7) // 14 UTF-16 units, 7 code points
          assert.deepEqual(
            reply(await api.register(newEmail(), seven)),
            invalidPassword('Password should be at least 8 characters'),
          )
          assert.deepEqual(
            reply(await api.register(newEmail(), 'short12')),
            invalidPassword('Password should be at least 8 characters'),
          )
          assert.equal((await api.register(newEmail(), '😀'.repeat(8))).statusCode, 201)
        })

        it('refuses a password containing the (normalised) e-mail', async (api) => {
          const email = newEmail('mail')
          assert.deepEqual(
            reply(await api.register(email, `xx${email}xx`)),
            invalidPassword('Password should not contain e-mail'),
          )
          // The address is normalised first: the domain as typed is upper case, the password holds the stored form.
          const other = newEmail('norm')
          assert.deepEqual(
            reply(await api.register(other.replace('example.com', 'EXAMPLE.COM'), `pw-${other}`)),
            invalidPassword('Password should not contain e-mail'),
          )
        })

        it('validates the password before looking for a duplicate', async (api) => {
          const email = newEmail('first')
          await registered(api, email)
          assert.deepEqual(
            reply(await api.register(email, 'short')),
            invalidPassword('Password should be at least 8 characters'),
          )
          assert.deepEqual(
            reply(await api.register(email, `a ${email} b`)),
            invalidPassword('Password should not contain e-mail'),
          )
        })

        it('refuses a password over 4096 characters with 400 REGISTER_INVALID_PASSWORD, not 500', async (api) => {
          const email = newEmail('long')
          const res = await api.register(email, 'x'.repeat(4097))
          assert.equal(res.statusCode, 400, res.body)
          const { detail } = res.json()
          assert.equal(detail.code, 'REGISTER_INVALID_PASSWORD')
          assert.equal(typeof detail.reason, 'string')
          assert.deepEqual(Object.keys(detail).sort(), ['code', 'reason'])
          // Nothing was created: the address is still free, and 4096 characters are fine.
          assert.equal((await api.register(email, 'x'.repeat(4096))).statusCode, 201)
        })

        it('gives exactly one 201 for 50 concurrent registrations of one e-mail, the rest 400, never 500', async (api) => {
          const email = newEmail('race')
          const results = await Promise.all(Array.from({ length: 50 }, () => api.register(email, PASSWORD)))
          const created = results.filter((res) => res.statusCode === 201)
          assert.equal(created.length, 1, results.map((res) => res.statusCode).join(','))
          for (const res of results.filter((r) => r.statusCode !== 201)) assert.deepEqual(reply(res), ALREADY_EXISTS)
          assert.equal((await api.login(email, PASSWORD)).statusCode, 200)
        })

        it('gives exactly one 201 for concurrent registrations of one e-mail in different letter cases', async (api) => {
          const email = newEmail('racecase')
          const spellings = Array.from({ length: 20 }, (_, i) =>
            i % 2 ? email : email.replace('racecase', 'RaceCase').toUpperCase(),
          )
          const results = await Promise.all(spellings.map((spelling) => api.register(spelling, PASSWORD)))
          assert.equal(results.filter((res) => res.statusCode === 201).length, 1)
          for (const res of results.filter((r) => r.statusCode !== 201)) assert.deepEqual(reply(res), ALREADY_EXISTS)
        })

        it('refuses JSON sent as text/plain: 422 at body', async (api) => {
          const payload = JSON.stringify({ email: newEmail(), password: PASSWORD, first_name: 'T' })
          const res = await api.send({
            method: 'POST',
            url: '/auth/register',
            headers: { 'content-type': 'text/plain' },
            payload,
          })
          assert.deepEqual(validationLocs(res), [['body']])
        })

        it('refuses malformed JSON with 422 json_invalid', async (api) => {
          const res = await api.send({
            method: 'POST',
            url: '/auth/register',
            headers: { 'content-type': 'application/json' },
            payload: '{"email": "a@example.com",',
          })
          assert.equal(res.statusCode, 422, res.body)
          const { detail } = res.json()
          assert.equal(detail.length, 1)
          assert.equal(detail[0].loc[0], 'body')
          assert.equal(detail[0].type, 'json_invalid')
        })

        it('reads a body without Content-Type as JSON', async (api) => {
          const email = newEmail('noct')
          const res = await api.send({
            method: 'POST',
            url: '/auth/register',
            payload: JSON.stringify({ email, password: PASSWORD, first_name: 'N' }),
          })
          assert.equal(res.statusCode, 201, res.body)
          assert.equal(res.json().email, email)
        })
      })

      describe('POST /auth/jwt/login', () => {
        it('accepts a urlencoded form: 200 {access_token, token_type: "bearer"}', async (api) => {
          const email = newEmail()
          await registered(api, email)
          const res = await postLogin(api, urlencoded({ username: email, password: PASSWORD }))
          const { access_token, refresh_token } = res.json()
          assert.equal(typeof access_token, 'string')
          assert.equal(typeof refresh_token, 'string', 'the reference service enables refresh tokens on /auth/jwt')
          assert.deepEqual(reply(res), [200, { access_token, token_type: 'bearer', refresh_token }])
        })

        it('accepts a multipart form', async (api) => {
          const email = newEmail()
          await registered(api, email)
          const res = await postLogin(api, await multipart({ username: email, password: PASSWORD }))
          const { access_token, refresh_token } = res.json()
          assert.deepEqual(reply(res), [200, { access_token, token_type: 'bearer', refresh_token }])
          assert.equal((await api.get('/users/me', access_token)).statusCode, 200)
        })

        it('accepts grant_type "password"', async (api) => {
          const email = newEmail()
          await registered(api, email)
          const res = await postLogin(api, urlencoded({ grant_type: 'password', username: email, password: PASSWORD }))
          assert.equal(res.statusCode, 200, res.body)
        })

        it('refuses JSON: 422 at body.username and body.password', async (api) => {
          const email = newEmail()
          await registered(api, email)
          const res = await api.post('/auth/jwt/login', { username: email, password: PASSWORD })
          assert.deepEqual(validationLocs(res), [
            ['body', 'username'],
            ['body', 'password'],
          ])
        })

        it('refuses a missing or empty password: 422 at body.password', async (api) => {
          const email = newEmail()
          await registered(api, email)
          assert.deepEqual(validationLocs(await postLogin(api, urlencoded({ username: email }))), [
            ['body', 'password'],
          ])
          assert.deepEqual(validationLocs(await postLogin(api, urlencoded({ username: email, password: '' }))), [
            ['body', 'password'],
          ])
          assert.deepEqual(validationLocs(await postLogin(api, await multipart({ username: email, password: '' }))), [
            ['body', 'password'],
          ])
        })

        it('refuses a grant_type other than "password": 422 at body.grant_type', async (api) => {
          const email = newEmail()
          await registered(api, email)
          for (const grant_type of ['client_credentials', 'Password', 'refresh_token']) {
            const res = await postLogin(api, urlencoded({ grant_type, username: email, password: PASSWORD }))
            assert.deepEqual(validationLocs(res), [['body', 'grant_type']], grant_type)
          }
        })

        it('answers LOGIN_BAD_CREDENTIALS for a wrong password and for an unknown user', async (api) => {
          const email = newEmail()
          await registered(api, email)
          assert.deepEqual(reply(await api.login(email, `${PASSWORD}!`)), BAD_CREDENTIALS)
          assert.deepEqual(reply(await api.login(newEmail('nobody'), PASSWORD)), BAD_CREDENTIALS)
          assert.deepEqual(reply(await api.login('not-an-email', PASSWORD)), BAD_CREDENTIALS)
        })

        it('answers LOGIN_BAD_CREDENTIALS for a user deactivated by a superuser', async (api) => {
          const email = newEmail('inactive')
          const { id } = await registered(api, email)
          assert.equal((await api.login(email, PASSWORD)).statusCode, 200)
          const patch = await api.patch(`/users/${id}`, { is_active: false }, await adminToken(api))
          assert.equal(patch.statusCode, 200, patch.body)
          assert.equal(patch.json().is_active, false)
          assert.deepEqual(reply(await api.login(email, PASSWORD)), BAD_CREDENTIALS)
        })

        it('finds the user whatever the letter case of the e-mail', async (api) => {
          const email = newEmail('CaseUser')
          await registered(api, email)
          assert.equal((await api.login(email.toUpperCase(), PASSWORD)).statusCode, 200)
          assert.equal((await api.login(email.toLowerCase(), PASSWORD)).statusCode, 200)
        })

        it('lets an unverified user log in', async (api) => {
          const email = newEmail()
          const user = await registered(api, email)
          const token = await api.token(email, PASSWORD)
          assert.deepEqual(reply(await api.get('/users/me', token)), [
            200,
            { ...user, is_active: true, is_superuser: false, is_verified: false },
          ])
        })
      })

      describe('the access token', () => {
        it('is HS256 with exactly sub, aud, first_name, role, exp one hour ahead, and our pfp and sid', async (api) => {
          const email = newEmail()
          const { id } = await registered(api, email, PASSWORD, 'Zoë')
          const issuedAfter = now()
          const token = await api.token(email, PASSWORD)
          assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT' })
          const claims = decodeJwt(token)
          assert.ok(
            typeof claims.exp === 'number' && claims.exp >= issuedAfter + 3600 - 2 && claims.exp <= now() + 3600 + 2,
          )
          // pfp: the password binding that makes a password change end the token (ours, not fastapi-users');
          // sid: the refresh family the token was issued with (the sessions list marks it current)
          assert.match(String(claims.pfp), /^[\w-]{16}$/)
          assert.match(String(claims.sid), /^[\w-]{22}$/)
          assert.deepEqual(claims, {
            sub: String(id),
            aud: [AUTH_AUDIENCE],
            first_name: 'Zoë',
            role: 'user',
            pfp: claims.pfp,
            sid: claims.sid,
            exp: claims.exp,
          })
        })

        it('says role "admin" for a superuser', async (api) => {
          const token = await adminToken(api)
          const { id } = (await api.get('/users/me', token)).json()
          const claims = decodeJwt(token)
          assert.deepEqual(claims, {
            sub: String(id),
            aud: [AUTH_AUDIENCE],
            first_name: null,
            role: 'admin',
            pfp: claims.pfp,
            sid: claims.sid,
            exp: claims.exp,
          })
        })

        it('authenticates GET /users/me', async (api) => {
          const email = newEmail()
          const user = await registered(api, email)
          const token = await api.token(email, PASSWORD)
          assert.deepEqual(reply(await api.get('/users/me', token)), [
            200,
            { ...user, is_active: true, is_superuser: false, is_verified: false },
          ])
        })

        it('is required: no token or a garbage one is 401', async (api) => {
          assertUnauthorized(await me(api, {}))
          assertUnauthorized(await me(api, { authorization: 'Bearer not.a.jwt' }))
          assertUnauthorized(await me(api, { authorization: 'Bearer' }))
        })

        describe('refused (401, no WWW-Authenticate)', () => {
          const refuses = (name: string, token: (sub: string) => Promise<string> | string) =>
            it(name, async (api) => {
              const { id } = await registered(api)
              assertUnauthorized(await me(api, { authorization: `Bearer ${await token(String(id))}` }))
            })

          refuses('signed with another secret', (sub) => forge({ sub }, { secret: `${TEST_SECRET}-other` }))
          refuses('expired', (sub) => forge({ sub, exp: now() - 60 }))
          refuses('for the reset audience', (sub) => forge({ sub, aud: 'fastapi-users:reset' }))
          refuses('for the verify audience', (sub) => forge({ sub, aud: ['fastapi-users:verify'] }))
          refuses('without an audience', (sub) =>
            new SignJWT({ sub, exp: now() + 3600 }).setProtectedHeader({ alg: 'HS256' }).sign(key(TEST_SECRET)),
          )
          refuses('unsigned (alg none)', (sub) => unsigned({ sub }))
          refuses('HS384 with the right secret', (sub) => forge({ sub }, { alg: 'HS384' }))
          refuses('HS512 with the right secret', (sub) => forge({ sub }, { alg: 'HS512' }))
          refuses('not valid yet (nbf in the future)', (sub) => forge({ sub, nbf: now() + 600 }))
          refuses(`with a sub that is not an id (${model.name})`, () => forge({ sub: 'admin@example.com' }))
          refuses('with a sub of nobody', () => forge({ sub: model.unknownId }))
          refuses('with the id as a JSON number, not the decimal string fastapi-users writes', (sub) =>
            forge({ sub: Number(sub) } as unknown as JWTPayload),
          )
          refuses('without a sub', () => forge({}))

          it('for a deleted user', async (api) => {
            const email = newEmail('deleted')
            const { id } = await registered(api, email)
            const token = await api.token(email, PASSWORD)
            assert.equal((await api.get('/users/me', token)).statusCode, 200)
            assert.deepEqual(reply(await api.delete(`/users/${id}`, await adminToken(api))), [204, ''])
            assertUnauthorized(await api.get('/users/me', token))
            assertUnauthorized(await me(api, { authorization: `Bearer ${await forge({ sub: String(id) })}` }))
          })

          it('from a cookie or an ?access_token= query parameter', async (api) => {
            const email = newEmail()
            await registered(api, email)
            const token = await api.token(email, PASSWORD)
            assertUnauthorized(await me(api, { cookie: `fastapiusersauth=${token}` }))
            assertUnauthorized(await me(api, { cookie: `access_token=${token}` }))
            assertUnauthorized(await me(api, {}, `/users/me?access_token=${token}`))
          })
        })

        describe('accepted', () => {
          const accepts = (name: string, token: (sub: string) => Promise<string>, scheme = 'Bearer') =>
            it(name, async (api) => {
              const user = await registered(api)
              const res = await me(api, { authorization: `${scheme} ${await token(String(user.id))}` })
              assert.deepEqual(reply(res), [200, { ...user, is_active: true, is_superuser: false, is_verified: false }])
            })

          accepts('with aud as the plain string', (sub) => forge({ sub, aud: AUTH_AUDIENCE }))
          accepts('with aud a list that contains it', (sub) => forge({ sub, aud: ['other', AUTH_AUDIENCE] }))
          if (model.name === 'uuid') {
            accepts('with sub in upper case', (sub) => forge({ sub: sub.toUpperCase() }))
            accepts('with sub without hyphens', (sub) => forge({ sub: sub.replaceAll('-', '') }))
            accepts('with sub in braces', (sub) => forge({ sub: `{${sub}}` }))
            accepts('with sub as urn:uuid:', (sub) => forge({ sub: `urn:uuid:${sub}` }))
          } else {
            // fastapi-users' IntegerIDMixin.parse_id is int(sub)
            accepts('with sub with a leading zero', (sub) => forge({ sub: `0${sub}` }))
            accepts('with sub with a plus sign and spaces', (sub) => forge({ sub: ` +${sub} ` }))
          }
          accepts('with the scheme "bearer" in lower case', (sub) => forge({ sub }), 'bearer')
          accepts('with the scheme "BEARER" in upper case', (sub) => forge({ sub }), 'BEARER')
        })
      })

      describe('POST /auth/jwt/logout', () => {
        it('answers 204 with an empty body when authenticated', async (api) => {
          const email = newEmail()
          await registered(api, email)
          const res = await api.post('/auth/jwt/logout', undefined, await api.token(email, PASSWORD))
          assert.deepEqual(reply(res), [204, ''])
        })

        it('answers 401 without a token or with a bad one', async (api) => {
          assertUnauthorized(await api.post('/auth/jwt/logout'))
          assertUnauthorized(await api.post('/auth/jwt/logout', undefined, 'not.a.jwt'))
        })

        it('answers 401 for a deactivated user', async (api) => {
          const email = newEmail()
          const { id } = await registered(api, email)
          const token = await api.token(email, PASSWORD)
          assert.equal((await api.patch(`/users/${id}`, { is_active: false }, await adminToken(api))).statusCode, 200)
          assertUnauthorized(await api.post('/auth/jwt/logout', undefined, token))
        })
      })

      describe('with REQUIRE_VERIFICATION=true', () => {
        const strict = service(kind, { ...SUPERUSER_ENV, ...model.env, REQUIRE_VERIFICATION: 'true' })

        strict.it('refuses an unverified user with LOGIN_USER_NOT_VERIFIED', async (api) => {
          const email = newEmail('unverified')
          await strict.registered(api, email)
          assert.deepEqual(reply(await api.login(email, PASSWORD)), [400, { detail: 'LOGIN_USER_NOT_VERIFIED' }])
          // The credentials are checked first: a wrong password is still LOGIN_BAD_CREDENTIALS.
          assert.deepEqual(reply(await api.login(email, `${PASSWORD}!`)), BAD_CREDENTIALS)
        })

        strict.it('lets a verified user log in', async (api) => {
          const email = newEmail('verified')
          const { id } = await strict.registered(api, email)
          const patch = await api.patch(`/users/${id}`, { is_verified: true }, await strict.adminToken(api))
          assert.equal(patch.statusCode, 200, patch.body)
          const res = await api.login(email, PASSWORD)
          const { access_token, refresh_token } = res.json()
          assert.deepEqual(reply(res), [200, { access_token, token_type: 'bearer', refresh_token }])
        })

        strict.it('answers LOGIN_BAD_CREDENTIALS, not LOGIN_USER_NOT_VERIFIED, for an inactive user', async (api) => {
          const email = newEmail('inactive-unverified')
          const { id } = await strict.registered(api, email)
          await api.patch(`/users/${id}`, { is_active: false }, await strict.adminToken(api))
          assert.deepEqual(reply(await api.login(email, PASSWORD)), BAD_CREDENTIALS)
        })
      })
    })
  }
}
