/**
 * Log in with a username (issue #17, item 2): the reference service with LOGIN_WITH_USERNAME=true
 * on every database and id model: an optional `username` at registration (3–32 letters A–Z, digits,
 * `.`, `_`, `-`), unique by its identifier key (case, width), changed by its user and by
 * superusers; the login form's `username` names the e-mail or the username. Off (the default),
 * nothing of it shows. The library's `loginIdentifiers` on a field of any text: Unicode folding.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { Type } from 'typebox'
import { defineUserFields, IdentifierAlreadyExists, UserAlreadyExists, UserManager } from '../../src/index.js'
import {
  createKyselyUserStore,
  type Database,
  inspectDatabase,
  migrateToLatest,
  openDatabase,
} from '../../src/kysely.js'
import { client, type Response, startTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { idModels } from '../support/id-models.js'

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const SUPERUSER_ENV = { FIRST_SUPERUSER_EMAIL: ADMIN.email, FIRST_SUPERUSER_PASSWORD: ADMIN.password }
const PASSWORD = 'correct-horse-battery'

const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]
const REGISTER_TAKEN = [400, { detail: 'REGISTER_USERNAME_ALREADY_EXISTS' }]
const UPDATE_TAKEN = [400, { detail: 'UPDATE_USER_USERNAME_ALREADY_EXISTS' }]
const BAD_CREDENTIALS = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]

type Api = ReturnType<typeof client>

/** A username no other test of this run has taken (letters and digits, 14 characters). */
let counter = 0
const newName = (tag: string) => `${tag}${process.pid % 1000}x${(counter++).toString().padStart(3, '0')}`.slice(0, 32)

function service(kind: DatabaseKind, env: Record<string, string>) {
  let started: TestApp | null = null
  let api: Api
  before(async () => {
    started = await startTestApp(kind, { ...SUPERUSER_ENV, ...env })
    if (started) api = client(started.app)
  })
  after(() => started?.close())
  const it = (name: string, body: (api: Api, app: TestApp) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!started) return t.skip(`${kind} is not reachable locally`)
      await body(api, started)
    })
  return { it }
}

const register = (api: Api, body: Record<string, unknown>) =>
  api.post('/auth/register', { email: newEmail('name'), password: PASSWORD, first_name: 'Ann', ...body })

/** Registers a user with this username (201) and returns it with a token taken by e-mail. */
async function withName(api: Api, username: string | undefined) {
  const email = newEmail('name')
  const res = await api.post('/auth/register', {
    email,
    password: PASSWORD,
    first_name: 'Ann',
    ...(username !== undefined && { username }),
  })
  assert.equal(res.statusCode, 201, res.body)
  return { user: res.json(), email, token: await api.token(email, PASSWORD) }
}

