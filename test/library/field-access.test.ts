import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { runCli } from '../../src/cli/index.js'
import {
  authenticationBackend,
  BearerTransport,
  defineUserFields,
  FastifyUsers,
  fastapiCompat,
  InvalidPasswordError,
  InvalidUserError,
  JWTStrategy,
  registerOpenApi,
  type UserCreateOf,
  UserManager,
  type UserOf,
  type UserReadOf,
  type UserUpdateAdminOf,
  type UserUpdateOf,
  type UserValidator,
} from '../../src/index.js'
import { createKyselyUserStore, migrateToLatest, openDatabase } from '../../src/kysely.js'
import { client, json, startTestApp } from '../support/app.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'

const SECRET = 'field-access-test-secret-0123456789abcdef'

/** One field of each kind, and two dates a cross-field rule ties together. */
const fields = defineUserFields({
  // written at registration and by the user, as fastapi-users does for a field in UserCreate and UserUpdate
  nickname: { schema: Type.String({ maxLength: 50 }), nullable: true, write: { register: true, self: true } },
  // chosen at registration, then changed by superusers only
  referral: { schema: Type.String(), nullable: true, write: { register: true } },
  // no `write`: superusers only
  plan: { schema: Type.String(), nullable: true },
  // must be sent at registration, then changed by superusers only
  tenant: { schema: Type.String(), onCreate: 'required' },
  // server-only: written by the server, never in an answer
  risk_score: { schema: Type.Integer(), nullable: true, read: 'hidden' },
  starts_on: { schema: Type.String(), nullable: true, write: { register: true, self: true } },
  ends_on: { schema: Type.String(), nullable: true, write: { register: true, self: true } },
})
type User = UserOf<typeof fields>

// The types follow the settings.
const created: UserCreateOf<typeof fields> = { email: 'a@example.com', password: 'long-enough', tenant: 'acme' }
// @ts-expect-error tenant is required at registration
const withoutTenant: UserCreateOf<typeof fields> = { email: 'a@example.com', password: 'long-enough' }
// @ts-expect-error plan is not writable at registration
const withPlan: UserCreateOf<typeof fields> = { ...created, plan: 'pro' }
// @ts-expect-error referral is not writable by the user
const selfReferral: UserUpdateOf<typeof fields> = { referral: 'x' }
const adminUpdate: UserUpdateAdminOf<typeof fields> = { referral: 'x', plan: 'pro', tenant: 't', nickname: null }
// @ts-expect-error a hidden field is written by the server only
const adminRisk: UserUpdateAdminOf<typeof fields> = { risk_score: 1 }
// @ts-expect-error a hidden field is not in the answers' type
const readRisk: UserReadOf<typeof fields>['risk_score'] = 1
const user: User = {
  ...{ id: '', email: '', hashed_password: '', is_active: true, is_superuser: false, is_verified: false },
  ...{ nickname: null, referral: null, plan: null, tenant: 't', starts_on: null, ends_on: null },
  risk_score: 3, // but on the user itself
}
void [withoutTenant, withPlan, selfReferral, adminUpdate, adminRisk, readRisk, user]

const PUBLIC_DEFAULTS = { is_active: true, is_superuser: false, is_verified: false }

interface FieldApp {
  app: FastifyInstance
  manager: UserManager<User>
  token(user: User): Promise<string>
  /** The users the onAfterUpdate hook was given. */
  updated: User[]
  /** Every call of validateUser: its operation. */
  validations: string[]
}

async function startFieldApp(database: TestDatabase): Promise<FieldApp> {
  const db = openDatabase(database.url)
  await migrateToLatest(db, { fields })
  const updated: User[] = []
  const validations: string[] = []
  const manager = new UserManager<User>({
    store: createKyselyUserStore<User>(db, fields),
    secret: SECRET,
    validatePassword: (password) => {
      if (password.length < 8) throw new InvalidPasswordError('Password should be at least 8 characters')
    },
    validateUser: (candidate, context) => {
      validations.push(context.operation)
      return datesInOrder(candidate, context)
    },
    hooks: { onAfterUpdate: (changed) => void updated.push(changed) },
  })
  const strategy = new JWTStrategy<User>({ secret: SECRET, lifetimeSeconds: 600 })
  const transport = new BearerTransport({ tokenUrl: 'auth/jwt/login' })
  const backend = authenticationBackend<User>({ name: 'jwt', transport, strategy })
  const users = new FastifyUsers<User>({ manager, backends: [backend], fields })
  const app = Fastify()
  app.addHook('onClose', () => db.close())
  await app.register(fastapiCompat)
  await registerOpenApi(app, { securitySchemes: users.securitySchemes() })
  await app.register(users.plugin)
  await app.register(users.authRouter(backend), { prefix: '/auth/jwt' })
  await app.register(users.registerRouter(), { prefix: '/auth' })
  await app.register(users.usersRouter(), { prefix: '/users' })
  app.get('/whoami', { preValidation: users.currentUser() }, async (request) => ({
    risk_score: (request.currentUser as unknown as User).risk_score,
  }))
  await app.ready()
  return { app, manager, token: (u) => strategy.writeToken(u), updated, validations }
}

