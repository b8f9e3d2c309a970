/**
 * The users router (/users/me and /users/{id}) of the reference service, on every database,
 * as COMPAT.md describes fastapi-users 12.1.2: exact bodies, the order of checks, id spellings,
 * safe and unsafe updates, deletion, and Starlette's answers around the routes.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { client, type Response, startTestApp, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { idModels } from '../support/id-models.js'

// ---------------------------------------------------------------------------------------------
// Helpers

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const SUPERUSER_ENV = { FIRST_SUPERUSER_EMAIL: ADMIN.email, FIRST_SUPERUSER_PASSWORD: ADMIN.password }
const PASSWORD = 'correct-horse-battery'
/** A well-formed id that no user has. */

let counter = 0
/** A fresh address for each test: a suite shares its database. */

/** [status, parsed body]: '' for an empty body. */
const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]

const UNAUTHORIZED = [401, { detail: 'Unauthorized' }]
const FORBIDDEN = [403, { detail: 'Forbidden' }]
const NOT_FOUND = [404, { detail: 'Not Found' }]
const EMAIL_EXISTS = [400, { detail: 'UPDATE_USER_EMAIL_ALREADY_EXISTS' }]
const BAD_CREDENTIALS = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]
const invalidPassword = (reason: string) => [400, { detail: { code: 'UPDATE_USER_INVALID_PASSWORD', reason } }]
const TOO_SHORT = invalidPassword('Password should be at least 8 characters')
const CONTAINS_EMAIL = invalidPassword('Password should not contain e-mail')

/** The `loc` of every 422 error, after checking each error has FastAPI's shape. */
function validationLocs(res: Response): unknown[][] {
  assert.equal(res.statusCode, 422, res.body)
  const { detail } = res.json()
  assert.ok(Array.isArray(detail) && detail.length > 0, res.body)
  for (const error of detail) {
    assert.ok(Array.isArray(error.loc) && error.loc[0] === 'body', res.body)
    assert.equal(typeof error.msg, 'string')
    assert.equal(typeof error.type, 'string')
  }
  return detail.map((error: { loc: unknown[] }) => error.loc)
}

interface UserRead {
  id: string | number
  email: string
  is_active: boolean
  is_superuser: boolean
  is_verified: boolean
  first_name: string | null
}

/** A registered user, its password and a fresh access token. */
interface Account {
  user: UserRead
  password: string
  token: string
}

type Api = ReturnType<typeof client>

/** A body without a token: `{method, url, payload}` sent as raw JSON text. */
const rawJson = (method: 'PATCH' | 'DELETE' | 'GET', url: string, text: string, token?: string) => ({
  method,
  url,
  payload: text,
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
})

/** The reference service started once per suite; tests skip, with the reason, where the database is unreachable. */
function service(kind: DatabaseKind, env: Record<string, string>) {
  let started: TestApp | null = null
  let api: Api
  before(async () => {
    started = await startTestApp(kind, { ...SUPERUSER_ENV, ...env })
    if (started) api = client(started.app)
  })
  after(() => started?.close())

  const it = (name: string, body: (api: Api) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!started) return t.skip(`${kind} is not reachable locally`)
      await body(api)
    })

  return { it }
}

const adminToken = (api: Api) => api.token(ADMIN.email, ADMIN.password)

/** Registers a fresh user (201) and logs it in. */
async function account(api: Api, tag = 'user', firstName: string | null = 'Ann'): Promise<Account> {
  const email = newEmail(tag)
  const res = await api.register(email, PASSWORD, firstName)
  assert.equal(res.statusCode, 201, res.body)
  return { user: res.json(), password: PASSWORD, token: await api.token(email, PASSWORD) }
}

