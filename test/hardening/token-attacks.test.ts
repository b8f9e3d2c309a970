/**
 * Token attacks refused, on every database (SECURITY.md "Tokens"): alg none, other HMACs,
 * HS/RS confusion, wrong audience, tampered header or payload, expired, not yet valid, unknown
 * `crit`, foreign or embedded keys, and every token type replayed as another (reset, verify,
 * oauth-state, refresh and access tokens), against the access token (HS256, and the asymmetric
 * JWT_PRIVATE_KEY_FILE setup), the reset token and the verification token. Each suite ends
 * with the genuine token accepted, so every refusal is the forgery's.
 */
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import { decodeJwt, decodeProtectedHeader, exportJWK, SignJWT } from 'jose'
import { signJwt } from '../../src/core/tokens.js'
import { startFlow } from '../../src/oauth/state.js'
import { client, type Response, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { type DatabaseKind, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { startSmtpServer } from '../support/smtp.js'

const ADMIN = { email: 'admin@example.com', password: 'admin-password-123' }
const PASSWORD = 'correct-horse-battery'
const OTHER_SECRET = 'an-attacker-secret-that-is-long-enough-000'
const AUD = {
  auth: 'fastapi-users:auth',
  reset: 'fastapi-users:reset',
  verify: 'fastapi-users:verify',
  state: 'fastapi-users:oauth-state',
}

const reply = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]
const now = () => Math.floor(Date.now() / 1000)

const UNAUTHORIZED = [401, { detail: 'Unauthorized' }]
const RESET_BAD_TOKEN = [400, { detail: 'RESET_PASSWORD_BAD_TOKEN' }]
const VERIFY_BAD_TOKEN = [400, { detail: 'VERIFY_USER_BAD_TOKEN' }]

// ---------------------------------------------------------------------------------------------
// Forging: any header, any payload, any key, without a library's opinion on what is allowed.

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
type Claims = Record<string, unknown>
type Header = Record<string, unknown>

const HASHES: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }

/** A JWS signed with HMAC (`hash` from the header's alg unless given) over the exact bytes. */
function hmacToken(header: Header, claims: Claims, secret: string | Buffer, hash?: string): string {
  const input = `${b64(header)}.${b64(claims)}`
  const algorithm = hash ?? HASHES[String(header.alg)] ?? 'sha256'
  return `${input}.${createHmac(algorithm, secret).update(input).digest('base64url')}`
}

