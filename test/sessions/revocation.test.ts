/**
 * Revocation in the reference service with its three backends (JWT with refresh, Cookie +
 * database, Bearer + Redis), on every database and the real Redis: a password change (PATCH
 * /users/me or by a superuser), a reset, a deactivation end every database and Redis session
 * and every refresh token, and the JWTs issued before a password change; a fresh login works.
 */
import assert from 'node:assert/strict'
import { after, before, describe } from 'node:test'
import { hash as bcryptHash } from '@node-rs/bcrypt'
import { databaseKinds } from '../support/databases.js'
import { startSmtpServer } from '../support/smtp.js'
import {
  ACCESS_COOKIE,
  type Api,
  adminToken,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  bearerRefresh,
  cookieLogin,
  me,
  NEW_PASSWORD,
  PASSWORD,
  postLogin,
  REDIS_PREFIX,
  registered,
  reply,
  rows,
  type Service,
  service,
  UNAUTHORIZED,
  withCookies,
} from './helpers.js'

/** One login on each backend: a JWT with its refresh token, a database cookie, a Redis token. */
async function loginEverywhere(api: Api, email: string, password = PASSWORD) {
  const jwt = await bearerLogin(api, '/auth/jwt', email, password)
  return {
    jwt: jwt.access_token,
    refresh: jwt.refresh_token as string,
    cookie: await cookieLogin(api, email, password),
    redis: (await bearerLogin(api, '/auth/redis', email, password)).access_token,
  }
}
type Logins = Awaited<ReturnType<typeof loginEverywhere>>

async function assertAlive(api: Api, logins: Logins, email: string) {
  await assertMe(api, bearer(logins.jwt), email)
  await assertMe(api, withCookies({ [ACCESS_COOKIE]: logins.cookie }), email)
  await assertMe(api, bearer(logins.redis), email)
}

/** Every stateful session and the refresh token are gone, in the stores too. */
async function assertStatefulSessionsGone(s: Service, logins: Logins, userId: string | number) {
  await assertRefused(s.api, withCookies({ [ACCESS_COOKIE]: logins.cookie }), 'the database session')
  await assertRefused(s.api, bearer(logins.redis), 'the Redis session')
  assert.deepEqual(reply(await bearerRefresh(s.api, logins.refresh)), UNAUTHORIZED, 'the refresh token is refused')
  assert.deepEqual(await rows(s.db, 'accesstoken', ['user_id', userId]), [])
  assert.equal(await s.redis?.exists(`${REDIS_PREFIX}${logins.redis}`), 0)
  const live = (await rows(s.db, 'refresh_token', ['user_id', userId])).filter((r) => r.used_at === null)
  assert.deepEqual(live, [], 'no live refresh token left')
}

/** A fresh login on every backend works, with this password. */
async function assertFreshLoginWorks(api: Api, email: string, password: string) {
  const fresh = await loginEverywhere(api, email, password)
  await assertAlive(api, fresh, email)
  assert.equal((await bearerRefresh(api, fresh.refresh)).statusCode, 200)
}

const patchMe = (api: Api, headers: Record<string, string>, payload: unknown) =>
  api.send({
    method: 'PATCH',
    url: '/users/me',
    headers: { ...headers, 'content-type': 'application/json' },
    payload: payload as never,
  })

const RESET_LINK = /\/reset-password\?token=(\S+)/

