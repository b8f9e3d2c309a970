/**
 * Asymmetric access tokens (RS256, ES256, EdDSA) from PEM files, the public keys at
 * /.well-known/jwks.json verified with jose's remote key set against the listening service,
 * key rotation across restarts on one database, forged tokens, and HS256 staying the default.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importPKCS8,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { client, TEST_SECRET } from '../support/app.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'
import {
  type Api,
  assertMe,
  assertRefused,
  bearer,
  bearerLogin,
  bearerRefresh,
  PASSWORD,
  postLogin,
  registered,
  reply,
} from './helpers.js'

type Alg = 'ES256' | 'RS256' | 'EdDSA'
const AUDIENCE = 'fastapi-users:auth'
const KIND = databaseKinds()[0] ?? 'sqlite'

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fastify-users-keys-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

let keyCounter = 0
/** A fresh key pair of the algorithm's type in PEM files: { privateFile, publicFile, privatePem, publicPem }. */
function keyPair(alg: Alg) {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'RS256'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519')
  const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const n = ++keyCounter
  const privateFile = join(dir, `key-${n}.pem`)
  const publicFile = join(dir, `key-${n}.pub.pem`)
  writeFileSync(privateFile, privatePem)
  writeFileSync(publicFile, publicPem)
  return { alg, privateFile, publicFile, privatePem, publicPem }
}
type KeyPair = ReturnType<typeof keyPair>

interface Running {
  app: FastifyInstance
  api: Api
  /** http://127.0.0.1:<port> */
  url: string
}