/** PATCH /users/{id} as the first superuser, expecting 200; returns the updated user. */
async function adminPatch(api: Api, id: string | number, body: Record<string, unknown>): Promise<UserRead> {
  const res = await api.patch(`/users/${id}`, body, await adminToken(api))
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

/** A fresh superuser (promoted by the first one) with a token taken after the promotion. */
async function superuser(api: Api, tag = 'boss'): Promise<Account> {
  const created = await account(api, tag)
  const user = await adminPatch(api, created.user.id, { is_superuser: true })
  return { ...created, user, token: await api.token(user.email, created.password) }
}

// ---------------------------------------------------------------------------------------------

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids`, () => {
      const { it } = service(kind, model.env)
      const UNKNOWN_ID = model.unknownId
      const spellings = model.spellings

      describe('GET /users/me', () => {
        it('answers 200 with exactly the UserRead fields', async (api) => {
          const { user, token } = await account(api, 'me', 'Ann')
          const res = await api.get('/users/me', token)
          assert.deepEqual(reply(res), [
            200,
            {
              id: user.id,
              email: user.email,
              is_active: true,
              is_superuser: false,
              is_verified: false,
              first_name: 'Ann',
            },
          ])
          assert.match(String(res.headers['content-type']), /^application\/json/)
          assert.ok(!res.body.includes('hashed_password'))
        })

        it('shows the first superuser created at start as a verified superuser', async (api) => {
          const res = await api.get('/users/me', await adminToken(api))
          const { id } = res.json()
          assert.deepEqual(reply(res), [
            200,
            { id, email: ADMIN.email, is_active: true, is_superuser: true, is_verified: true, first_name: null },
          ])
        })

        it('answers 401 without a token', async (api) => {
          const res = await api.get('/users/me')
          assert.deepEqual(reply(res), UNAUTHORIZED)
          assert.equal(res.headers['www-authenticate'], undefined)
        })

        it('answers 401 with a token that is not a JWT', async (api) => {
          assert.deepEqual(reply(await api.get('/users/me', 'not-a-token')), UNAUTHORIZED)
        })

        it('answers 401 with a tampered token', async (api) => {
          const { token } = await account(api)
          const [header, payload, signature] = token.split('.')
          const tampered = `${header}.${payload}.${signature?.startsWith('A') ? 'B' : 'A'}${signature?.slice(1)}`
          assert.deepEqual(reply(await api.get('/users/me', tampered)), UNAUTHORIZED)
        })

        it('answers 401 at once when the user is deactivated', async (api) => {
          const { user, token } = await account(api, 'deactivated')
          assert.equal((await api.get('/users/me', token)).statusCode, 200)
          await adminPatch(api, user.id, { is_active: false })
          assert.deepEqual(reply(await api.get('/users/me', token)), UNAUTHORIZED)
          assert.deepEqual(reply(await api.patch('/users/me', { first_name: 'X' }, token)), UNAUTHORIZED)
          assert.deepEqual(reply(await api.login(user.email, PASSWORD)), BAD_CREDENTIALS)
        })

        it('answers 401 at once when the user is deleted', async (api) => {
          const { user, token } = await account(api, 'deleted')
          const res = await api.delete(`/users/${user.id}`, await adminToken(api))
          assert.equal(res.statusCode, 204, res.body)
          assert.deepEqual(reply(await api.get('/users/me', token)), UNAUTHORIZED)
        })
      })

      describe('PATCH /users/me', () => {
        it('changes first_name: 200 with the updated UserRead', async (api) => {
          const { user, token } = await account(api, 'rename', 'Ann')
          const res = await api.patch('/users/me', { first_name: 'Annie' }, token)
          assert.deepEqual(reply(res), [200, { ...user, first_name: 'Annie' }])
          assert.deepEqual(reply(await api.get('/users/me', token)), [200, { ...user, first_name: 'Annie' }])
        })

        it('sets first_name to null', async (api) => {
          const { user, token } = await account(api, 'nullname', 'Ann')
          assert.deepEqual(reply(await api.patch('/users/me', { first_name: null }, token)), [
            200,
            { ...user, first_name: null },
          ])
        })

        it('ignores is_active, is_superuser and is_verified (safe update)', async (api) => {
          const { user, token } = await account(api, 'climber')
          const res = await api.patch(
            '/users/me',
            { is_active: false, is_superuser: true, is_verified: true, first_name: 'Climber' },
            token,
          )
          assert.deepEqual(reply(res), [200, { ...user, first_name: 'Climber' }])
          // Still an ordinary active user: the token works and the superuser routes refuse it.
          assert.deepEqual(reply(await api.get('/users/me', token)), [200, { ...user, first_name: 'Climber' }])
          assert.deepEqual(reply(await api.get(`/users/${user.id}`, token)), FORBIDDEN)
        })

        it('is a safe update for a superuser too: cannot demote, deactivate or unverify itself', async (api) => {
          const boss = await superuser(api, 'selfsafe')
          await adminPatch(api, boss.user.id, { is_verified: true })
          const res = await api.patch(
            '/users/me',
            { is_active: false, is_superuser: false, is_verified: false },
            boss.token,
          )
          assert.deepEqual(reply(res), [200, { ...boss.user, is_verified: true }])
          assert.equal((await api.get(`/users/${boss.user.id}`, boss.token)).statusCode, 200)
        })

        it('changes the password: the old one no longer logs in, the new one does', async (api) => {
          const { user, token } = await account(api, 'newpass')
          const res = await api.patch('/users/me', { password: 'a-brand-new-password' }, token)
          assert.deepEqual(reply(res), [200, user])
          assert.deepEqual(reply(await api.login(user.email, PASSWORD)), BAD_CREDENTIALS)
          assert.equal((await api.login(user.email, 'a-brand-new-password')).statusCode, 200)
        })

        it('refuses a password shorter than 8 characters, and keeps the old one', async (api) => {
          const { user, token } = await account(api, 'short')
          assert.deepEqual(reply(await api.patch('/users/me', { password: 'short' }, token)), TOO_SHORT)
          assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200)
          assert.deepEqual(reply(await api.login(user.email, 'short')), BAD_CREDENTIALS)
        })

        it('counts code points: seven emoji are too short, eight are enough', async (api) => {
          const { user, token } = await account(api, 'emoji')
          assert.deepEqual(reply(await api.patch('/users/me', { password: '😀'.repeat(7) }, token)), TOO_SHORT)
          assert.deepEqual(reply(await api.patch('/users/me', { password: '😀'.repeat(8) }, token)), [200, user])
          assert.equal((await api.login(user.email, '😀'.repeat(8))).statusCode, 200)
        })

        it('refuses a password containing the e-mail', async (api) => {
          const { user, token } = await account(api, 'contains')
          const res = await api.patch('/users/me', { password: `x${user.email}x` }, token)
          assert.deepEqual(reply(res), CONTAINS_EMAIL)
          assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200)
        })

        it("refuses another user's e-mail: 400 UPDATE_USER_EMAIL_ALREADY_EXISTS", async (api) => {
          const other = await account(api, 'taken')
          const { user, token } = await account(api, 'taker')
          assert.deepEqual(reply(await api.patch('/users/me', { email: other.user.email }, token)), EMAIL_EXISTS)
          assert.deepEqual(reply(await api.get('/users/me', token)), [200, user])
        })

        it("refuses another user's e-mail in another letter case", async (api) => {
          const other = await account(api, 'casetaken')
          const { token } = await account(api, 'casetaker')
          const upper = other.user.email.toUpperCase()
          assert.deepEqual(reply(await api.patch('/users/me', { email: upper }, token)), EMAIL_EXISTS)
        })

        it('refuses its own e-mail with the local part in another letter case', async (api) => {
          const { user, token } = await account(api, 'owncase')
          const [local, domain] = user.email.split('@')
          const res = await api.patch('/users/me', { email: `${local?.toUpperCase()}@${domain}` }, token)
          assert.deepEqual(reply(res), EMAIL_EXISTS)
          assert.deepEqual(reply(await api.get('/users/me', token)), [200, user])
        })

        it('keeps is_verified when the e-mail sent is identical', async (api) => {
          const { user, token } = await account(api, 'same')
          await adminPatch(api, user.id, { is_verified: true })
          const res = await api.patch('/users/me', { email: user.email }, token)
          assert.deepEqual(reply(res), [200, { ...user, is_verified: true }])
        })

        it('keeps is_verified when only the domain case differs (the domain is lower-cased)', async (api) => {
          const { user, token } = await account(api, 'domaincase')
          await adminPatch(api, user.id, { is_verified: true })
          const res = await api.patch('/users/me', { email: user.email.replace('example.com', 'EXAMPLE.COM') }, token)
          assert.deepEqual(reply(res), [200, { ...user, is_verified: true }])
        })

        it('un-verifies the user on a real e-mail change; the new address logs in, the old does not', async (api) => {
          const { user, token } = await account(api, 'mover')
          const verified = await adminPatch(api, user.id, { is_verified: true })
          assert.equal(verified.is_verified, true)
          const email = newEmail('moved')
          const res = await api.patch('/users/me', { email }, token)
          assert.deepEqual(reply(res), [200, { ...user, email, is_verified: false }])
          assert.deepEqual(reply(await api.get('/users/me', token)), [200, { ...user, email, is_verified: false }])
          assert.equal((await api.login(email, PASSWORD)).statusCode, 200)
          assert.deepEqual(reply(await api.login(user.email, PASSWORD)), BAD_CREDENTIALS)
        })

        it('normalises the new e-mail: spaces stripped, domain lower-cased, local part kept', async (api) => {
          const { user, token } = await account(api, 'norm')
          const local = `New.Local-${++counter}`
          const res = await api.patch('/users/me', { email: `  ${local}@EXAMPLE.Com ` }, token)
          assert.deepEqual(reply(res), [200, { ...user, email: `${local}@example.com` }])
        })

        it('answers 422 (not 500) for {"email": null}, and changes nothing', async (api) => {
          const { user, token } = await account(api, 'nullmail')
          const res = await api.patch('/users/me', { email: null }, token)
          assert.deepEqual(validationLocs(res), [['body', 'email']])
          assert.deepEqual(reply(await api.get('/users/me', token)), [200, user])
        })

        it('ignores {"password": null}: 200, the password unchanged', async (api) => {
          const { user, token } = await account(api, 'nullpass')
          assert.deepEqual(reply(await api.patch('/users/me', { password: null }, token)), [200, user])
          assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200)
        })

        for (const email of ['not-an-email', 'two@@example.com', 'x@a.test']) {
          it(`refuses the invalid e-mail ${JSON.stringify(email)}: 422 at body.email`, async (api) => {
            const { user, token } = await account(api, 'badmail')
            assert.deepEqual(validationLocs(await api.patch('/users/me', { email }, token)), [['body', 'email']])
            assert.deepEqual(reply(await api.get('/users/me', token)), [200, user])
          })
        }

        it('refuses a first_name that is not a string: 422 at body.first_name', async (api) => {
          const { token } = await account(api, 'badname')
          const locs = validationLocs(await api.patch('/users/me', { first_name: 42 }, token))
          assert.deepEqual(locs, [['body', 'first_name']])
        })

        it('ignores unknown fields, including id and hashed_password', async (api) => {
          const { user, token } = await account(api, 'unknown')
          const res = await api.patch(
            '/users/me',
            { first_name: 'Known', id: UNKNOWN_ID, hashed_password: 'x', favourite_colour: 'blue' },
            token,
          )
          assert.deepEqual(reply(res), [200, { ...user, first_name: 'Known' }])
          assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200)
        })

        it('answers 401 without a token, even with an invalid body', async (api) => {
          assert.deepEqual(reply(await api.patch('/users/me', { first_name: 'X' })), UNAUTHORIZED)
          assert.deepEqual(reply(await api.patch('/users/me', { email: 'not-an-email' })), UNAUTHORIZED)
        })
      })

      describe('/users/{id}: order of checks', () => {
        const methods = ['GET', 'PATCH', 'DELETE'] as const
        /** One request per method; PATCH carries `body` (a valid one unless told). */
        const call = (api: Api, method: (typeof methods)[number], url: string, token?: string, body?: unknown) => {
          if (method === 'GET') return api.get(url, token)
          if (method === 'DELETE') return api.delete(url, token)
          return api.patch(url, body ?? { first_name: 'Changed' }, token)
        }

        for (const method of methods) {
          it(`${method}: 401 without a token, for a real id, an unknown id and a malformed id`, async (api) => {
            const { user } = await account(api, 'anon-target')
            for (const id of [user.id, UNKNOWN_ID, 'abc']) {
              assert.deepEqual(reply(await call(api, method, `/users/${id}`)), UNAUTHORIZED, `${method} ${id}`)
            }
            if (method === 'PATCH') {
              const res = await api.patch(`/users/${user.id}`, { email: 'not-an-email' })
              assert.deepEqual(reply(res), UNAUTHORIZED, 'auth before body validation')
            }
            // Nothing happened to the target.
            const check = await api.get(`/users/${user.id}`, await adminToken(api))
            assert.deepEqual(reply(check), [200, user])
          })

          it(`${method}: 401 for an inactive superuser, whatever the id`, async (api) => {
            const boss = await superuser(api, 'fallen')
            const { user: target } = await account(api, 'fallen-target')
            assert.equal((await api.get(`/users/${target.id}`, boss.token)).statusCode, 200)
            await adminPatch(api, boss.user.id, { is_active: false })
            for (const id of [target.id, boss.user.id, UNKNOWN_ID, 'abc']) {
              assert.deepEqual(
                reply(await call(api, method, `/users/${id}`, boss.token)),
                UNAUTHORIZED,
                `${method} ${id}`,
              )
            }
            if (method === 'PATCH') {
              const res = await api.patch(`/users/${target.id}`, { email: 'not-an-email' }, boss.token)
              assert.deepEqual(reply(res), UNAUTHORIZED)
            }
          })

          it(`${method}: 403 for a normal user, even for its own id, unknown and malformed ids`, async (api) => {
            const { user, token } = await account(api, 'normal')
            const { user: other } = await account(api, 'normal-target')
            for (const id of [user.id, other.id, UNKNOWN_ID, 'abc', ...Object.values(spellings(user.id)).slice(0, 1)]) {
              assert.deepEqual(reply(await call(api, method, `/users/${id}`, token)), FORBIDDEN, `${method} ${id}`)
            }
            if (method === 'PATCH') {
              for (const body of [{ email: 'not-an-email' }, { email: null }, { is_superuser: 'yes' }]) {
                const res = await api.patch(`/users/${user.id}`, body, token)
                assert.deepEqual(reply(res), FORBIDDEN, JSON.stringify(body))
              }
              const promote = await api.patch(`/users/${user.id}`, { is_superuser: true }, token)
              assert.deepEqual(reply(promote), FORBIDDEN)
            }
            // Nothing changed, nothing deleted.
            const admin = await adminToken(api)
            assert.deepEqual(reply(await api.get(`/users/${user.id}`, admin)), [200, user])
            assert.deepEqual(reply(await api.get(`/users/${other.id}`, admin)), [200, other])
          })

          it(`${method}: 404 {"detail":"Not Found"} for a superuser and an unknown or malformed id`, async (api) => {
            const admin = await adminToken(api)
            for (const id of [UNKNOWN_ID, 'abc', `${UNKNOWN_ID}0`, UNKNOWN_ID.slice(1), 'me']) {
              if (method !== 'DELETE' && id === 'me') continue // GET and PATCH /users/me are the /me routes
              assert.deepEqual(reply(await call(api, method, `/users/${id}`, admin)), NOT_FOUND, `${method} ${id}`)
            }
          })
        }

        it('PATCH as superuser: the id is checked before the body (invalid body on unknown id → 404)', async (api) => {
          const admin = await adminToken(api)
          for (const body of [{ email: 'not-an-email' }, { email: null }, { is_active: 'nope' }]) {
            const res = await api.patch(`/users/${UNKNOWN_ID}`, body, admin)
            assert.deepEqual(reply(res), NOT_FOUND, JSON.stringify(body))
            assert.deepEqual(reply(await api.patch('/users/abc', body, admin)), NOT_FOUND, JSON.stringify(body))
          }
        })

        it('PATCH as superuser: an invalid body on a real id → 422 at body.email, nothing changed', async (api) => {
          const { user } = await account(api, 'invalid-body')
          const admin = await adminToken(api)
          assert.deepEqual(validationLocs(await api.patch(`/users/${user.id}`, { email: 'nope' }, admin)), [
            ['body', 'email'],
          ])
          assert.deepEqual(validationLocs(await api.patch(`/users/${user.id}`, { email: null }, admin)), [
            ['body', 'email'],
          ])
          assert.deepEqual(reply(await api.get(`/users/${user.id}`, admin)), [200, user])
        })

        it('malformed JSON is a 422 before authentication (401)', async (api) => {
          const { user } = await account(api, 'brokenjson')
          for (const url of ['/users/me', `/users/${user.id}`, `/users/${UNKNOWN_ID}`]) {
            const res = await api.send(rawJson('PATCH', url, '{"first_name": '))
            assert.equal(res.statusCode, 422, `${url}: ${res.body}`)
            const { detail } = res.json()
            assert.equal(detail.length, 1, res.body)
            assert.equal(detail[0].type, 'json_invalid', res.body)
            assert.equal(detail[0].loc[0], 'body', res.body)
            assert.equal(typeof detail[0].msg, 'string')
          }
        })

        it('demotion from superuser acts at once; so does promotion', async (api) => {
          const { user, token } = await account(api, 'promoted')
          const { user: target } = await account(api, 'promoted-target')
          assert.deepEqual(reply(await api.get(`/users/${target.id}`, token)), FORBIDDEN)
          await adminPatch(api, user.id, { is_superuser: true })
          assert.deepEqual(reply(await api.get(`/users/${target.id}`, token)), [200, target])
          await adminPatch(api, user.id, { is_superuser: false })
          assert.deepEqual(reply(await api.get(`/users/${target.id}`, token)), FORBIDDEN)
          assert.deepEqual(reply(await api.patch(`/users/${target.id}`, { first_name: 'X' }, token)), FORBIDDEN)
          assert.deepEqual(reply(await api.delete(`/users/${target.id}`, token)), FORBIDDEN)
          // The demoted user is still an active user.
          assert.equal((await api.get('/users/me', token)).statusCode, 200)
        })
      })

      describe(`/users/{id}: ids are parsed as fastapi-users' parse_id (${model.name})`, () => {
        it('GET: 200 with the canonical user for every spelling of its id', async (api) => {
          const { user } = await account(api, 'spelled')
          const admin = await adminToken(api)
          assert.deepEqual(reply(await api.get(`/users/${user.id}`, admin)), [200, user])
          for (const [name, id] of Object.entries(spellings(user.id))) {
            assert.deepEqual(reply(await api.get(`/users/${id}`, admin)), [200, user], name)
          }
        })

        it('PATCH: every spelling updates the same user', async (api) => {
          const { user } = await account(api, 'spelled-patch')
          const admin = await adminToken(api)
          for (const [name, id] of Object.entries(spellings(user.id))) {
            const res = await api.patch(`/users/${id}`, { first_name: name }, admin)
            assert.deepEqual(reply(res), [200, { ...user, first_name: name }], name)
          }
        })

        for (const name of Object.keys(spellings(UNKNOWN_ID))) {
          it(`DELETE: the ${name} spelling deletes the user`, async (api) => {
            const { user } = await account(api, 'spelled-delete')
            const admin = await adminToken(api)
            const id = spellings(user.id)[name]
            assert.deepEqual(reply(await api.delete(`/users/${id}`, admin)), [204, ''])
            assert.deepEqual(reply(await api.get(`/users/${user.id}`, admin)), NOT_FOUND)
          })
        }
      })

      describe('PATCH /users/{id} as superuser', () => {
        it('sets is_active, is_superuser and is_verified', async (api) => {
          const { user } = await account(api, 'flags')
          const admin = await adminToken(api)
          const res = await api.patch(
            `/users/${user.id}`,
            { is_active: false, is_superuser: true, is_verified: true },
            admin,
          )
          const changed = { ...user, is_active: false, is_superuser: true, is_verified: true }
          assert.deepEqual(reply(res), [200, changed])
          assert.deepEqual(reply(await api.get(`/users/${user.id}`, admin)), [200, changed])
          const back = await api.patch(
            `/users/${user.id}`,
            { is_active: true, is_superuser: false, is_verified: false },
            admin,
          )
          assert.deepEqual(reply(back), [200, user])
        })

        it('changes first_name and leaves the rest alone', async (api) => {
          const { user } = await account(api, 'adminrename')
          assert.deepEqual(await adminPatch(api, user.id, { first_name: 'Renamed' }), {
            ...user,
            first_name: 'Renamed',
          })
        })

        it('an e-mail change alone un-verifies the user', async (api) => {
          const { user } = await account(api, 'admin-move')
          await adminPatch(api, user.id, { is_verified: true })
          const email = newEmail('admin-moved')
          assert.deepEqual(await adminPatch(api, user.id, { email }), { ...user, email, is_verified: false })
        })

        it('an e-mail change together with is_verified: true keeps the user verified', async (api) => {
          const { user } = await account(api, 'admin-move-verified')
          await adminPatch(api, user.id, { is_verified: true })
          const email = newEmail('admin-moved-verified')
          const updated = await adminPatch(api, user.id, { email, is_verified: true })
          assert.deepEqual(updated, { ...user, email, is_verified: true })
          const admin = await adminToken(api)
          assert.deepEqual(reply(await api.get(`/users/${user.id}`, admin)), [
            200,
            { ...user, email, is_verified: true },
          ])
        })

        it('the identical e-mail keeps is_verified', async (api) => {
          const { user } = await account(api, 'admin-same')
          await adminPatch(api, user.id, { is_verified: true })
          assert.deepEqual(await adminPatch(api, user.id, { email: user.email }), { ...user, is_verified: true })
        })

        it("refuses another user's e-mail (any case): 400 UPDATE_USER_EMAIL_ALREADY_EXISTS", async (api) => {
          const { user } = await account(api, 'admin-dup')
          const other = await account(api, 'admin-dup-other')
          const admin = await adminToken(api)
          for (const email of [other.user.email, other.user.email.toUpperCase()]) {
            assert.deepEqual(reply(await api.patch(`/users/${user.id}`, { email }, admin)), EMAIL_EXISTS, email)
          }
        })

        it('changes the password: re-hashed, the user logs in with the new one only', async (api) => {
          const { user } = await account(api, 'admin-pass')
          assert.deepEqual(await adminPatch(api, user.id, { password: 'set-by-the-admin' }), user)
          assert.equal((await api.login(user.email, 'set-by-the-admin')).statusCode, 200)
          assert.deepEqual(reply(await api.login(user.email, PASSWORD)), BAD_CREDENTIALS)
        })

        it("applies the password rules to the target's e-mail: 400 UPDATE_USER_INVALID_PASSWORD", async (api) => {
          const { user } = await account(api, 'admin-badpass')
          const admin = await adminToken(api)
          assert.deepEqual(reply(await api.patch(`/users/${user.id}`, { password: '1234567' }, admin)), TOO_SHORT)
          const contains = await api.patch(`/users/${user.id}`, { password: `pre-${user.email}` }, admin)
          assert.deepEqual(reply(contains), CONTAINS_EMAIL)
          assert.equal((await api.login(user.email, PASSWORD)).statusCode, 200)
        })
      })

      describe('DELETE /users/{id}', () => {
        it('answers 204 with an empty body; then GET is 404, the token 401, the login refused', async (api) => {
          const { user, token } = await account(api, 'doomed')
          const admin = await adminToken(api)
          const res = await api.delete(`/users/${user.id}`, admin)
          assert.equal(res.statusCode, 204)
          assert.equal(res.body, '')
          assert.deepEqual(reply(await api.get(`/users/${user.id}`, admin)), NOT_FOUND)
          assert.deepEqual(reply(await api.get('/users/me', token)), UNAUTHORIZED)
          assert.deepEqual(reply(await api.login(user.email, PASSWORD)), BAD_CREDENTIALS)
          assert.deepEqual(reply(await api.delete(`/users/${user.id}`, admin)), NOT_FOUND)
        })

        it('frees the e-mail: it can be registered again', async (api) => {
          const { user, token } = await account(api, 'reborn')
          assert.equal((await api.delete(`/users/${user.id}`, await adminToken(api))).statusCode, 204)
          const res = await api.register(user.email, PASSWORD, 'Again')
          assert.equal(res.statusCode, 201, res.body)
          // SQLite may give a deleted integer id again (a rowid, as SQLAlchemy creates the key there): the
          // old user's token still names nobody, its password fingerprint is not the new user's.
          if (!(kind === 'sqlite' && model.name === 'integer')) assert.notEqual(res.json().id, user.id)
          assert.deepEqual(reply(await api.get('/users/me', token)), UNAUTHORIZED)
        })

        it('DELETE /users/me: 404 for a superuser, 403 for a normal user', async (api) => {
          assert.deepEqual(reply(await api.delete('/users/me', await adminToken(api))), NOT_FOUND)
          const { user, token } = await account(api, 'delme')
          assert.deepEqual(reply(await api.delete('/users/me', token)), FORBIDDEN)
          assert.deepEqual(reply(await api.delete('/users/me')), UNAUTHORIZED)
          assert.deepEqual(reply(await api.get('/users/me', token)), [200, user])
          // The first superuser is untouched.
          assert.equal((await api.get('/users/me', await adminToken(api))).statusCode, 200)
        })
      })

      describe("Starlette's answers around the routes", () => {
        /** Where a redirect leads, resolved against the request (Starlette writes an absolute URL). */
        const target = (res: Response, from: string) => {
          const url = new URL(String(res.headers.location), `http://localhost:80${from}`)
          return `${url.pathname}${url.search}`
        }

        it('GET /users/me/ → 307 to /users/me (query kept), empty body', async (api) => {
          const res = await api.get('/users/me/')
          assert.equal(res.statusCode, 307)
          assert.equal(target(res, '/users/me/'), '/users/me')
          assert.equal(res.body, '')
          const withQuery = await api.get('/users/me/?a=1')
          assert.equal(withQuery.statusCode, 307)
          assert.equal(target(withQuery, '/users/me/?a=1'), '/users/me?a=1')
        })

        it('POST /users/me → 405 {"detail":"Method Not Allowed"}', async (api) => {
          const { token } = await account(api, 'post-me')
          assert.deepEqual(reply(await api.post('/users/me', {})), [405, { detail: 'Method Not Allowed' }])
          assert.deepEqual(reply(await api.post('/users/me', {}, token)), [405, { detail: 'Method Not Allowed' }])
          assert.deepEqual(reply(await api.post(`/users/${UNKNOWN_ID}`, {})), [405, { detail: 'Method Not Allowed' }])
        })

        it('an unknown path → 404 {"detail":"Not Found"}', async (api) => {
          assert.deepEqual(reply(await api.get('/users/me/extra')), NOT_FOUND)
          assert.deepEqual(reply(await api.get('/nothing-here')), NOT_FOUND)
          assert.deepEqual(reply(await api.get('/users/me/extra', await adminToken(api))), NOT_FOUND)
        })

        // Starlette's `{id}` matches one or more characters: /users/ is no route, and /users has no
        // route to redirect to. Both are plain 404s, with or without a token.
        // GET /users is the superusers' list (past fastapi-users: test/routes/user-admin.test.ts)
        it('GET /users/ and DELETE /users/ (no id) → 404, neither a redirect nor a 401', async (api) => {
          const admin = await adminToken(api)
          for (const token of [undefined, admin]) {
            assert.deepEqual(reply(await api.get('/users/', token)), NOT_FOUND, `GET /users/, token: ${!!token}`)
            assert.deepEqual(reply(await api.delete('/users/', token)), NOT_FOUND, `DELETE /users/, token: ${!!token}`)
          }
        })
      })
    })
  }
}
