/**
 * The JWT algorithms PyJWT offers that apps use, besides RS256/ES256/EdDSA (jwks.test.ts): RS384, RS512,
 * PS256, PS384, PS512, ES384, ES512 from PEM files, and HS384/HS512 with SECRET. Each signs the service's
 * tokens, and tokens minted by jose the way PyJWT writes them (no `kid`) are accepted; another algorithm
 * with the same key is not. On every database, one database per kind shared by the instances.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import { decodeProtectedHeader, importPKCS8, importSPKI, jwtVerify, SignJWT } from 'jose'
import { ConfigError, loadConfig } from '../../server/config.js'
import { client, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'

const AUDIENCE = ['fastapi-users:auth']
const PASSWORD = 'a-long-enough-password'
const ASYMMETRIC = ['RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES384', 'ES512'] as const
const CURVES: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fastify-users-jwt-algs-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

let counter = 0
/** A fresh key pair for the algorithm, in PEM files. */
function keyPair(alg: string, options: { rsaBits?: number; curve?: string } = {}) {
  const pair = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: options.curve ?? (CURVES[alg] as string) })
    : generateKeyPairSync('rsa', { modulusLength: options.rsaBits ?? 2048 })
  const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const privateFile = join(dir, `key-${++counter}.pem`)
  writeFileSync(privateFile, privatePem)
  return { privateFile, privatePem, publicPem }
}

/** A token as PyJWT's jwt.encode writes it: header {alg, typ}, no kid. */
async function pyjwtToken(claims: Record<string, unknown>, alg: string, key: Parameters<SignJWT['sign']>[0]) {
  return new SignJWT({ ...claims, aud: AUDIENCE })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setExpirationTime('1h')
    .sign(key)
}

for (const kind of databaseKinds()) {
  describe(`JWT algorithms PyJWT offers (${kind})`, () => {
    let database: TestDatabase | null = null
    before(async () => {
      database = await createTestDatabase(kind)
    })
    after(async () => database?.drop())

    /** The service with these variables on the suite's database, for one test. */
    const withService = async (
      t: TestContext,
      env: Record<string, string>,
      body: (started: TestApp) => Promise<void>,
    ) => {
      if (!database) return t.skip(`${kind} is not reachable locally`)
      const started = await startTestApp(kind, env, { database })
      if (!started) return t.skip(`${kind} is not reachable locally`)
      try {
        await body(started)
      } finally {
        await started.close()
      }
    }

    /** Registers and logs in: the user's id and access token. */
    const signIn = async (started: TestApp) => {
      const api = client(started.app)
      const email = newEmail('alg')
      const registered = await api.register(email, PASSWORD)
      assert.equal(registered.statusCode, 201, registered.body)
      return { api, id: registered.json().id as string, token: await api.token(email, PASSWORD) }
    }

    for (const alg of ASYMMETRIC) {
      test(`${alg}: the service signs with it, publishes it, and accepts PyJWT-style tokens of the key`, async (t) => {
        const keys = keyPair(alg)
        await withService(t, { JWT_PRIVATE_KEY_FILE: keys.privateFile, JWT_ALGORITHM: alg }, async (started) => {
          const { api, id, token } = await signIn(started)
          assert.equal(decodeProtectedHeader(token).alg, alg)
          const publicKey = await importSPKI(keys.publicPem, alg)
          const { payload } = await jwtVerify(token, publicKey, { algorithms: [alg], audience: AUDIENCE })
          assert.equal(payload.sub, id)
          assert.equal((await api.get('/users/me', token)).statusCode, 200)
          const jwks = (await api.get('/.well-known/jwks.json')).json()
          assert.deepEqual(
            jwks.keys.map((k: { alg: string; use: string }) => [k.alg, k.use]),
            [[alg, 'sig']],
          )

          const privateKey = await importPKCS8(keys.privatePem, alg)
          const minted = await pyjwtToken({ sub: id }, alg, privateKey)
          assert.deepEqual(
            [(await api.get('/users/me', minted)).statusCode, (await api.get('/users/me', minted)).json().id],
            [200, id],
          )
          // the same key under another algorithm of its family is refused: the algorithm is pinned
          const other = alg.startsWith('ES') ? null : alg.startsWith('RS') ? 'PS256' : 'RS256'
          if (other) {
            const otherToken = await pyjwtToken({ sub: id }, other, await importPKCS8(keys.privatePem, other))
            assert.deepEqual([(await api.get('/users/me', otherToken)).statusCode], [401])
          }
          const hs = await pyjwtToken({ sub: id }, 'HS256', new TextEncoder().encode(TEST_SECRET))
          assert.equal((await api.get('/users/me', hs)).statusCode, 401)
        })
      })
    }

    for (const alg of ['HS384', 'HS512'] as const) {
      test(`${alg} with SECRET: the service signs with it and accepts PyJWT's tokens; HS256 ones are refused`, async (t) => {
        await withService(t, { JWT_ALGORITHM: alg }, async (started) => {
          const { api, id, token } = await signIn(started)
          assert.deepEqual([decodeProtectedHeader(token).alg, decodeProtectedHeader(token).kid], [alg, undefined])
          const secret = new TextEncoder().encode(TEST_SECRET)
          assert.equal((await api.get('/users/me', await pyjwtToken({ sub: id }, alg, secret))).statusCode, 200)
          assert.equal((await api.get('/users/me', await pyjwtToken({ sub: id }, 'HS256', secret))).statusCode, 401)
        })
      })
    }
  })
}