/** The reference service on `database` with `env`, listening on a loopback port. */
async function start(database: TestDatabase, env: Record<string, string>): Promise<Running> {
  const config = loadConfig({ SECRET: TEST_SECRET, DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...env })
  const app = await buildApp(config, { logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  assert.ok(address && typeof address === 'object')
  return { app, api: client(app), url: `http://127.0.0.1:${address.port}` }
}

const keyEnv = (signing: KeyPair, retired: KeyPair[] = []) => ({
  JWT_PRIVATE_KEY_FILE: signing.privateFile,
  ...(retired.length ? { JWT_PUBLIC_KEY_FILES: retired.map((k) => k.publicFile).join(',') } : {}),
})

async function jwks(running: Running): Promise<{ keys: JWK[] }> {
  const res = await running.api.get('/.well-known/jwks.json')
  assert.equal(res.statusCode, 200, res.body)
  assert.match(String(res.headers['content-type']), /^application\/json/)
  return res.json()
}

/** Verifies `token` the way another service would: jose's remote key set over HTTP. */
function verifyRemotely(running: Running, token: string, alg: Alg) {
  const keySet = createRemoteJWKSet(new URL(`${running.url}/.well-known/jwks.json`))
  return jwtVerify(token, keySet, { audience: AUDIENCE, algorithms: [alg] })
}

/** One database shared by the services a test starts one after the other (restarts). */
function onOneDatabase() {
  let database: TestDatabase | null = null
  const running: Running[] = []
  before(async () => {
    database = await createTestDatabase(KIND)
  })
  after(async () => {
    for (const r of running) await r.app.close()
    await database?.drop()
  })
  const it = (name: string, body: (boot: (env: Record<string, string>) => Promise<Running>) => Promise<void>) =>
    test(name, async (t: TestContext) => {
      if (!database) return t.skip(`${KIND} is not reachable locally`)
      const db = database
      await body(async (env) => {
        const r = await start(db, env)
        running.push(r)
        return r
      })
    })
  return it
}

/** Stops a service now (a restart), leaving the database. */
const stop = (running: Running) => running.app.close()

for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
  describe(`${alg} from JWT_PRIVATE_KEY_FILE`, () => {
    const it = onOneDatabase()

    it('JWKS lists the public key with kid, alg and use; a login token verifies through it', async (boot) => {
      const key = keyPair(alg)
      const running = await boot(keyEnv(key))
      const { keys } = await jwks(running)
      assert.equal(keys.length, 1)
      const [jwk] = keys as [JWK]
      assert.equal(jwk.alg, alg)
      assert.equal(jwk.use, 'sig')
      assert.equal(jwk.kty, { ES256: 'EC', RS256: 'RSA', EdDSA: 'OKP' }[alg])
      if (alg === 'ES256') assert.equal(jwk.crv, 'P-256')
      if (alg === 'EdDSA') assert.equal(jwk.crv, 'Ed25519')
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])
        assert.equal((jwk as Record<string, unknown>)[secret], undefined, secret)
      const { kid: _kid, alg: _alg, use: _use, ...bare } = jwk
      assert.equal(jwk.kid, await calculateJwkThumbprint(bare), 'kid is the JWK thumbprint')

      const user = await registered(running.api)
      const login = await bearerLogin(running.api, '/auth/jwt', user.email)
      const header = decodeProtectedHeader(login.access_token)
      assert.deepEqual(header, { alg, typ: 'JWT', kid: jwk.kid })

      const { payload, protectedHeader } = await verifyRemotely(running, login.access_token, alg)
      assert.equal(payload.sub, user.id)
      assert.deepEqual(payload.aud, [AUDIENCE])
      assert.equal(protectedHeader.kid, jwk.kid)
      await assertMe(running.api, bearer(login.access_token), user.email)

      // A refreshed access token is signed the same way.
      const refreshed = (await bearerRefresh(running.api, login.refresh_token as string)).json()
      assert.deepEqual(decodeProtectedHeader(refreshed.access_token), { alg, typ: 'JWT', kid: jwk.kid })
      assert.equal((await verifyRemotely(running, refreshed.access_token, alg)).payload.sub, user.id)
    })

    it('forged tokens are refused (401): unknown kid, another key under our kid or without kid, HS256 with the public key, HS256 with SECRET, alg none; PyJWT tokens (no kid) of our key are accepted', async (boot) => {
      const key = keyPair(alg)
      const running = await boot(keyEnv(key))
      const [jwk] = (await jwks(running)).keys as [JWK]
      const user = await registered(running.api)
      const claims = { sub: String(user.id), aud: [AUDIENCE], exp: Math.floor(Date.now() / 1000) + 600 }
      const stranger = keyPair(alg)
      const strangerKey = await importPKCS8(stranger.privatePem, alg)
      const ownKey = await importPKCS8(key.privatePem, alg)
      const forged = {
        'unknown kid, our own key': await new SignJWT(claims)
          .setProtectedHeader({ alg, typ: 'JWT', kid: 'unknown-kid' })
          .sign(ownKey),
        'another key under our kid': await new SignJWT(claims)
          .setProtectedHeader({ alg, typ: 'JWT', kid: jwk.kid as string })
          .sign(strangerKey),
        'HS256 with the public key PEM (alg confusion)': await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: jwk.kid as string })
          .sign(new TextEncoder().encode(key.publicPem)),
        'HS256 with SECRET': await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .sign(new TextEncoder().encode(TEST_SECRET)),
        'alg none': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: jwk.kid })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`,
      }
      for (const [what, token] of Object.entries(forged)) await assertRefused(running.api, bearer(token), what)
      // The same claims, signed properly, are accepted: the refusals above are the forgeries'.
      const genuine = await new SignJWT(claims)
        .setProtectedHeader({ alg, typ: 'JWT', kid: jwk.kid as string })
        .sign(ownKey)
      await assertMe(running.api, bearer(genuine), user.email)
      // Without a kid, as PyJWT (and so fastapi-users' JWTStrategy) writes tokens: our own key's signature is checked.
      const pyjwt = await new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(ownKey)
      await assertMe(running.api, bearer(pyjwt), user.email)
      const strangers = await new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(strangerKey)
      await assertRefused(running.api, bearer(strangers), 'no kid, another key')
    })
  })
}

describe('key rotation across restarts (ES256)', () => {
  const it = onOneDatabase()

  it('the old public key in JWT_PUBLIC_KEY_FILES keeps old tokens valid; new tokens carry the new kid', async (boot) => {
    const oldKey = keyPair('ES256')
    const newKey = keyPair('ES256')
    const first = await boot(keyEnv(oldKey))
    const user = await registered(first.api)
    const oldToken = (await bearerLogin(first.api, '/auth/jwt', user.email)).access_token
    const oldKid = decodeProtectedHeader(oldToken).kid
    await stop(first)

    const second = await boot(keyEnv(newKey, [oldKey]))
    await assertMe(second.api, bearer(oldToken), user.email)
    const newToken = (await bearerLogin(second.api, '/auth/jwt', user.email)).access_token
    const newKid = decodeProtectedHeader(newToken).kid
    assert.ok(newKid && newKid !== oldKid, 'new tokens carry the new kid')
    const kids = (await jwks(second)).keys.map((k) => k.kid)
    assert.deepEqual(kids, [newKid, oldKid], 'the JWKS lists the signing key first, then the retired one')
    assert.equal((await verifyRemotely(second, oldToken, 'ES256')).payload.sub, user.id)
    assert.equal((await verifyRemotely(second, newToken, 'ES256')).payload.sub, user.id)
    await stop(second)

    // Retired for good: the old public key is no longer listed and its tokens are refused.
    const third = await boot(keyEnv(newKey))
    assert.deepEqual(
      (await jwks(third)).keys.map((k) => k.kid),
      [newKid],
    )
    await assertRefused(third.api, bearer(oldToken), 'a token of the removed key')
    await assertMe(third.api, bearer(newToken), user.email)
  })

  it('rotating to a key of another type (ES256 → RS256) keeps old tokens valid, or is refused at start', async (boot) => {
    const oldKey = keyPair('ES256')
    const newKey = keyPair('RS256')
    const first = await boot(keyEnv(oldKey))
    const user = await registered(first.api)
    const oldToken = (await bearerLogin(first.api, '/auth/jwt', user.email)).access_token
    await stop(first)

    let second: Running
    try {
      second = await boot(keyEnv(newKey, [oldKey]))
    } catch (error) {
      // Refused at start with a configuration error: acceptable, the operator is told at once.
      assert.match((error as Error).message, /JWT_PUBLIC_KEY_FILES|JWT_PRIVATE_KEY_FILE/)
      return
    }
    const login = await postLogin(second.api, '/auth/jwt', user.email, PASSWORD)
    assert.equal(login.statusCode, 200, `login after the rotation: ${login.statusCode} ${login.body}`)
    assert.equal(decodeProtectedHeader(login.json().access_token).alg, 'RS256')
    await assertMe(second.api, bearer(oldToken), user.email)
  })
})

describe('HS256 stays the default', () => {
  const it = onOneDatabase()

  it('without JWT_PRIVATE_KEY_FILE tokens are HS256 without kid and /.well-known/jwks.json is {"keys":[]}', async (boot) => {
    const running = await boot({})
    assert.deepEqual(reply(await running.api.get('/.well-known/jwks.json')), [200, { keys: [] }])
    const user = await registered(running.api)
    const { access_token } = await bearerLogin(running.api, '/auth/jwt', user.email)
    assert.deepEqual(decodeProtectedHeader(access_token), { alg: 'HS256', typ: 'JWT' })
    const { payload } = await jwtVerify(access_token, new TextEncoder().encode(TEST_SECRET), { audience: AUDIENCE })
    assert.equal(payload.sub, user.id)
    assert.deepEqual(Object.keys(decodeJwt(access_token)).sort(), [
      'aud',
      'exp',
      'first_name',
      'pfp',
      'role',
      'sid',
      'sub',
    ])
  })
})