/** The cross-field rule of these tests. */
const datesInOrder: UserValidator<User> = ({ starts_on, ends_on }) => {
  if (starts_on && ends_on && ends_on <= starts_on) throw new InvalidUserError('ends_on must be after starts_on')
}

/** A user as every answer shows it: the public fields, never risk_score. */
const shown = (u: User) => {
  const { hashed_password: _, risk_score: __, ...rest } = u
  return rest
}

for (const kind of databaseKinds()) {
  describe(`field access (${kind})`, () => {
    let database: TestDatabase | null
    let f: FieldApp
    let api: ReturnType<typeof client>
    let admin: User
    let adminToken: string

    before(async () => {
      database = await createTestDatabase(kind)
      if (!database) return
      f = await startFieldApp(database)
      api = client(f.app)
      admin = await f.manager.create(
        { email: newEmail('admin'), password: 'admin-password', tenant: 'hq', is_superuser: true },
        { safe: false },
      )
      adminToken = await f.token(admin)
    })
    after(async () => {
      await f?.app.close()
      await database?.drop()
    })

    /** A user registered by the server with every field set, risk_score included. */
    const serverUser = async () =>
      f.manager.create(
        {
          ...{ email: newEmail('server'), password: 'server-password', tenant: 'acme', risk_score: 7 },
          ...{ nickname: 'Nick', referral: 'ref-1', plan: 'free', starts_on: '2026-01-01', ends_on: '2026-12-31' },
        },
        { safe: false },
      )
    const stored = async (id: string) => (await f.manager.store.get(id)) as User

    test('registration writes the fields writable there, ignores the others, and never answers a hidden one', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const email = newEmail('register')
      const res = await api.post('/auth/register', {
        ...{ email, password: 'long-enough-pw', nickname: 'Ada', referral: 'friend', tenant: 'acme' },
        ...{ plan: 'pro', risk_score: 99, is_superuser: true, starts_on: '2026-01-01', ends_on: '2026-02-01' },
      })
      assert.equal(res.statusCode, 201)
      const body = res.json()
      assert.deepEqual(body, {
        id: body.id,
        email,
        ...PUBLIC_DEFAULTS,
        ...{ nickname: 'Ada', referral: 'friend', plan: null, tenant: 'acme' },
        ...{ starts_on: '2026-01-01', ends_on: '2026-02-01' },
      })
      const row = await stored(body.id)
      assert.deepEqual([row.plan, row.risk_score, row.is_superuser], [null, null, false])
    })

    test('registration without the required field is a 422 at its place', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const email = newEmail('no-tenant')
      const res = await api.post('/auth/register', { email, password: 'long-enough-pw' })
      assert.equal(res.statusCode, 422)
      assert.deepEqual(
        res.json().detail.map((d: { type: string; loc: unknown[]; msg: string }) => [d.type, d.loc, d.msg]),
        [['missing', ['body', 'tenant'], 'Field required']],
      )
      assert.equal(await f.manager.getByEmail(email), null)
    })

    test('PATCH /users/me writes only the self-writable fields; the rest is ignored, never stored', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const alice = await serverUser()
      const res = await api.patch(
        '/users/me',
        {
          ...{ nickname: 'Alice', referral: 'mine', plan: 'pro', tenant: 'other', risk_score: 0 },
          ...{ is_superuser: true, starts_on: '2026-03-01' },
        },
        await f.token(alice),
      )
      const after = await stored(alice.id)
      const expected = { ...alice, nickname: 'Alice', starts_on: '2026-03-01' }
      assert.deepEqual(json(res), [200, shown(expected)])
      assert.deepEqual(after, expected)
    })

    test('PATCH /users/{id} by a superuser writes the admin-writable fields, never a hidden one', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const bob = await serverUser()
      const res = await api.patch(
        `/users/${bob.id}`,
        { nickname: 'Bob', referral: 'fixed', plan: 'pro', tenant: 'globex', risk_score: 0, is_verified: true },
        adminToken,
      )
      const expected = {
        ...bob,
        ...{ nickname: 'Bob', referral: 'fixed', plan: 'pro', tenant: 'globex', is_verified: true },
      }
      assert.deepEqual(json(res), [200, shown(expected)])
      assert.deepEqual(await stored(bob.id), expected)
    })

    test('GET /users/me and /users/{id} answer the public fields; the hidden one stays on the server', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const carol = await serverUser()
      const token = await f.token(carol)
      assert.deepEqual(json(await api.get('/users/me', token)), [200, shown(carol)])
      assert.deepEqual(json(await api.get(`/users/${carol.id}`, adminToken)), [200, shown(carol)])
      assert.doesNotMatch((await api.get('/users/me', token)).body, /risk_score/)
      // request.currentUser and the hooks' users have it
      assert.deepEqual(json(await api.get('/whoami', token)), [200, { risk_score: 7 }])
      f.updated.length = 0
      await api.patch('/users/me', { nickname: 'Caro' }, token)
      assert.deepEqual(
        f.updated.map((u) => [u.nickname, u.risk_score]),
        [['Caro', 7]],
      )
    })

    test('GET /users lists the public fields only; POST /users writes the admin-writable fields', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const carol = await serverUser()
      const listed = await api.get(`/users?email=${encodeURIComponent(carol.email)}`, adminToken)
      assert.deepEqual(json(listed), [200, { items: [shown(carol)], total: 1, limit: 50, offset: 0 }])
      assert.doesNotMatch(listed.body, /risk_score/)
      const email = newEmail('by-admin')
      const body = { email, password: 'long-enough-pw', tenant: 'acme', plan: 'pro', referral: 'r', risk_score: 9 }
      const res = await api.post('/users', { ...body, is_verified: true }, adminToken)
      assert.equal(res.statusCode, 201, res.body)
      const id = res.json().id
      const answer = { ...{ id, email, ...PUBLIC_DEFAULTS, is_verified: true, nickname: null, referral: 'r' } }
      assert.deepEqual(res.json(), { ...answer, plan: 'pro', tenant: 'acme', starts_on: null, ends_on: null })
      assert.equal((await stored(id)).risk_score, null)
      const missing = { email: newEmail('x'), password: 'long-enough-pw' }
      const input = { ...missing, is_active: true, is_superuser: false, is_verified: false }
      assert.deepEqual(json(await api.post('/users', missing, adminToken)), [
        422,
        { detail: [{ type: 'missing', loc: ['body', 'tenant'], msg: 'Field required', input }] },
      ])
    })

    test('the server writes every field', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const dave = await serverUser()
      const updated = await f.manager.update(dave, { risk_score: 42, plan: 'pro', referral: 'ops' }, { safe: false })
      assert.deepEqual(await stored(dave.id), { ...dave, risk_score: 42, plan: 'pro', referral: 'ops' })
      assert.equal(updated.risk_score, 42)
    })

    test('validateUser refuses a registration with pydantic’s 422, echoing the body as sent', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const email = newEmail('Dates').replace('example.com', 'EXAMPLE.com')
      // the password breaks a rule too: the body's 422 comes first, as in FastAPI
      const body = { email, password: 'short', tenant: 'acme', starts_on: '2026-05-01', ends_on: '2026-04-01', x: 1 }
      const res = await api.post('/auth/register', body)
      assert.deepEqual(json(res), [
        422,
        {
          detail: [
            {
              type: 'value_error',
              loc: ['body'],
              msg: 'Value error, ends_on must be after starts_on',
              input: body,
              ctx: { error: {} },
            },
          ],
        },
      ])
      assert.equal(await f.manager.getByEmail(email), null)
    })

    test('on update validateUser sees the stored user with the changes, for the user and for a superuser', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const erin = await serverUser() // 2026-01-01 .. 2026-12-31
      const refused = (input: unknown) => [
        422,
        {
          detail: [
            {
              type: 'value_error',
              loc: ['body'],
              msg: 'Value error, ends_on must be after starts_on',
              input,
              ctx: { error: {} },
            },
          ],
        },
      ]
      f.validations.length = 0
      const own = { ends_on: '2025-12-31' }
      assert.deepEqual(json(await api.patch('/users/me', own, await f.token(erin))), refused(own))
      const bySuperuser = { starts_on: '2027-01-01', plan: 'pro' }
      assert.deepEqual(json(await api.patch(`/users/${erin.id}`, bySuperuser, adminToken)), refused(bySuperuser))
      assert.deepEqual(await stored(erin.id), erin)
      assert.deepEqual(f.validations, ['update', 'update'])

      const moved = { starts_on: '2026-06-01', ends_on: '2027-06-01' }
      const res = await api.patch('/users/me', moved, await f.token(erin))
      assert.deepEqual(json(res), [200, shown({ ...erin, ...moved })])
      // the server's own writes are held to the rule too
      await assert.rejects(f.manager.update(erin, { ends_on: '2020-01-01' }, { safe: false }), InvalidUserError)
    })

    test('create-superuser applies the configuration’s validateUser and sets any field', async (t) => {
      if (!database) return t.skip(`${kind} is not reachable`)
      const lines: string[] = []
      const out = { log: (line: string) => void lines.push(line), error: (line: string) => void lines.push(line) }
      const config = { databaseUrl: database.url, fields, validateUser: datesInOrder }
      const run = (email: string, ...more: string[]) =>
        runCli(
          ['create-superuser', '--email', email, '--password', 'long-enough-pw', '--tenant', 'hq', ...more],
          {},
          {
            config,
            out,
          },
        )
      const refused = newEmail('cli-refused')
      assert.equal(await run(refused, '--starts-on', '2026-05-01', '--ends-on', '2026-04-01'), 1)
      assert.equal(lines.at(-1), 'failed: ends_on must be after starts_on')
      assert.equal(await f.manager.getByEmail(refused), null)
      const accepted = newEmail('cli-accepted')
      assert.equal(await run(accepted, '--plan', 'pro', '--risk-score', '3'), 0)
      const created = (await f.manager.getByEmail(accepted)) as User
      assert.deepEqual([created.plan, created.risk_score, created.tenant, created.is_superuser], ['pro', 3, 'hq', true])
    })
  })
}

