/**
 * DELETE /users/me (SELF_DELETE=true): a user deletes its own account with its password, on every
 * database and both id models, with the real Redis and a real SMTP server. Everything the user was
 * signed in with ends (JWT, refresh token, database and Redis sessions), its OAuth links go, the
 * hooks run (the before-delete hook may refuse), the owner gets a mail, and a cookie is cleared.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import {
  authenticationBackend,
  type BaseUser,
  BearerTransport,
  DELETE_USER_INVALID_PASSWORD,
  DeleteRefused,
  FastifyUsers,
  fastapiCompat,
  HttpError,
  JWTStrategy,
  passwordConfirmation,
  UserManager,
} from '../../src/index.js'
import {
  createKyselyOAuthAccountStore,
  createKyselyUserStore,
  type Database,
  migrateToLatest,
  openDatabase,
} from '../../src/kysely.js'
import {
  ACCESS_COOKIE,
  type Api,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  bearerRefresh,
  cookieLogin,
  newEmail,
  PASSWORD,
  postLogin,
  REDIS_PREFIX,
  registered,
  reply,
  rows,
  type Service,
  service,
  setCookie,
  UNAUTHORIZED,
  withCookies,
} from '../sessions/helpers.js'
import { client } from '../support/app.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'
import { idModels } from '../support/id-models.js'
import { startSmtpServer } from '../support/smtp.js'

const NO_CONTENT = [204, '']
const INVALID_PASSWORD = [400, { detail: 'DELETE_USER_INVALID_PASSWORD' }]
const REFUSED = [400, { detail: 'DELETE_USER_REFUSED' }]

/** DELETE /users/me with these headers and, unless undefined, this JSON body. */
const deleteMe = (api: Api, headers: Record<string, string>, body?: unknown) =>
  api.send({
    method: 'DELETE',
    url: '/users/me',
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  })

/** Signed in every way the service offers: a JWT with its refresh token, a cookie session, a Redis session. */
async function signedInEverywhere(api: Api, email: string) {
  const jwt = await bearerLogin(api, '/auth/jwt', email)
  const cookie = await cookieLogin(api, email)
  const redis = (await bearerLogin(api, '/auth/redis', email)).access_token
  return { jwt: jwt.access_token, refresh: jwt.refresh_token as string, cookie, redis }
}