test('JWT_ALGORITHM: checked against the keys; EC curves choose ES256/384/512 when unset', () => {
  const refused = (env: Record<string, string>, message: RegExp) =>
    assert.throws(
      () => loadConfig(env),
      (error: ConfigError) => error instanceof ConfigError && error.problems.some((p) => message.test(p)),
      JSON.stringify(env),
    )
  for (const alg of ['ES256', 'ES384', 'ES512']) {
    assert.equal(loadConfig({ JWT_PRIVATE_KEY_FILE: keyPair(alg).privateFile }).jwtKeys?.algorithm, alg)
  }
  const rsa = keyPair('RS256').privateFile
  assert.equal(loadConfig({ JWT_PRIVATE_KEY_FILE: rsa }).jwtKeys?.algorithm, 'RS256')
  assert.equal(loadConfig({ JWT_PRIVATE_KEY_FILE: rsa, JWT_ALGORITHM: 'PS512' }).jwtKeys?.algorithm, 'PS512')
  assert.equal(loadConfig({}).jwtHmacAlgorithm, 'HS256')
  assert.equal(loadConfig({ JWT_ALGORITHM: 'HS512' }).jwtHmacAlgorithm, 'HS512')
  refused(
    { JWT_PRIVATE_KEY_FILE: keyPair('ES256').privateFile, JWT_ALGORITHM: 'ES384' },
    /ES384 needs an EC key on secp384r1/,
  )
  refused({ JWT_PRIVATE_KEY_FILE: keyPair('ES256').privateFile, JWT_ALGORITHM: 'PS256' }, /PS256 needs an RSA key/)
  refused({ JWT_PRIVATE_KEY_FILE: rsa, JWT_ALGORITHM: 'ES512' }, /ES512 needs an EC key/)
  refused({ JWT_PRIVATE_KEY_FILE: rsa, JWT_ALGORITHM: 'HS256' }, /^JWT_ALGORITHM must be one of RS256/)
  refused({ JWT_PRIVATE_KEY_FILE: keyPair('RS256', { rsaBits: 1024 }).privateFile }, /at least 2048 bits/)
  refused({ JWT_ALGORITHM: 'RS384' }, /^JWT_ALGORITHM=RS384 needs JWT_PRIVATE_KEY_FILE/)
  refused({ JWT_ALGORITHM: 'none' }, /^JWT_ALGORITHM must be one of HS256/)
  refused(
    {
      JWT_PRIVATE_KEY_FILE: keyPair('ES384').privateFile,
      JWT_PUBLIC_KEY_FILES: writePublic(keyPair('ES256').publicPem),
    },
    /every key must be of the signing key's type \(ES384\)/,
  )
})

function writePublic(pem: string): string {
  const file = join(dir, `pub-${++counter}.pem`)
  writeFileSync(file, pem)
  return file
}
