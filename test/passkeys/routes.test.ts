/**
 * Passkeys (WebAuthn) through the reference service's routes, on every database and id model, with a
 * software authenticator (test/support/webauthn.ts): registration, listing, renaming, deletion, the
 * superusers' removal, sign-in with a passkey alone on the bearer and cookie backends, signature
 * counters, challenges used once, bound to their user and ceremony, and expiring; the owner's mails;
 * and the passkey as a second factor (passkeySecondFactor).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { LoginRefused } from 'fastify-users'
import { openDatabase } from 'fastify-users/kysely'
import { passkeySecondFactor } from 'fastify-users/passkeys'
import { client, json, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { idModels } from '../support/id-models.js'
import { testRedisUrl } from '../support/redis.js'
import { SoftwareAuthenticator } from '../support/webauthn.js'

const ORIGIN = 'http://localhost:8000'
const ADMIN = { email: 'passkey-admin@example.com', password: 'admin-password-123' }
const PASSWORD = 'correct-horse-battery'
const INVALID = [400, { detail: 'PASSKEY_INVALID' }]
const EXPIRED = [400, { detail: 'PASSKEY_CHALLENGE_EXPIRED' }]

type Api = ReturnType<typeof client>

/** A registered user with a token and an authenticator of its own. */
async function account(api: Api) {
  const email = newEmail('passkey')
  const registered = await api.register(email, PASSWORD)
  assert.equal(registered.statusCode, 201, registered.body)
  const token = await api.token(email, PASSWORD)
  return { email, token, id: registered.json().id as string | number, authenticator: new SoftwareAuthenticator(ORIGIN) }
}

/** Registers a passkey for `who` (options, then the authenticator's answer). */
async function addPasskey(api: Api, who: Awaited<ReturnType<typeof account>>, name?: string) {
  const options = (await api.post('/auth/passkeys/register/options', undefined, who.token)).json()
  const response = who.authenticator.create(options)
  const res = await api.post('/auth/passkeys/register', { response, ...(name && { name }) }, who.token)
  assert.equal(res.statusCode, 201, res.body)
  return { passkey: res.json(), response, options }
}

const loginOptions = async (api: Api, prefix = '/auth/jwt') =>
  (await api.post(`${prefix}/login/passkey/options`)).json()