/** A JWS signed with an RSA private key (RS256) over the exact bytes. */
function rsaToken(header: Header, claims: Claims, key: KeyObject): string {
  const input = `${b64(header)}.${b64(claims)}`
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`
}

const unsigned = (header: Header, claims: Claims, signature = '') => `${b64(header)}.${b64(claims)}.${signature}`

/** The token with its payload replaced, header and signature kept. */
function withPayload(token: string, claims: Claims): string {
  const [header, , signature] = token.split('.')
  return `${header}.${b64(claims)}.${signature}`
}

/** The token with its header replaced, payload and signature kept. */
function withHeader(token: string, header: Header): string {
  const [, payload, signature] = token.split('.')
  return `${b64(header)}.${payload}.${signature}`
}

// ---------------------------------------------------------------------------------------------
// The service

type Api = ReturnType<typeof client>

function service(kind: DatabaseKind, env: () => Record<string, string> = () => ({})) {
  let started: TestApp | null = null
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>
  before(async () => {
    smtp = await startSmtpServer()
    started = await startTestApp(kind, {
      SMTP_URL: smtp.url,
      FIRST_SUPERUSER_EMAIL: ADMIN.email,
      FIRST_SUPERUSER_PASSWORD: ADMIN.password,
      ...env(),
    })
  })
  after(async () => {
    await started?.close()
    await smtp?.close()
  })
  const linkToken = async (email: string, kind: 'reset-password' | 'verify') => {
    const pattern = new RegExp(`/${kind}\\?token=(\\S+)`)
    const mail = await smtp.waitForMail((m) => m.to.includes(email) && pattern.test(m.text))
    smtp.messages.splice(smtp.messages.indexOf(mail), 1)
    return decodeURIComponent((mail.text.match(pattern) as RegExpMatchArray)[1] as string)
  }
  const self = {
    it(name: string, body: (api: Api) => Promise<void>) {
      test(name, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body(client(started.app))
      })
    },
    async user(api: Api) {
      const email = newEmail()
      const res = await api.register(email, PASSWORD)
      assert.equal(res.statusCode, 201, res.body)
      const login = (await api.login(email, PASSWORD)).json()
      return {
        ...(res.json() as { id: string; email: string }),
        access: login.access_token,
        refresh: login.refresh_token,
      }
    },
    async resetToken(api: Api, email: string) {
      assert.equal((await api.post('/auth/forgot-password', { email })).statusCode, 202)
      return linkToken(email, 'reset-password')
    },
    async verifyToken(api: Api, email: string) {
      assert.equal((await api.post('/auth/request-verify-token', { email })).statusCode, 202)
      return linkToken(email, 'verify')
    },
  }
  return self
}

const me = (api: Api, token: string) => api.get('/users/me', token)

async function assertAllRefused(
  forged: Record<string, string>,
  attempt: (token: string) => Promise<Response>,
  refusal: unknown[],
) {
  for (const [what, token] of Object.entries(forged)) {
    assert.deepEqual(reply(await attempt(token)), refusal, what)
  }
}

/** The attacks every HMAC-signed token type must refuse, from a genuine token of that type. */
function hmacForgeries(genuine: string, audience: string | string[], other: { id: string; email: string }) {
  const claims = decodeJwt(genuine) as Claims
  const header = decodeProtectedHeader(genuine) as Header
  const fresh = { ...claims, aud: audience, exp: now() + 600 }
  return {
    'alg none, no signature': unsigned({ alg: 'none', typ: 'JWT' }, fresh),
    'alg none, the genuine signature': withHeader(genuine, { alg: 'none', typ: 'JWT' }),
    'alg NONE': unsigned({ alg: 'NONE', typ: 'JWT' }, fresh),
    'alg HS384 with SECRET': hmacToken({ alg: 'HS384', typ: 'JWT' }, fresh, TEST_SECRET),
    'alg HS512 with SECRET': hmacToken({ alg: 'HS512', typ: 'JWT' }, fresh, TEST_SECRET),
    'alg RS256 over an HMAC signature': hmacToken({ alg: 'RS256', typ: 'JWT' }, fresh, TEST_SECRET, 'sha256'),
    'header alg changed, signature kept': withHeader(genuine, { ...header, alg: 'HS512' }),
    'signed with another secret': hmacToken({ alg: 'HS256', typ: 'JWT' }, fresh, OTHER_SECRET),
    'payload tampered: sub of another user': withPayload(genuine, { ...claims, sub: other.id }),
    'payload tampered: e-mail of another user': withPayload(genuine, { ...claims, email: other.email }),
    'payload tampered: exp pushed back': withPayload(genuine, { ...claims, exp: now() + 86_400 }),
    'expired (properly signed)': hmacToken({ alg: 'HS256', typ: 'JWT' }, { ...fresh, exp: now() - 5 }, TEST_SECRET),
    'not yet valid (nbf ahead)': hmacToken({ alg: 'HS256', typ: 'JWT' }, { ...fresh, nbf: now() + 600 }, TEST_SECRET),
    'unknown crit header (properly signed)': hmacToken(
      { alg: 'HS256', typ: 'JWT', crit: ['urn:example:must-understand'], 'urn:example:must-understand': true },
      fresh,
      TEST_SECRET,
    ),
    'crit b64=false (properly signed)': hmacToken({ alg: 'HS256', b64: false, crit: ['b64'] }, fresh, TEST_SECRET),
    'no audience (properly signed)': hmacToken({ alg: 'HS256', typ: 'JWT' }, { ...fresh, aud: undefined }, TEST_SECRET),
    'a foreign audience (properly signed)': hmacToken(
      { alg: 'HS256', typ: 'JWT' },
      { ...fresh, aud: ['other'] },
      TEST_SECRET,
    ),
    'empty string': '',
    'garbage with dots': 'a.b.c',
    'five parts (JWE-shaped)': `${genuine}.x.y`,
  }
}

/** The same claims re-signed properly for each other audience. */
function otherAudiences(genuine: string, except: string): Record<string, string> {
  const claims = decodeJwt(genuine) as Claims
  return Object.fromEntries(
    Object.entries(AUD)
      .filter(([, aud]) => aud !== except)
      .map(([name, aud]) => [
        `re-signed for the ${name} audience`,
        hmacToken({ alg: 'HS256', typ: 'JWT' }, { ...claims, aud, exp: now() + 600 }, TEST_SECRET),
      ]),
  )
}

test('the tokens we sign are byte for byte what jose signs', async () => {
  const claims = { sub: 'x', aud: AUD.reset, password_fgpt: 'é☃' }
  const clock = () => new Date(1_700_000_000_000)
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    const ours = await signJwt(claims, { secret: TEST_SECRET, algorithm: alg }, 3600, clock)
    const jose = await new SignJWT({ ...claims, exp: 1_700_003_600 })
      .setProtectedHeader({ alg, typ: 'JWT' })
      .sign(new TextEncoder().encode(TEST_SECRET))
    assert.equal(ours, jose, alg)
  }
})

for (const kind of databaseKinds()) {
  describe(`token attacks on ${kind}`, () => {
    describe('HS256 access tokens', () => {
      const s = service(kind)

      s.it('GET /users/me refuses every forgery and every other token type with 401', async (api) => {
        const alice = await s.user(api)
        const bob = await s.user(api)
        const state = await startFlow(TEST_SECRET, { provider: 'github', userId: alice.id }, 600)
        assert.equal(decodeJwt(state.state).sub, alice.id, 'an association state names the user')
        await assertAllRefused(
          {
            ...hmacForgeries(alice.access, [AUD.auth], bob),
            ...otherAudiences(alice.access, AUD.auth),
            'a reset token': await s.resetToken(api, alice.email),
            'a verification token': await s.verifyToken(api, alice.email),
            'an oauth-state token naming the user': state.state,
            'a refresh token': alice.refresh,
            'sub not a UUID': hmacToken(
              { alg: 'HS256' },
              { sub: 'admin', aud: [AUD.auth], exp: now() + 60 },
              TEST_SECRET,
            ),
            'no sub': hmacToken({ alg: 'HS256' }, { aud: [AUD.auth], exp: now() + 60 }, TEST_SECRET),
          },
          (token) => me(api, token),
          UNAUTHORIZED,
        )
        // The genuine token, and the same claims signed properly (a string aud too), are accepted.
        assert.equal((await me(api, alice.access)).json().id, alice.id)
        const resigned = hmacToken(
          { alg: 'HS256', typ: 'JWT' },
          { ...decodeJwt(alice.access), aud: AUD.auth },
          TEST_SECRET,
        )
        assert.equal((await me(api, resigned)).json().id, alice.id)
      })

      s.it(
        'reset-password refuses every forgery and every other token type; the genuine token then works',
        async (api) => {
          const alice = await s.user(api)
          const bob = await s.user(api)
          const genuine = await s.resetToken(api, alice.email)
          const claims = decodeJwt(genuine) as Claims
          await assertAllRefused(
            {
              ...hmacForgeries(genuine, AUD.reset, bob),
              ...otherAudiences(genuine, AUD.reset),
              'an access token': alice.access,
              'a verification token': await s.verifyToken(api, alice.email),
              'an oauth-state token': (await startFlow(TEST_SECRET, { provider: 'github', userId: alice.id }, 600))
                .state,
              'no password fingerprint (properly signed)': hmacToken(
                { alg: 'HS256', typ: 'JWT' },
                { ...claims, password_fgpt: undefined },
                TEST_SECRET,
              ),
              "another user's fingerprint": withPayload(genuine, {
                ...claims,
                password_fgpt: (decodeJwt(await s.resetToken(api, bob.email)) as Claims).password_fgpt,
              }),
            },
            (token) => api.post('/auth/reset-password', { token, password: 'a-new-password-1' }),
            RESET_BAD_TOKEN,
          )
          assert.deepEqual(
            reply(await api.post('/auth/reset-password', { token: genuine, password: 'a-new-password-1' })),
            [200, null],
          )
        },
      )

      s.it('verify refuses every forgery, every other token type and a token for a changed e-mail', async (api) => {
        const alice = await s.user(api)
        const bob = await s.user(api)
        const genuine = await s.verifyToken(api, alice.email)
        await assertAllRefused(
          {
            ...hmacForgeries(genuine, AUD.verify, bob),
            ...otherAudiences(genuine, AUD.verify),
            'an access token': alice.access,
            'a reset token': await s.resetToken(api, alice.email),
            'an oauth-state token': (await startFlow(TEST_SECRET, { provider: 'github', userId: alice.id }, 600)).state,
          },
          (token) => api.post('/auth/verify', { token }),
          VERIFY_BAD_TOKEN,
        )
        const verified = await api.post('/auth/verify', { token: genuine })
        assert.deepEqual([verified.statusCode, verified.json().is_verified], [200, true])

        // A verification token dies when the address changes, and stays dead when someone else takes
        // the old address.
        const carol = await s.user(api)
        const beforeChange = await s.verifyToken(api, carol.email)
        const moved = newEmail('moved')
        assert.equal((await api.patch('/users/me', { email: moved }, carol.access)).statusCode, 200)
        assert.deepEqual(reply(await api.post('/auth/verify', { token: beforeChange })), VERIFY_BAD_TOKEN)
        assert.equal((await api.register(carol.email, PASSWORD)).statusCode, 201)
        assert.deepEqual(reply(await api.post('/auth/verify', { token: beforeChange })), VERIFY_BAD_TOKEN)
        const afterChange = await s.verifyToken(api, moved)
        assert.equal((await api.post('/auth/verify', { token: afterChange })).statusCode, 200)
      })
    })

    describe('RS256 access tokens (JWT_PRIVATE_KEY_FILE)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fastify-users-keys-'))
      const ours = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const publicPem = ours.publicKey.export({ type: 'spki', format: 'pem' }).toString()
      const keyFile = join(dir, 'private.pem')
      writeFileSync(keyFile, ours.privateKey.export({ type: 'pkcs8', format: 'pem' }))
      after(() => rmSync(dir, { recursive: true, force: true }))
      const s = service(kind, () => ({ JWT_PRIVATE_KEY_FILE: keyFile }))

      s.it(
        'GET /users/me refuses key confusion, foreign and embedded keys, none, crit and wrong claims with 401',
        async (api) => {
          const alice = await s.user(api)
          const bob = await s.user(api)
          const header = decodeProtectedHeader(alice.access) as Header
          assert.equal(header.alg, 'RS256')
          const claims = { ...(decodeJwt(alice.access) as Claims), exp: now() + 600 }
          const attackerJwk = await exportJWK(attacker.publicKey)
          await assertAllRefused(
            {
              'HS256 signed with the public key PEM (alg confusion)': hmacToken(
                { ...header, alg: 'HS256' },
                claims,
                publicPem,
              ),
              'HS256 signed with the public key PEM, no kid': hmacToken(
                { alg: 'HS256', typ: 'JWT' },
                claims,
                publicPem,
              ),
              'HS256 signed with SECRET': hmacToken({ alg: 'HS256', typ: 'JWT' }, claims, TEST_SECRET),
              'alg none': unsigned({ ...header, alg: 'none' }, claims),
              'alg none with the genuine signature': withHeader(alice.access, { ...header, alg: 'none' }),
              'our kid, the attacker key': rsaToken(header, claims, attacker.privateKey),
              'a foreign kid, the attacker key': rsaToken(
                { ...header, kid: 'attacker-key' },
                claims,
                attacker.privateKey,
              ),
              'a foreign kid, our key': rsaToken({ ...header, kid: 'attacker-key' }, claims, ours.privateKey),
              'the attacker key embedded as jwk': rsaToken(
                { alg: 'RS256', typ: 'JWT', jwk: attackerJwk },
                claims,
                attacker.privateKey,
              ),
              'the attacker key set named by jku': rsaToken(
                { alg: 'RS256', typ: 'JWT', jku: 'https://attacker.example/jwks.json', kid: 'attacker-key' },
                claims,
                attacker.privateKey,
              ),
              'PS256 header over our RS256 signature': withHeader(alice.access, { ...header, alg: 'PS256' }),
              'payload tampered: sub of another user': withPayload(alice.access, { ...claims, sub: bob.id }),
              'unknown crit (signed with our key)': rsaToken(
                { ...header, crit: ['urn:example:must-understand'], 'urn:example:must-understand': 1 },
                claims,
                ours.privateKey,
              ),
              'expired (signed with our key)': rsaToken(header, { ...claims, exp: now() - 5 }, ours.privateKey),
              'nbf ahead (signed with our key)': rsaToken(header, { ...claims, nbf: now() + 600 }, ours.privateKey),
              'the reset audience (signed with our key)': rsaToken(
                header,
                { ...claims, aud: AUD.reset },
                ours.privateKey,
              ),
              'a reset token': await s.resetToken(api, alice.email),
              'an oauth-state token': (await startFlow(TEST_SECRET, { provider: 'github', userId: alice.id }, 600))
                .state,
            },
            (token) => me(api, token),
            UNAUTHORIZED,
          )
          assert.equal((await me(api, alice.access)).json().id, alice.id)
          assert.equal((await me(api, rsaToken(header, claims, ours.privateKey))).json().id, alice.id)
        },
      )

      s.it(
        'reset and verification tokens stay HS256 with SECRET: one signed with the private key is refused',
        async (api) => {
          const alice = await s.user(api)
          const reset = decodeJwt(await s.resetToken(api, alice.email)) as Claims
          const verify = decodeJwt(await s.verifyToken(api, alice.email)) as Claims
          const rs = (claims: Claims) => rsaToken({ alg: 'RS256', typ: 'JWT' }, claims, ours.privateKey)
          assert.deepEqual(
            reply(await api.post('/auth/reset-password', { token: rs(reset), password: 'a-new-password-1' })),
            RESET_BAD_TOKEN,
          )
          assert.deepEqual(reply(await api.post('/auth/verify', { token: rs(verify) })), VERIFY_BAD_TOKEN)
          assert.deepEqual(
            reply(await api.post('/auth/verify', { token: hmacToken({ alg: 'HS256' }, verify, publicPem) })),
            VERIFY_BAD_TOKEN,
          )
        },
      )
    })
  })
}