/** A provider account linked to the user, written as the OAuth routers write it. */
async function linkOAuthAccount(s: Service, db: Database, userId: string | number) {
  await createKyselyOAuthAccountStore(db).add(userId as never, {
    oauth_name: 'github',
    access_token: 'provider-access-token',
    expires_at: null,
    refresh_token: null,
    account_id: `gh-${Math.random().toString(36).slice(2)}`,
    account_email: 'someone@github.example',
    email_verified: true,
  })
  assert.equal((await rows(s.db, 'oauth_account', ['user_id', userId])).length, 1)
}

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids: DELETE /users/me`, () => {
      let smtp: Awaited<ReturnType<typeof startSmtpServer>>
      let oauthDb: Database | undefined
      before(async () => {
        smtp = await startSmtpServer()
      })
      after(async () => {
        await oauthDb?.close()
        await smtp?.close()
      })
      const { it } = service(kind, () => ({ ...model.env, SELF_DELETE: 'true', SMTP_URL: smtp.url }), { redis: true })
      const oauthStore = (s: Service) => {
        oauthDb ??= openDatabase(s.started.database.url, { userIdType: model.name })
        return oauthDb
      }

      it('unauthenticated: 401, before the body is looked at', async ({ api }) => {
        assert.deepEqual(reply(await deleteMe(api, {}, { password: PASSWORD })), UNAUTHORIZED)
        assert.deepEqual(reply(await deleteMe(api, {})), UNAUTHORIZED)
        assert.deepEqual(reply(await deleteMe(api, bearer('not-a-token'), { password: PASSWORD })), UNAUTHORIZED)
      })

      it('a wrong or missing password: 400 DELETE_USER_INVALID_PASSWORD, and nothing changes', async ({ api }) => {
        const user = await registered(api)
        const { access_token } = await bearerLogin(api, '/auth/jwt', user.email)
        const headers = bearer(access_token)
        assert.deepEqual(reply(await deleteMe(api, headers, { password: 'not-the-password' })), INVALID_PASSWORD)
        assert.deepEqual(reply(await deleteMe(api, headers, { password: '' })), INVALID_PASSWORD)
        assert.deepEqual(reply(await deleteMe(api, headers, {})), INVALID_PASSWORD)
        assert.deepEqual(reply(await deleteMe(api, headers)), INVALID_PASSWORD)
        assert.deepEqual(reply(await deleteMe(api, headers, { password: PASSWORD.toUpperCase() })), INVALID_PASSWORD)
        assert.equal((await deleteMe(api, headers, { password: 42 })).statusCode, 422)
        await assertMe(api, headers, user.email)
        assert.equal((await postLogin(api, '/auth/jwt', user.email, PASSWORD)).statusCode, 200)
      })

      it('204: the user, every session, refresh token, Redis key and OAuth link are gone; the owner is mailed', async (s) => {
        const { api, db, redis } = s
        const user = await registered(api)
        assert.ok(model.isId(user.id))
        const tokens = await signedInEverywhere(api, user.email)
        await linkOAuthAccount(s, oauthStore(s), user.id)
        const other = await registered(api)
        const otherTokens = await signedInEverywhere(api, other.email)
        await linkOAuthAccount(s, oauthStore(s), other.id)

        const res = await deleteMe(api, bearer(tokens.jwt), { password: PASSWORD })
        assert.deepEqual(reply(res), NO_CONTENT)
        assert.equal(setCookie(res, ACCESS_COOKIE), undefined, 'a Bearer client gets no cookie')

        await assertRefused(api, bearer(tokens.jwt), 'the JWT')
        await assertRefused(api, withCookies({ [ACCESS_COOKIE]: tokens.cookie }), 'the cookie session')
        await assertRefused(api, bearer(tokens.redis), 'the Redis session')
        assert.deepEqual(reply(await bearerRefresh(api, tokens.refresh)), UNAUTHORIZED)
        assert.equal((await postLogin(api, '/auth/jwt', user.email, PASSWORD)).statusCode, 400)
        assert.deepEqual(await rows(db, 'user', ['id', user.id]), [])
        assert.deepEqual(await rows(db, 'accesstoken', ['user_id', user.id]), [])
        assert.deepEqual(await rows(db, 'refresh_token', ['user_id', user.id]), [])
        assert.deepEqual(await rows(db, 'oauth_account', ['user_id', user.id]), [])
        assert.equal(await redis?.exists(REDIS_PREFIX + tokens.redis), 0, 'the Redis token key is deleted')
        assert.equal(await redis?.exists(`fastapi_users_user_tokens:${user.id}`), 0, 'and its index')

        const mail = await smtp.waitForMail(
          (m) => m.to.includes(user.email) && m.subject === 'Your account was deleted',
        )
        assert.match(mail.text, /Your account and everything linked to it have just been deleted/)
        assert.ok(!mail.text.includes(PASSWORD))

        // another user is untouched
        await assertMe(api, bearer(otherTokens.jwt), other.email)
        await assertMe(api, withCookies({ [ACCESS_COOKIE]: otherTokens.cookie }), other.email)
        await assertMe(api, bearer(otherTokens.redis), other.email)
        assert.equal((await bearerRefresh(api, otherTokens.refresh)).statusCode, 200)
        assert.equal((await rows(db, 'oauth_account', ['user_id', other.id])).length, 1)
      })

      it('authenticated by the cookie: the answer clears it; the Redis backend deletes too', async ({ api }) => {
        const byCookie = await registered(api)
        const cookie = await cookieLogin(api, byCookie.email)
        const res = await deleteMe(api, withCookies({ [ACCESS_COOKIE]: cookie }), { password: PASSWORD })
        assert.deepEqual(reply(res), NO_CONTENT)
        const cleared = setCookie(res, ACCESS_COOKIE)
        assert.equal(cleared?.value, '')
        assert.equal(cleared?.maxAge, 0)
        await assertRefused(api, withCookies({ [ACCESS_COOKIE]: cookie }), 'the cookie session')

        const byRedis = await registered(api)
        const token = (await bearerLogin(api, '/auth/redis', byRedis.email)).access_token
        assert.deepEqual(reply(await deleteMe(api, bearer(token), { password: PASSWORD })), NO_CONTENT)
        await assertRefused(api, bearer(token), 'the Redis session')
      })

      it('onBeforeDelete may refuse (DeleteRefused: 400, nothing ends); onAfterDelete runs with the user', async ({
        app,
        api,
      }) => {
        const { hooks } = app.users.manager
        const original = { before: hooks.onBeforeDelete, after: hooks.onAfterDelete }
        const refused = await registered(api)
        const deleted: string[] = []
        hooks.onBeforeDelete = (user) => {
          if (user.email === refused.email) throw new DeleteRefused()
        }
        hooks.onAfterDelete = async (user, ctx) => {
          deleted.push(user.email)
          await original.after?.(user, ctx)
        }
        try {
          const tokens = await signedInEverywhere(api, refused.email)
          assert.deepEqual(reply(await deleteMe(api, bearer(tokens.jwt), { password: PASSWORD })), REFUSED)
          await assertMe(api, bearer(tokens.jwt), refused.email)
          await assertMe(api, withCookies({ [ACCESS_COOKIE]: tokens.cookie }), refused.email)
          await assertMe(api, bearer(tokens.redis), refused.email)
          assert.equal((await bearerRefresh(api, tokens.refresh)).statusCode, 200)
          assert.deepEqual(deleted, [])

          const kept = await registered(api)
          const token = (await bearerLogin(api, '/auth/jwt', kept.email)).access_token
          assert.deepEqual(reply(await deleteMe(api, bearer(token), { password: PASSWORD })), NO_CONTENT)
          assert.deepEqual(deleted, [kept.email])
        } finally {
          hooks.onBeforeDelete = original.before
          hooks.onAfterDelete = original.after
        }
      })
    })
  }

  describe(`${kind}: DELETE /users/me with rate limits on, and off by default`, () => {
    const limited = service(kind, {
      SELF_DELETE: 'true',
      RATE_LIMIT: 'true',
      LOGIN_FREE_ATTEMPTS: '2',
      LOGIN_LOCKOUT_MAX: '600',
    })

    limited.it('wrong passwords count toward the login lock-out of the account', async ({ api }) => {
      const user = await registered(api)
      const { access_token } = await bearerLogin(api, '/auth/jwt', user.email)
      assert.deepEqual(reply(await deleteMe(api, bearer(access_token), { password: 'wrong-1' })), INVALID_PASSWORD)
      assert.deepEqual(reply(await deleteMe(api, bearer(access_token), { password: 'wrong-2' })), INVALID_PASSWORD)
      // locked: even the right password at the login form is not checked
      const login = await postLogin(api, '/auth/jwt', user.email, PASSWORD)
      assert.deepEqual(reply(login), [429, { detail: 'TOO_MANY_REQUESTS' }])
      assert.equal(login.headers['retry-after'], '1')
      const again = await deleteMe(api, bearer(access_token), { password: PASSWORD })
      assert.deepEqual(reply(again), [429, { detail: 'TOO_MANY_REQUESTS' }])
      await assertMe(api, bearer(access_token), user.email)
    })

    const plain = service(kind, {})
    plain.it(
      'without SELF_DELETE there is no such route: /users/{id} answers 403, and the user stays',
      async ({ api }) => {
        const email = newEmail('keep')
        const user = await registered(api, email)
        const { access_token } = await bearerLogin(api, '/auth/jwt', user.email)
        const res = await deleteMe(api, bearer(access_token), { password: PASSWORD })
        assert.deepEqual(reply(res), [403, { detail: 'Forbidden' }]) // `me` is an id there, as in fastapi-users
        await assertMe(api, bearer(access_token), email)
        const doc = (await api.get('/openapi.json')).json()
        assert.equal(doc.paths['/users/me'].delete, undefined)
      },
    )
  })
}

/**
 * The library: `selfDelete: { confirmIdentity }` replaces how the user proves it is them (here a
 * made-up step-up code, the password still accepted through passwordConfirmation), on every database.
 */
for (const kind of databaseKinds()) {
  describe(`${kind}: a library app replaces confirmIdentity`, () => {
    let testDatabase: TestDatabase | null = null
    let database: Database | undefined
    let app: FastifyInstance | undefined
    let manager: UserManager<BaseUser>

    before(async () => {
      testDatabase = await createTestDatabase(kind)
      if (!testDatabase) return
      database = openDatabase(testDatabase.url)
      await migrateToLatest(database)
      manager = new UserManager({ store: createKyselyUserStore(database), secret: 'library-secret-0123456789abcdef' })
      const jwt = authenticationBackend({
        name: 'jwt',
        transport: new BearerTransport({ tokenUrl: 'auth/jwt/login' }),
        strategy: new JWTStrategy({ secret: 'library-secret-0123456789abcdef', lifetimeSeconds: 3600 }),
      })
      const users = new FastifyUsers({ manager, backends: [jwt] })
      const byPassword = passwordConfirmation(users, DELETE_USER_INVALID_PASSWORD)
      app = Fastify()
      await app.register(fastapiCompat)
      await app.register(users.plugin)
      await app.register(users.authRouter(jwt), { prefix: '/auth/jwt' })
      await app.register(
        users.usersRouter({
          selfDelete: {
            body: Type.Object({ password: Type.Optional(Type.String()), step_up: Type.Optional(Type.String()) }),
            confirmIdentity: async (request, reply, user, body) => {
              if (body.step_up === undefined) return byPassword(request, reply, user, body)
              if (body.step_up !== `step-up-of-${user.email}`) throw new HttpError(400, 'DELETE_USER_BAD_STEP_UP')
            },
          },
        }),
        { prefix: '/users' },
      )
      await app.ready()
    })
    after(async () => {
      await app?.close()
      await database?.close()
      await testDatabase?.drop()
    })

    test('the step-up or the password confirms; anything else is refused with the replacement’s code', async (t) => {
      if (!app) return t.skip(`${kind} is not reachable locally`)
      const api = client(app)
      const signIn = async (email: string) => {
        await manager.create({ email, password: PASSWORD })
        return bearer(await api.token(email, PASSWORD))
      }
      const first = newEmail('stepup')
      const headers = await signIn(first)
      assert.deepEqual(reply(await deleteMe(api, headers, { step_up: 'guessed' })), [
        400,
        { detail: 'DELETE_USER_BAD_STEP_UP' },
      ])
      assert.deepEqual(reply(await deleteMe(api, headers, { password: 'wrong-password' })), INVALID_PASSWORD)
      assert.deepEqual(reply(await deleteMe(api, headers, { step_up: `step-up-of-${first}` })), NO_CONTENT)
      assert.equal(await manager.getByEmail(first), null)

      const second = newEmail('stepup')
      assert.deepEqual(reply(await deleteMe(api, await signIn(second), { password: PASSWORD })), NO_CONTENT)
      assert.equal(await manager.getByEmail(second), null)
    })
  })
}