/** The id of the user a login with this username and the password signs in, or the failure. */
async function whoLogsIn(api: Api, username: string, password = PASSWORD): Promise<unknown> {
  const res = await api.login(username, password)
  if (res.statusCode !== 200) return reply(res)
  return (await api.get('/users/me', res.json().access_token)).json().id
}

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids: LOGIN_WITH_USERNAME=true`, () => {
      const { it } = service(kind, { ...model.env, LOGIN_WITH_USERNAME: 'true' })

      describe('registration', () => {
        it('takes an optional username, answered as given; without one it is null', async (api) => {
          const name = newName('Arthur.P_')
          const email = newEmail('name')
          const res = await api.post('/auth/register', { email, password: PASSWORD, first_name: 'Ann', username: name })
          const created = res.json()
          assert.ok(model.isId(created.id))
          assert.deepEqual(reply(res), [
            201,
            {
              id: created.id,
              email,
              is_active: true,
              is_superuser: false,
              is_verified: false,
              first_name: 'Ann',
              username: name,
            },
          ])
          const without = await withName(api, undefined)
          assert.equal(without.user.username, null)
          const withNull = await register(api, { username: null })
          assert.deepEqual([withNull.statusCode, withNull.json().username], [201, null])
          const { token } = without
          assert.deepEqual((await api.get('/users/me', token)).json().username, null)
        })

        it('refuses a username too short, too long or with other characters (422)', async (api) => {
          const refused = async (username: unknown, type: string, msg: string) => {
            const res = await register(api, { username })
            assert.deepEqual(reply(res), [422, { detail: [{ loc: ['body', 'username'], msg, type, input: username }] }])
          }
          await refused('ab', 'string_too_short', 'String should have at least 3 characters')
          await refused('a'.repeat(33), 'string_too_long', 'String should have at most 32 characters')
          const pattern = "String should match pattern '^[A-Za-z0-9._-]+$'"
          for (const name of ['art hur', 'arthur!', 'arthur@camelot', 'josé', 'ａｒｔｈｕｒ', 'Аrthur', 'art\u0000hur'])
            await refused(name, 'string_pattern_mismatch', pattern)
          const notText = await register(api, { username: 42 })
          assert.deepEqual(notText.json().detail[0].loc, ['body', 'username'])
          // 3 and 32 characters are fine
          for (const name of [newName('x').slice(0, 3), `${newName('y')}${'z'.repeat(32)}`.slice(0, 32)]) {
            assert.equal((await register(api, { username: name })).statusCode, 201, name)
          }
        })

        it('a username taken in any case is refused: REGISTER_USERNAME_ALREADY_EXISTS', async (api) => {
          const name = newName('Merlin')
          await withName(api, name)
          for (const variant of [name, name.toLowerCase(), name.toUpperCase()]) {
            assert.deepEqual(reply(await register(api, { username: variant })), REGISTER_TAKEN, variant)
          }
          // a taken e-mail answers as in fastapi-users, before the username is looked at
          const owner = await withName(api, newName('Nimue'))
          const both = await api.post('/auth/register', {
            email: owner.email.toUpperCase(),
            password: PASSWORD,
            first_name: 'Ann',
            username: name,
          })
          assert.deepEqual(reply(both), [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
        })

        it('concurrent registrations of one username (in several cases): exactly one 201', async (api) => {
          const name = newName('Lancelot')
          const variants = [name, name.toLowerCase(), name.toUpperCase()]
          const answers = await Promise.all(
            Array.from({ length: 8 }, (_, i) => register(api, { username: variants[i % variants.length] })),
          )
          const statuses = answers.map((res) => res.statusCode).sort()
          assert.deepEqual(statuses, [201, 400, 400, 400, 400, 400, 400, 400], answers.map((r) => r.body).join('\n'))
          for (const res of answers.filter((r) => r.statusCode === 400)) assert.deepEqual(reply(res), REGISTER_TAKEN)
          const winner = answers.find((r) => r.statusCode === 201)?.json()
          assert.equal(await whoLogsIn(api, name.toLowerCase()), winner.id)
        })
      })

      describe('login', () => {
        it('the form’s username names the e-mail or the username, in any case or width', async (api) => {
          const name = newName('Gawain')
          const { user, email } = await withName(api, name)
          const fullWidth = [...name].map((c) => String.fromCodePoint((c.codePointAt(0) as number) + 0xfee0)).join('')
          for (const username of [
            email,
            email.toUpperCase(),
            name,
            name.toLowerCase(),
            name.toUpperCase(),
            fullWidth,
          ]) {
            assert.equal(await whoLogsIn(api, username), user.id, username)
          }
          assert.deepEqual(await whoLogsIn(api, name, 'wrong-password-123'), BAD_CREDENTIALS)
          assert.deepEqual(await whoLogsIn(api, newName('nobody')), BAD_CREDENTIALS)
          assert.deepEqual(await whoLogsIn(api, `${name}x`), BAD_CREDENTIALS)
        })

        it('an inactive user cannot log in by username either', async (api) => {
          const name = newName('Mordred')
          const { user } = await withName(api, name)
          const admin = await api.token(ADMIN.email, ADMIN.password)
          assert.equal((await api.patch(`/users/${user.id}`, { is_active: false }, admin)).statusCode, 200)
          assert.deepEqual(await whoLogsIn(api, name), BAD_CREDENTIALS)
        })
      })

      describe('PATCH /users/me and /users/{id}', () => {
        it('a user changes their username: the new one logs in, the old one is free', async (api) => {
          const old = newName('Percival')
          const { user, token } = await withName(api, old)
          const renamed = newName('Parzival')
          const res = await api.patch('/users/me', { username: renamed }, token)
          assert.deepEqual(reply(res), [200, { ...user, username: renamed }])
          assert.equal(await whoLogsIn(api, renamed), user.id)
          assert.deepEqual(await whoLogsIn(api, old), BAD_CREDENTIALS)
          const next = await withName(api, old.toUpperCase())
          assert.equal(await whoLogsIn(api, old), next.user.id)
        })

        it('the own username in another case is no collision; another user’s is', async (api) => {
          const mine = newName('Tristan')
          const theirs = newName('Isolde')
          const { user, token } = await withName(api, mine)
          await withName(api, theirs)
          assert.deepEqual(reply(await api.patch('/users/me', { username: mine.toUpperCase() }, token)), [
            200,
            { ...user, username: mine.toUpperCase() },
          ])
          assert.deepEqual(reply(await api.patch('/users/me', { username: theirs.toLowerCase() }, token)), UPDATE_TAKEN)
          assert.deepEqual(
            reply(await api.patch('/users/me', { username: theirs, first_name: 'Changed' }, token)),
            UPDATE_TAKEN,
          )
          // nothing of a refused update is written
          assert.deepEqual((await api.get('/users/me', token)).json(), { ...user, username: mine.toUpperCase() })
          assert.deepEqual(reply(await api.patch('/users/me', { username: 'no' }, token)).slice(0, 1), [422])
        })

        it('a username set to null frees it and no longer logs in', async (api) => {
          const name = newName('Galahad')
          const { user, token } = await withName(api, name)
          assert.deepEqual(reply(await api.patch('/users/me', { username: null }, token)), [
            200,
            { ...user, username: null },
          ])
          assert.deepEqual(await whoLogsIn(api, name), BAD_CREDENTIALS)
          assert.equal((await register(api, { username: name })).statusCode, 201)
        })

        it('superusers: PATCH /users/{id} and POST /users refuse a taken username', async (api) => {
          const admin = await api.token(ADMIN.email, ADMIN.password)
          const taken = newName('Bedivere')
          await withName(api, taken)
          const { user } = await withName(api, newName('Kay'))
          assert.deepEqual(
            reply(await api.patch(`/users/${user.id}`, { username: taken.toUpperCase() }, admin)),
            UPDATE_TAKEN,
          )
          const created = await api.post(
            '/users',
            { email: newEmail('name'), password: PASSWORD, first_name: 'Ann', username: taken.toLowerCase() },
            admin,
          )
          assert.deepEqual(reply(created), REGISTER_TAKEN)
          const fresh = newName('Ector')
          const renamed = await api.patch(`/users/${user.id}`, { username: fresh }, admin)
          assert.deepEqual(reply(renamed), [200, { ...user, username: fresh }])
          assert.equal(await whoLogsIn(api, fresh), user.id)
        })

        it('a deleted user’s username is free again', async (api) => {
          const admin = await api.token(ADMIN.email, ADMIN.password)
          const name = newName('Uther')
          const { user } = await withName(api, name)
          assert.equal((await api.delete(`/users/${user.id}`, admin)).statusCode, 204)
          assert.deepEqual(await whoLogsIn(api, name), BAD_CREDENTIALS)
          assert.equal((await register(api, { username: name })).statusCode, 201)
        })
      })

      it('the OpenAPI document has the field and the codes', async (api) => {
        const doc = (await api.get('/openapi.json')).json()
        assert.deepEqual(doc.components.schemas.UserRead.properties.username, {
          minLength: 3,
          maxLength: 32,
          pattern: '^[A-Za-z0-9._-]+$',
          type: ['string', 'null'],
        })
        const codes = (path: string, method: string) =>
          Object.keys(doc.paths[path][method].responses['400'].content['application/json'].examples)
        assert.ok(codes('/auth/register', 'post').includes('REGISTER_USERNAME_ALREADY_EXISTS'))
        assert.ok(codes('/users/me', 'patch').includes('UPDATE_USER_USERNAME_ALREADY_EXISTS'))
        assert.ok(codes('/users/{id}', 'patch').includes('UPDATE_USER_USERNAME_ALREADY_EXISTS'))
        assert.ok(codes('/users', 'post').includes('REGISTER_USERNAME_ALREADY_EXISTS'))
      })
    })
  }

  describe(`${kind}: the login lock-out counts an account's e-mail and username together`, () => {
    const { it } = service(kind, {
      LOGIN_WITH_USERNAME: 'true',
      RATE_LIMIT: 'true',
      RATE_LIMIT_IP_REQUESTS: '1000',
      RATE_LIMIT_ACCOUNT_REQUESTS: '1000',
      LOGIN_IP_FAILURES: '1000',
      LOGIN_FREE_ATTEMPTS: '2',
      LOGIN_LOCKOUT_MAX: '60',
    })
    const locked = (res: Response) =>
      assert.deepEqual(
        [res.statusCode, res.json(), res.headers['retry-after']],
        [429, { detail: 'TOO_MANY_REQUESTS' }, '1'],
      )

    it('two failures, one by e-mail and one by username, lock every spelling of the account', async (api) => {
      const name = newName('Agravain')
      const { email } = await withName(api, name)
      assert.deepEqual(reply(await api.login(name, 'wrong-password-123')), BAD_CREDENTIALS)
      assert.deepEqual(reply(await api.login(email, 'wrong-password-123')), BAD_CREDENTIALS)
      const fullWidth = [...name].map((c) => String.fromCodePoint((c.codePointAt(0) as number) + 0xfee0)).join('')
      for (const username of [name.toUpperCase(), email, fullWidth]) locked(await api.login(username, PASSWORD))
      const other = newName('Gareth')
      await withName(api, other)
      assert.equal((await api.login(other, PASSWORD)).statusCode, 200)
    })
  })

  describe(`${kind}: LOGIN_WITH_USERNAME off (the default)`, () => {
    const { it } = service(kind, {})

    it('a username in the body is ignored, and a login by a name finds no one', async (api) => {
      const name = newName('Elaine')
      const email = newEmail('name')
      const res = await api.post('/auth/register', { email, password: PASSWORD, first_name: 'Ann', username: name })
      assert.equal(res.statusCode, 201, res.body)
      assert.deepEqual(Object.keys(res.json()).sort(), [
        'email',
        'first_name',
        'id',
        'is_active',
        'is_superuser',
        'is_verified',
      ])
      assert.deepEqual(await whoLogsIn(api, name), BAD_CREDENTIALS)
      assert.equal(typeof (await whoLogsIn(api, email)), 'string')
      const token = await api.token(email, PASSWORD)
      assert.deepEqual(
        Object.keys((await api.patch('/users/me', { username: name }, token)).json()).includes('username'),
        false,
      )
    })

    it('the OpenAPI document names no username field or code', async (api) => {
      const text = (await api.get('/openapi.json')).body
      assert.doesNotMatch(text, /USERNAME_ALREADY_EXISTS/)
      const doc = JSON.parse(text)
      for (const schema of ['UserRead', 'UserCreate', 'UserUpdate'])
        assert.equal(doc.components.schemas[schema].properties.username, undefined, schema)
    })

    it('the user table has no username column', async (_api, service) => {
      const database = openDatabase(service.database.url)
      try {
        const tables = await database.db.introspection.getTables()
        const columns = tables.find((t) => t.name === 'user')?.columns.map((c) => c.name)
        assert.ok(columns?.includes('first_name'))
        assert.equal(columns?.includes('username'), false)
      } finally {
        await database.close()
      }
    })
  })

  describe(`${kind}: the library’s loginIdentifiers on a field of any text`, () => {
    let testDb: TestDatabase | null = null
    let database: Database
    const fields = defineUserFields({
      nickname: { schema: Type.String(), nullable: true, write: { register: true, self: true } },
    })
    let manager: UserManager<{
      id: string
      email: string
      hashed_password: string
      is_active: boolean
      is_superuser: boolean
      is_verified: boolean
      nickname: string | null
    }>
    before(async () => {
      testDb = await createTestDatabase(kind)
      if (!testDb) return
      database = openDatabase(testDb.url)
      const loginIdentifiers = ['email', 'nickname']
      await migrateToLatest(database, { fields, loginIdentifiers })
      manager = new UserManager({
        store: createKyselyUserStore(database, fields, { loginIdentifiers }),
        secret: 'library-secret-that-is-long-enough',
      })
    })
    after(async () => {
      await database?.close()
      await testDb?.drop()
    })
    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!testDb) return t.skip(`${kind} is not reachable locally`)
        await body()
      })
    const create = (nickname: string | null) => manager.create({ email: newEmail('lib'), password: PASSWORD, nickname })
    const refusedAs = async (nickname: string) =>
      assert.rejects(create(nickname), (error: unknown) => {
        assert.ok(error instanceof IdentifierAlreadyExists)
        assert.deepEqual([error.code, error.field], ['REGISTER_NICKNAME_ALREADY_EXISTS', 'nickname'])
        return true
      })

    it('the manager takes the store’s identifiers', async () => {
      assert.deepEqual(manager.loginIdentifiers, ['email', 'nickname'])
    })

    it('values equal once folded (case, width, compatibility, composition) are one identity', async () => {
      const tag = newName('')
      await create(`Ärthur${tag}`)
      for (const same of [
        `ärthur${tag}`, // case
        `ÄRTHUR${tag}`,
        `Ａ\u0308ｒｔｈｕｒ${tag}`, // full width, and the umlaut decomposed
        `A\u0308rthur${tag}`, // NFD
        ` Ärthur${tag} `, // surrounding spaces
      ])
        await refusedAs(same)
      const found = await manager.authenticate({
        username: `ＡＲＴＨＵＲ${tag}`.replace('Ａ', 'Ä'),
        password: PASSWORD,
      })
      assert.equal(found?.nickname, `Ärthur${tag}`)
    })

    it('values that differ stay apart: accents, ß and ss, other scripts', async () => {
      const tag = newName('')
      await create(`strasse${tag}`)
      for (const other of [`straße${tag}`, `strässe${tag}`, `ѕtrasse${tag}`]) {
        const user = await create(other)
        assert.equal(user.nickname, other)
        assert.equal((await manager.authenticate({ username: other, password: PASSWORD }))?.id, user.id)
      }
    })

    it('the e-mail is still checked first, and many users may have no nickname', async () => {
      const first = await create(null)
      await create(null)
      await assert.rejects(
        manager.create({ email: first.email.toUpperCase(), password: PASSWORD, nickname: newName('n') }),
        UserAlreadyExists,
      )
    })

    it('an update moves the identity: the old value is free, the new one taken', async () => {
      const old = newName('Old')
      const user = await create(old)
      const other = await create(newName('Other'))
      await assert.rejects(manager.update(user, { nickname: other.nickname?.toUpperCase() }), (error: unknown) => {
        assert.ok(error instanceof IdentifierAlreadyExists)
        return error.code === 'UPDATE_USER_NICKNAME_ALREADY_EXISTS'
      })
      const renamed = await manager.update(user, { nickname: `${old}2` })
      assert.equal(renamed.nickname, `${old}2`)
      const next = await create(old.toLowerCase())
      assert.equal((await manager.authenticate({ username: old, password: PASSWORD }))?.id, next.id)
      assert.equal((await manager.authenticate({ username: `${old}2`, password: PASSWORD }))?.id, user.id)
    })

    it('doctor: 0011 applied, nothing pending; a login_identity table 0011 did not make is a blocker', async () => {
      const report = await inspectDatabase(database, { fields })
      assert.deepEqual(report.migrations.pending, [])
      assert.ok(report.migrations.applied.includes('0011-login-identity'))
      assert.equal(
        report.findings.some((f) => f.subject === 'table login_identity'),
        false,
      )
      const other = await createTestDatabase(kind)
      assert.ok(other)
      const fresh = openDatabase(other.url)
      try {
        await fresh.db.schema.createTable('login_identity').addColumn('field', 'varchar(64)').execute()
        const blocked = await inspectDatabase(fresh, { fields })
        const finding = blocked.findings.find((f) => f.subject === 'table login_identity')
        assert.equal(finding?.severity, 'blocker')
        assert.equal(blocked.ready, false)
        assert.ok(blocked.migrations.pending.includes('0011-login-identity'))
      } finally {
        await fresh.close()
        await other.drop()
      }
    })

    it('a store without the identifier refuses a manager naming it (TypeError)', async () => {
      assert.throws(
        () =>
          new UserManager({
            store: createKyselyUserStore(database, fields),
            secret: 'library-secret-that-is-long-enough',
            loginIdentifiers: ['email', 'nickname'],
          }),
        TypeError,
      )
      assert.throws(() => createKyselyUserStore(database, fields, { loginIdentifiers: ['email', 'handle'] }), TypeError)
    })
  })
}
