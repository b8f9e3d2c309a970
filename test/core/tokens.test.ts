import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { UnsecuredJWT } from 'jose'
import { AUDIENCE, fingerprintMatches, passwordFingerprint, signJwt, verifyJwt } from '../../src/core/tokens.js'

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/fastapi-users/fastapi-users-12.1.2.json', import.meta.url), 'utf8'),
)
const key = { secret: fixture.secret as string }
// The fixture's tokens were issued with a one-hour lifetime; read them with the clock of that hour.
const issuedAt = (token: string) =>
  new Date((JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp - 1800) * 1000)

test('tokens fastapi-users issued are read with the same secret', async () => {
  const { access_alice, reset_alice, verify_carol } = fixture.tokens
  const access = await verifyJwt(access_alice, key, AUDIENCE.auth, () => issuedAt(access_alice))
  assert.equal(access?.sub, 'cfe4be8d-5d2a-4fe2-b057-f5ed69ebf9ca')
  assert.equal(access?.first_name, 'Alice')
  const reset = await verifyJwt(reset_alice, key, AUDIENCE.reset, () => issuedAt(reset_alice))
  assert.match(String(reset?.password_fgpt), /^\$2b\$12\$/)
  const verify = await verifyJwt(verify_carol, key, AUDIENCE.verify, () => issuedAt(verify_carol))
  assert.equal(verify?.email, 'carol@example.com')
})

test('a token is refused for another purpose, once expired, or with another secret', async () => {
  const { access_alice } = fixture.tokens
  const during = () => issuedAt(access_alice)
  assert.equal(await verifyJwt(access_alice, key, AUDIENCE.reset, during), null)
  assert.equal(await verifyJwt(access_alice, key, AUDIENCE.auth), null) // expired now
  assert.equal(await verifyJwt(access_alice, { secret: 'another-secret' }, AUDIENCE.auth, during), null)
})

test('the algorithm is pinned: none and other HMACs are refused', async () => {
  const claims = { sub: 'x', aud: AUDIENCE.auth }
  const unsigned = new UnsecuredJWT(claims).setExpirationTime('1h').encode()
  assert.equal(await verifyJwt(unsigned, key, AUDIENCE.auth), null)
  const hs512 = await signJwt(claims, { ...key, algorithm: 'HS512' }, 60)
  assert.equal(await verifyJwt(hs512, key, AUDIENCE.auth), null)
  assert.ok(await verifyJwt(await signJwt(claims, key, 60), key, AUDIENCE.auth))
})

test('our reset fingerprint matches only the hash it was made from', () => {
  const fingerprint = passwordFingerprint('$argon2id$hash-one', key.secret)
  assert.equal(fingerprintMatches(fingerprint, '$argon2id$hash-one', key.secret), true)
  assert.equal(fingerprintMatches(fingerprint, '$argon2id$hash-two', key.secret), false)
  assert.equal(fingerprintMatches(fingerprint, '$argon2id$hash-one', 'other-secret'), false)
  assert.equal(fingerprintMatches('$2b$12$legacy', '$argon2id$hash-one', key.secret), 'legacy')
})