describe('the OpenAPI document shows where each field is written and read', () => {
  let database: TestDatabase | null
  let f: FieldApp
  let doc: any

  before(async () => {
    database = await createTestDatabase('sqlite')
    f = await startFieldApp(database as TestDatabase)
    doc = (await f.app.inject({ method: 'GET', url: '/openapi.json' })).json()
  })
  after(async () => {
    await f?.app.close()
    await database?.drop()
  })

  const BASE_UPDATE = ['password', 'email', 'is_active', 'is_superuser', 'is_verified']
  const propertiesOf = (name: string) => Object.keys(doc.components.schemas[name].properties)
  const bodyOf = (path: string, method: string) =>
    doc.paths[path][method].requestBody.content['application/json'].schema

  test('UserRead has the public fields only', () => {
    assert.deepEqual(propertiesOf('UserRead'), [
      ...['id', 'email', 'is_active', 'is_superuser', 'is_verified'],
      ...['nickname', 'referral', 'plan', 'tenant', 'starts_on', 'ends_on'],
    ])
  })

  test('UserCreate has the fields writable at registration, the required one required', () => {
    assert.deepEqual(propertiesOf('UserCreate'), [
      ...['email', 'password', 'is_active', 'is_superuser', 'is_verified'],
      ...['nickname', 'referral', 'tenant', 'starts_on', 'ends_on'],
    ])
    assert.deepEqual(doc.components.schemas.UserCreate.required, ['email', 'password', 'tenant'])
  })

  test('PATCH /users/me takes UserUpdate, PATCH /users/{id} takes UserUpdateAdmin', () => {
    assert.deepEqual(propertiesOf('UserUpdate'), [...BASE_UPDATE, 'nickname', 'starts_on', 'ends_on'])
    assert.deepEqual(propertiesOf('UserUpdateAdmin'), [
      ...BASE_UPDATE,
      ...['nickname', 'referral', 'plan', 'tenant', 'starts_on', 'ends_on'],
    ])
    assert.deepEqual(bodyOf('/users/me', 'patch'), { $ref: '#/components/schemas/UserUpdate' })
    assert.deepEqual(bodyOf('/users/{id}', 'patch'), { $ref: '#/components/schemas/UserUpdateAdmin' })
    assert.doesNotMatch(JSON.stringify(doc), /risk_score/)
  })
})