for (const kind of databaseKinds()) {
  describe(`${kind}: revocation across the three backends`, () => {
    let smtp: Awaited<ReturnType<typeof startSmtpServer>> | undefined
    before(async () => {
      smtp = await startSmtpServer()
    })
    const { it } = service(kind, () => ({ SMTP_URL: smtp?.url ?? '' }), { redis: true })
    after(() => smtp?.close())

    /** forgot-password, then the token of the mail it sends. */
    async function resetToken(s: Service, email: string): Promise<string> {
      assert.deepEqual(reply(await s.api.post('/auth/forgot-password', { email })), [202, null])
      const mail = await (smtp as NonNullable<typeof smtp>).waitForMail(
        (m) => m.to.includes(email) && RESET_LINK.test(m.text),
      )
      return decodeURIComponent(mail.text.match(RESET_LINK)?.[1] as string)
    }

    it('the three sessions of one user work side by side', async ({ api }) => {
      const user = await registered(api)
      await assertAlive(api, await loginEverywhere(api, user.email), user.email)
    })

    it('PATCH /users/me with a new password: every session, refresh token and earlier JWT is refused', async (s) => {
      const { api } = s
      const user = await registered(api)
      const logins = await loginEverywhere(api, user.email)
      const other = await loginEverywhere(api, user.email) // a second device
      await assertAlive(api, logins, user.email)

      const res = await patchMe(api, bearer(logins.jwt), { password: NEW_PASSWORD })
      assert.equal(res.statusCode, 200, res.body)

      await assertStatefulSessionsGone(s, logins, user.id)
      await assertStatefulSessionsGone(s, other, user.id)
      await assertRefused(api, bearer(logins.jwt), 'the JWT issued before the change')
      await assertRefused(api, bearer(other.jwt), 'the other device’s JWT')
      assert.deepEqual(reply(await postLogin(api, '/auth/jwt', user.email, PASSWORD)), [
        400,
        { detail: 'LOGIN_BAD_CREDENTIALS' },
      ])
      await assertFreshLoginWorks(api, user.email, NEW_PASSWORD)
    })

    it('PATCH /users/me authenticated by the cookie: 200, then that cookie is refused too', async (s) => {
      const user = await registered(s.api)
      const logins = await loginEverywhere(s.api, user.email)
      const res = await patchMe(s.api, withCookies({ [ACCESS_COOKIE]: logins.cookie }), { password: NEW_PASSWORD })
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().email, user.email)
      await assertStatefulSessionsGone(s, logins, user.id)
      await assertRefused(s.api, bearer(logins.jwt), 'the JWT issued before the change')
    })

    it('a PATCH that changes no password leaves every session alone', async ({ api }) => {
      const user = await registered(api)
      const logins = await loginEverywhere(api, user.email)
      const res = await patchMe(api, bearer(logins.jwt), { first_name: 'Anne' })
      assert.equal(res.statusCode, 200, res.body)
      await assertAlive(api, logins, user.email)
      assert.equal((await bearerRefresh(api, logins.refresh)).statusCode, 200)
    })

    it('a failed password change (invalid password) leaves every session alone', async ({ api }) => {
      const user = await registered(api)
      const logins = await loginEverywhere(api, user.email)
      const res = await patchMe(api, bearer(logins.jwt), { password: 'short' })
      assert.equal(res.statusCode, 400, res.body)
      await assertAlive(api, logins, user.email)
    })

    it('one user’s revocation leaves other users’ sessions alone', async ({ api }) => {
      const alice = await registered(api)
      const bob = await registered(api)
      const aliceLogins = await loginEverywhere(api, alice.email)
      const bobLogins = await loginEverywhere(api, bob.email)
      assert.equal((await patchMe(api, bearer(aliceLogins.jwt), { password: NEW_PASSWORD })).statusCode, 200)
      await assertAlive(api, bobLogins, bob.email)
      assert.equal((await bearerRefresh(api, bobLogins.refresh)).statusCode, 200)
    })

    it('reset-password: every session, refresh token and earlier JWT is refused; the new password logs in', async (s) => {
      const { api } = s
      const user = await registered(api)
      const logins = await loginEverywhere(api, user.email)
      const token = await resetToken(s, user.email)
      assert.deepEqual(reply(await api.post('/auth/reset-password', { token, password: NEW_PASSWORD })), [200, null])
      await assertStatefulSessionsGone(s, logins, user.id)
      await assertRefused(api, bearer(logins.jwt), 'the JWT issued before the reset')
      await assertFreshLoginWorks(api, user.email, NEW_PASSWORD)
    })

    it('a password change by a superuser (PATCH /users/{id}) ends the user’s sessions and JWTs', async (s) => {
      const { api } = s
      const user = await registered(api)
      const logins = await loginEverywhere(api, user.email)
      const res = await api.patch(`/users/${user.id}`, { password: NEW_PASSWORD }, await adminToken(api))
      assert.equal(res.statusCode, 200, res.body)
      await assertStatefulSessionsGone(s, logins, user.id)
      await assertRefused(api, bearer(logins.jwt), 'the JWT issued before the change')
      await assertFreshLoginWorks(api, user.email, NEW_PASSWORD)
    })

    it('deactivation by a superuser ends every session; reactivated, the old ones stay dead', async (s) => {
      const { api } = s
      const user = await registered(api)
      const logins = await loginEverywhere(api, user.email)
      const admin = await adminToken(api)
      const off = await api.patch(`/users/${user.id}`, { is_active: false }, admin)
      assert.equal(off.statusCode, 200, off.body)
      assert.equal(off.json().is_active, false)
      await assertStatefulSessionsGone(s, logins, user.id)
      await assertRefused(api, bearer(logins.jwt), 'the JWT of an inactive user')
      assert.deepEqual(reply(await postLogin(api, '/auth/jwt', user.email, PASSWORD)), [
        400,
        { detail: 'LOGIN_BAD_CREDENTIALS' },
      ])

      // Back on: the sessions were revoked, not merely suspended.
      assert.equal((await api.patch(`/users/${user.id}`, { is_active: true }, admin)).statusCode, 200)
      await assertRefused(api, withCookies({ [ACCESS_COOKIE]: logins.cookie }), 'the old database session')
      await assertRefused(api, bearer(logins.redis), 'the old Redis session')
      assert.deepEqual(reply(await bearerRefresh(api, logins.refresh)), UNAUTHORIZED)
      await assertFreshLoginWorks(api, user.email, PASSWORD)
    })

    it('a deactivation refuses the JWT while the user is inactive and kills its refresh token for good', async ({
      api,
    }) => {
      // A JWT is stateless: it is refused while its user is inactive (the user is loaded on every
      // request) and expires at `exp`; what could renew it, the refresh token, dies with the deactivation.
      const user = await registered(api)
      const { access_token, refresh_token } = await bearerLogin(api, '/auth/jwt', user.email)
      const admin = await adminToken(api)
      assert.equal((await api.patch(`/users/${user.id}`, { is_active: false }, admin)).statusCode, 200)
      await assertRefused(api, bearer(access_token), 'the JWT of an inactive user')
      assert.equal((await api.patch(`/users/${user.id}`, { is_active: true }, admin)).statusCode, 200)
      assert.deepEqual(reply(await bearerRefresh(api, refresh_token!)), UNAUTHORIZED)
    })
  })
}