async function mailTo(logs: object[], email: string, subject: string): Promise<{ text: string }> {
  for (let i = 0; i < 200; i++) {
    const line = logs.find(
      (l) => (l as { to?: string }).to === email && (l as { subject?: string }).subject === subject,
    )
    if (line) return line as { text: string }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`no mail "${subject}" to ${email}`)
}

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`passkeys (${kind}, ${model.name} ids)`, () => {
      let service: TestApp | null
      let api: Api
      const logs: object[] = []

      before(async () => {
        service = await startTestApp(
          kind,
          {
            ...model.env,
            PASSKEYS: 'true',
            PUBLIC_URL: ORIGIN,
            LOG_LEVEL: 'info',
            FIRST_SUPERUSER_EMAIL: ADMIN.email,
            FIRST_SUPERUSER_PASSWORD: ADMIN.password,
          },
          { logs },
        )
        if (service) api = client(service.app)
      })
      after(() => service?.close())

      test('registration: options for the signed-in user, the passkey stored, listed, mailed', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        assert.deepEqual(json(await api.post('/auth/passkeys/register/options')), [401, { detail: 'Unauthorized' }])
        const who = await account(api)
        const res = await api.post('/auth/passkeys/register/options', undefined, who.token)
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['cache-control'], 'no-store')
        const options = res.json()
        assert.deepEqual(options.rp, { name: 'fastify-users', id: 'localhost' })
        assert.equal(options.user.name, who.email)
        assert.equal(Buffer.from(options.user.id, 'base64url').toString(), String(who.id))
        assert.match(options.challenge, /^[A-Za-z0-9_-]{43}$/)
        assert.equal(options.attestation, 'none')
        assert.equal(options.authenticatorSelection.residentKey, 'required')
        assert.deepEqual(options.excludeCredentials, [])

        const response = who.authenticator.create(options)
        const added = await api.post('/auth/passkeys/register', { response, name: ' My laptop ' }, who.token)
        assert.equal(added.statusCode, 201, added.body)
        const passkey = added.json()
        assert.deepEqual(Object.keys(passkey).sort(), [
          'backed_up',
          'created_at',
          'device_type',
          'id',
          'last_used_at',
          'name',
          'transports',
        ])
        assert.equal(passkey.name, 'My laptop')
        assert.deepEqual(
          [passkey.last_used_at, passkey.transports, passkey.device_type, passkey.backed_up],
          [null, ['internal'], 'singleDevice', false],
        )
        assert.deepEqual(json(await api.get('/auth/passkeys', who.token)), [200, [passkey]])
        const mail = await mailTo(logs, who.email, 'A passkey was added to your account')
        assert.match(mail.text, /A passkey named "My laptop" has just been added/)

        // the next options exclude it; the same credential again is refused
        const next = (await api.post('/auth/passkeys/register/options', undefined, who.token)).json()
        assert.deepEqual(next.excludeCredentials, [{ id: response.id, type: 'public-key', transports: ['internal'] }])
        const again = { ...response, response: { ...response.response } }
        const replayed = who.authenticator.create(next) // a fresh answer to the new challenge…
        again.response.clientDataJSON = replayed.response.clientDataJSON // …carrying the old credential
        assert.deepEqual(json(await api.post('/auth/passkeys/register', { response: again }, who.token)), [
          400,
          { detail: 'PASSKEY_ALREADY_REGISTERED' },
        ])
      })

      test('registration: challenges used once, bound to their user and ceremony; answers checked', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const who = await account(api)
        const other = await account(api)
        const options = (await api.post('/auth/passkeys/register/options', undefined, who.token)).json()
        const response = who.authenticator.create(options)
        // another user cannot use this challenge (and using it spends it)
        assert.deepEqual(json(await api.post('/auth/passkeys/register', { response }, other.token)), EXPIRED)
        assert.deepEqual(json(await api.post('/auth/passkeys/register', { response }, who.token)), EXPIRED)

        const { response: first } = await addPasskey(api, who)
        assert.deepEqual(json(await api.post('/auth/passkeys/register', { response: first }, who.token)), EXPIRED)

        // a registration challenge is no login challenge, and the reverse
        const loginChallenge = await loginOptions(api)
        const fresh = (await api.post('/auth/passkeys/register/options', undefined, who.token)).json()
        const wrongCeremony = who.authenticator.create({ ...fresh, challenge: loginChallenge.challenge })
        assert.deepEqual(
          json(await api.post('/auth/passkeys/register', { response: wrongCeremony }, who.token)),
          EXPIRED,
        )

        // another origin, a made-up challenge, a shape that is no credential
        const foreign = (await api.post('/auth/passkeys/register/options', undefined, who.token)).json()
        const elsewhere = who.authenticator.create(foreign, { origin: 'http://localhost:9999' })
        assert.deepEqual(json(await api.post('/auth/passkeys/register', { response: elsewhere }, who.token)), INVALID)
        const unknown = who.authenticator.create(foreign, { challenge: 'x'.repeat(43) })
        assert.deepEqual(json(await api.post('/auth/passkeys/register', { response: unknown }, who.token)), EXPIRED)
        assert.deepEqual(json(await api.post('/auth/passkeys/register', { response: { id: 'a' } }, who.token)), INVALID)
        const missing = await api.post('/auth/passkeys/register', {}, who.token)
        assert.equal(missing.statusCode, 422)
        assert.deepEqual(missing.json().detail[0].loc, ['body', 'response'])
        assert.equal((await api.get('/auth/passkeys', who.token)).json().length, 1)
      })

      test('sign-in with a passkey alone: bearer with a refresh token, cookie; counters; challenges', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const who = await account(api)
        const { passkey, response: registered } = await addPasskey(api, who)
        const options = await loginOptions(api)
        assert.deepEqual(options.allowCredentials, [])
        assert.equal(options.rpId, 'localhost')
        const assertion = who.authenticator.get(options)
        const res = await api.post('/auth/jwt/login/passkey', { response: assertion })
        assert.equal(res.statusCode, 200, res.body)
        assert.equal(res.headers['cache-control'], 'no-store')
        const body = res.json()
        assert.deepEqual(Object.keys(body).sort(), ['access_token', 'refresh_token', 'token_type'])
        assert.equal(body.token_type, 'bearer')
        assert.deepEqual(
          json(await api.get('/users/me', body.access_token))[1],
          (await api.get('/users/me', who.token)).json(),
        )
        const [listed] = (await api.get('/auth/passkeys', who.token)).json()
        assert.equal(listed.id, passkey.id)
        assert.ok(listed.last_used_at !== null)

        // the same assertion again: its challenge is spent
        assert.deepEqual(json(await api.post('/auth/jwt/login/passkey', { response: assertion })), EXPIRED)

        // the cookie backend answers as its /login: 204 and the cookie
        const cookie = await api.post('/auth/cookie/login/passkey', {
          response: who.authenticator.get(await loginOptions(api, '/auth/cookie')),
        })
        assert.equal(cookie.statusCode, 204, cookie.body)
        assert.match(String(cookie.headers['set-cookie']), /^fastapiusersauth=[^;]+;/)

        // a counter that does not move forward is refused (a cloned authenticator), and so is an equal one
        const current = who.authenticator.credentials.get(registered.id)?.counter as number
        assert.deepEqual(
          json(
            await api.post('/auth/jwt/login/passkey', {
              response: who.authenticator.get(await loginOptions(api), { counter: current - 1 }),
            }),
          ),
          INVALID,
        )
        assert.deepEqual(
          json(
            await api.post('/auth/jwt/login/passkey', {
              response: who.authenticator.get(await loginOptions(api), { counter: current }),
            }),
          ),
          INVALID,
        )
        const forward = who.authenticator.get(await loginOptions(api), { counter: current + 10 })
        assert.equal((await api.post('/auth/jwt/login/passkey', { response: forward })).statusCode, 200)

        // another origin; a tampered signature; a credential nobody registered
        const elsewhere = who.authenticator.get(await loginOptions(api), { origin: 'https://evil.example' })
        assert.deepEqual(json(await api.post('/auth/jwt/login/passkey', { response: elsewhere })), INVALID)
        const tampered = who.authenticator.get(await loginOptions(api))
        tampered.response.signature = who.authenticator.get(await loginOptions(api)).response.signature
        assert.deepEqual(json(await api.post('/auth/jwt/login/passkey', { response: tampered })), INVALID)
        const stranger = new SoftwareAuthenticator(ORIGIN)
        stranger.create({ rp: { id: 'localhost' }, user: { id: 'MQ' }, challenge: 'x' })
        assert.deepEqual(
          json(await api.post('/auth/jwt/login/passkey', { response: stranger.get(await loginOptions(api)) })),
          INVALID,
        )
        assert.equal((await api.post('/auth/jwt/login/passkey', {})).statusCode, 422)
      })

      test('a challenge expires', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const who = await account(api)
        await addPasskey(api, who)
        const options = await loginOptions(api)
        const database = openDatabase(service.database.url)
        try {
          await database.db
            .updateTable('passkey_challenge')
            .set({ expires_at: Date.now() - 1 })
            .execute()
        } finally {
          await database.close()
        }
        assert.deepEqual(
          json(await api.post('/auth/jwt/login/passkey', { response: who.authenticator.get(options) })),
          EXPIRED,
        )
      })

      test('two instances on one database: a challenge from one is answered at the other, once', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const other = await startTestApp(
          kind,
          { ...model.env, PASSKEYS: 'true', PUBLIC_URL: ORIGIN },
          {
            database: service.database,
          },
        )
        assert.ok(other)
        try {
          const api2 = client(other.app)
          const who = await account(api)
          const options = (await api.post('/auth/passkeys/register/options', undefined, who.token)).json()
          const response = who.authenticator.create(options)
          assert.equal((await api2.post('/auth/passkeys/register', { response }, who.token)).statusCode, 201)
          assert.deepEqual(json(await api.post('/auth/passkeys/register', { response }, who.token)), EXPIRED)
          const assertion = who.authenticator.get(await loginOptions(api2))
          assert.equal((await api.post('/auth/jwt/login/passkey', { response: assertion })).statusCode, 200)
          assert.deepEqual(json(await api2.post('/auth/jwt/login/passkey', { response: assertion })), EXPIRED)
        } finally {
          await other.close()
        }
      })

      test('an inactive user signs in with no passkey', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const who = await account(api)
        await addPasskey(api, who)
        const admin = await api.token(ADMIN.email, ADMIN.password)
        assert.equal((await api.patch(`/users/${who.id}`, { is_active: false }, admin)).statusCode, 200)
        const res = await api.post('/auth/jwt/login/passkey', {
          response: who.authenticator.get(await loginOptions(api)),
        })
        assert.deepEqual(json(res), [400, { detail: 'LOGIN_BAD_CREDENTIALS' }])
      })

      test('the app’s login veto (onBeforeLogin) holds for a passkey, told it is one', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const who = await account(api)
        await addPasskey(api, who)
        const { hooks } = service.app.users.manager
        const methods: string[] = []
        hooks.onBeforeLogin = (user, ctx) => {
          if (user.email !== who.email) return
          methods.push(`${ctx.backend} ${ctx.method}`)
          throw new LoginRefused('LOGIN_ACCOUNT_SUSPENDED')
        }
        try {
          for (const prefix of ['/auth/jwt', '/auth/cookie']) {
            const res = await api.post(`${prefix}/login/passkey`, {
              response: who.authenticator.get(await loginOptions(api, prefix)),
            })
            assert.deepEqual(json(res), [400, { detail: 'LOGIN_ACCOUNT_SUSPENDED' }])
            assert.equal(res.headers['set-cookie'], undefined)
          }
        } finally {
          hooks.onBeforeLogin = undefined
        }
        assert.deepEqual(methods, ['jwt passkey', 'cookie passkey'])
      })

      test('rename and delete one’s own passkeys only; a deleted passkey signs in no more', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const who = await account(api)
        const other = await account(api)
        const { passkey } = await addPasskey(api, who, 'Old name')
        const url = `/auth/passkeys/${passkey.id}`
        const renamed = await api.patch(url, { name: 'Phone' }, who.token)
        assert.deepEqual(json(renamed), [200, { ...passkey, name: 'Phone' }])
        assert.deepEqual(json(await api.patch(url, { name: 'Mine now' }, other.token)), [404, { detail: 'Not Found' }])
        assert.deepEqual(json(await api.patch('/auth/passkeys/no-such-id', { name: 'x' }, who.token)), [
          404,
          { detail: 'Not Found' },
        ])
        assert.equal((await api.patch(url, { name: '' }, who.token)).statusCode, 422)
        assert.equal((await api.patch(url, { name: 'x'.repeat(101) }, who.token)).statusCode, 422)
        assert.deepEqual(json(await api.patch(url, { name: 'x' })), [401, { detail: 'Unauthorized' }])
        assert.deepEqual(json(await api.delete(url, other.token)), [404, { detail: 'Not Found' }])

        // TWO_FACTOR is on (the default): a passkey is a second factor, so deleting it needs a step-up
        assert.deepEqual(json(await api.delete(url, who.token)), [403, { detail: 'STEP_UP_REQUIRED' }])
        const stepUp = (await api.post('/auth/2fa/step-up/passkey/options', undefined, who.token)).json()
        const stepped = await api.post('/auth/2fa/step-up', { passkey: who.authenticator.get(stepUp) }, who.token)
        assert.deepEqual(json(stepped), [204, ''])
        const options = await loginOptions(api)
        assert.deepEqual(json(await api.delete(url, who.token)), [204, ''])
        assert.deepEqual(json(await api.delete(url, who.token)), [404, { detail: 'Not Found' }])
        assert.deepEqual(json(await api.get('/auth/passkeys', who.token)), [200, []])
        assert.deepEqual(
          json(await api.post('/auth/jwt/login/passkey', { response: who.authenticator.get(options) })),
          INVALID,
        )
        const mail = await mailTo(logs, who.email, 'A passkey was removed from your account')
        assert.match(mail.text, /"Phone"/)
      })

      test('a superuser removes every passkey of a user', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const who = await account(api)
        await addPasskey(api, who, 'One')
        await addPasskey(api, who, 'Two')
        const admin = await api.token(ADMIN.email, ADMIN.password)
        const url = `/users/${who.id}/passkeys`
        assert.deepEqual(json(await api.delete(url)), [401, { detail: 'Unauthorized' }])
        assert.deepEqual(json(await api.delete(url, who.token)), [403, { detail: 'Forbidden' }])
        assert.deepEqual(json(await api.delete(`/users/${model.unknownId}/passkeys`, admin)), [
          404,
          { detail: 'Not Found' },
        ])
        assert.deepEqual(json(await api.delete(`/users/${model.notAnId}/passkeys`, admin)), [
          404,
          { detail: 'Not Found' },
        ])
        assert.deepEqual(json(await api.delete(url, admin)), [204, ''])
        assert.deepEqual(json(await api.get('/auth/passkeys', who.token)), [200, []])
        const mail = await mailTo(logs, who.email, 'A passkey was removed from your account')
        assert.match(mail.text, /"One", "Two"/)
        assert.deepEqual(json(await api.delete(url, admin)), [204, ''])
      })

      test('as a second factor: the user’s own passkeys only', async (t) => {
        if (!service) return t.skip(`${kind} is not reachable`)
        const passkeys = service.app.users.passkeys
        assert.ok(passkeys)
        const factor = passkeySecondFactor(passkeys)
        assert.equal(factor.method, 'passkey')
        const who = await account(api)
        const other = await account(api)
        const { response } = await addPasskey(api, who)
        await addPasskey(api, other)
        const [user, otherUser] = await Promise.all([
          service.app.users.manager.get(String(who.id)),
          service.app.users.manager.get(String(other.id)),
        ])
        assert.ok(user && otherUser)
        const none = await account(api)
        const noPasskeys = await service.app.users.manager.get(String(none.id))
        assert.ok(noPasskeys)
        assert.deepEqual(
          await Promise.all([factor.isEnabled(user), factor.isEnabled(otherUser), factor.isEnabled(noPasskeys)]),
          [true, true, false],
        )
        const options = await factor.options(user)
        assert.deepEqual(
          options.allowCredentials?.map((c) => c.id),
          [response.id],
        )
        assert.equal(await factor.verify(user, who.authenticator.get(options)), true)
        // spent; another user's passkey on this user's challenge; this user's challenge for another user
        assert.equal(await factor.verify(user, who.authenticator.get(options)), false)
        const forUser = await factor.options(user)
        assert.equal(
          await factor.verify(
            user,
            other.authenticator.get(forUser, { credentialId: [...other.authenticator.credentials.keys()][0] }),
          ),
          false,
        )
        const again = await factor.options(user)
        assert.equal(await factor.verify(otherUser, who.authenticator.get(again)), false)
        // a login challenge is no second-factor challenge
        assert.equal(await factor.verify(user, who.authenticator.get(await loginOptions(api))), false)
        assert.equal(await factor.verify(user, { nonsense: true }), false)
      })
    })
  }
}