describe('the settings', () => {
  test('settings that contradict each other fail at declaration', () => {
    const schema = Type.String()
    assert.throws(
      () => defineUserFields({ code: { schema, onCreate: 'required', write: { register: false } } }),
      new TypeError("field code: onCreate 'required' contradicts write.register false"),
    )
    assert.throws(
      () => defineUserFields({ code: { schema, read: 'private' as 'hidden' } }),
      new TypeError("field code: read must be 'public' or 'hidden'"),
    )
  })

  test('the reference service’s first_name keeps fastapi-users’ UserCreate/UserUpdate/UserRead', async (t) => {
    const started = await startTestApp('sqlite')
    if (!started) return t.skip('sqlite is not available')
    try {
      const doc = (await started.app.inject({ method: 'GET', url: '/openapi.json' })).json()
      const schemas = doc.components.schemas
      assert.equal(schemas.UserUpdateAdmin, undefined)
      for (const name of ['UserRead', 'UserCreate', 'UserUpdate']) assert.ok('first_name' in schemas[name].properties)
      assert.ok(schemas.UserCreate.required.includes('first_name'))
      assert.deepEqual(doc.paths['/users/{id}'].patch.requestBody.content['application/json'].schema, {
        $ref: '#/components/schemas/UserUpdate',
      })
    } finally {
      await started.close()
    }
  })
})