for (const kind of databaseKinds()) {
  describe(`${kind}: the JWT's password binding and hash upgrades`, () => {
    const { it } = service(kind)

    it('simultaneous first logins of a user with a legacy bcrypt hash all get working JWTs', async ({ api, db }) => {
      const user = await registered(api)
      // As fastapi-users (passlib) left it: bcrypt, upgraded to argon2id at the next login.
      await db.db
        .updateTable('user')
        .set({ hashed_password: await bcryptHash(PASSWORD, { cost: 4 }) })
        .where('id', '=', user.id)
        .execute()
      const logins = await Promise.all(Array.from({ length: 4 }, () => bearerLogin(api, '/auth/jwt', user.email)))
      const statuses = await Promise.all(logins.map(async (l) => (await me(api, bearer(l.access_token))).statusCode))
      assert.deepEqual(statuses, [200, 200, 200, 200])
    })
  })
}

describe('revocation while Redis is unreachable', () => {
  const { it } = service(databaseKinds()[0] ?? 'sqlite', { REDIS_URL: 'redis://127.0.0.1:1/0' })

  it('a password change fails closed: refused, not stored, and every reachable session already ended', async ({
    api,
    db,
  }) => {
    const user = await registered(api)
    const jwt = await bearerLogin(api, '/auth/jwt', user.email)
    const cookie = await cookieLogin(api, user.email)
    const res = await patchMe(api, bearer(jwt.access_token), { password: NEW_PASSWORD })
    const observed = {
      status: res.statusCode,
      newPasswordStored: (await postLogin(api, '/auth/jwt', user.email, NEW_PASSWORD)).statusCode === 200,
      databaseSessionAlive: (await me(api, withCookies({ [ACCESS_COOKIE]: cookie }))).statusCode === 200,
      liveRefreshTokens: (await rows(db, 'refresh_token', ['user_id', user.id])).filter((r) => r.used_at === null)
        .length,
    }
    // Fail closed: sessions are ended before the change is stored, so with Redis down the password
    // is not stored (503, the client retries) but every reachable session is already ended.
    const expected = { status: 503, newPasswordStored: false, databaseSessionAlive: false, liveRefreshTokens: 0 }
    assert.deepEqual(observed, expected)
  })
})