describe('PASSKEYS_USER_VERIFICATION (SQLite)', () => {
  for (const verification of ['preferred', 'required'] as const) {
    test(`${verification}: an authenticator that did not verify its user is ${verification === 'required' ? 'refused' : 'accepted'}`, async () => {
      const service = (await startTestApp('sqlite', {
        PASSKEYS: 'true',
        PUBLIC_URL: ORIGIN,
        PASSKEYS_USER_VERIFICATION: verification,
      })) as TestApp
      try {
        const api = client(service.app)
        const who = await account(api)
        const options = (await api.post('/auth/passkeys/register/options', undefined, who.token)).json()
        assert.equal(options.authenticatorSelection.userVerification, verification)
        const unverified = who.authenticator.create(options, { userVerified: false })
        const res = await api.post('/auth/passkeys/register', { response: unverified }, who.token)
        let credentialId = unverified.id as string
        if (verification === 'required') {
          assert.deepEqual(json(res), INVALID)
          credentialId = (await addPasskey(api, who)).response.id // verified: accepted
        } else assert.equal(res.statusCode, 201, res.body)
        const login = await loginOptions(api)
        assert.equal(login.userVerification, verification)
        const signIn = await api.post('/auth/jwt/login/passkey', {
          response: who.authenticator.get(login, { credentialId, userVerified: false }),
        })
        if (verification === 'required') {
          assert.deepEqual(json(signIn), INVALID)
          const verified = who.authenticator.get(await loginOptions(api), { credentialId })
          assert.equal((await api.post('/auth/jwt/login/passkey', { response: verified })).statusCode, 200)
        } else assert.equal(signIn.statusCode, 200, signIn.body)
      } finally {
        await service.close()
      }
    })
  }
})

describe('the Redis backend (SQLite, REDIS_URL)', () => {
  test('a passkey signs in through /auth/redis as its /login: a bearer token kept in Redis', async (t) => {
    const redisUrl = await testRedisUrl()
    if (!redisUrl) return t.skip('Redis is not reachable')
    const service = (await startTestApp('sqlite', {
      PASSKEYS: 'true',
      PUBLIC_URL: ORIGIN,
      REDIS_URL: redisUrl,
    })) as TestApp
    try {
      const api = client(service.app)
      const who = await account(api)
      await addPasskey(api, who)
      const res = await api.post('/auth/redis/login/passkey', {
        response: who.authenticator.get(await loginOptions(api, '/auth/redis')),
      })
      assert.equal(res.statusCode, 200, res.body)
      const body = res.json()
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'token_type'])
      assert.equal((await api.get('/users/me', body.access_token)).json().email, who.email)
      const sessions = (await api.get('/users/me/sessions', body.access_token)).json()
      // the password login of account() is a jwt session of the same user
      assert.deepEqual(sessions.map((s: { backend: string }) => s.backend).sort(), ['jwt', 'redis'])
    } finally {
      await service.close()
    }
  })
})
