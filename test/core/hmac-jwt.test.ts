import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { jwtVerify, SignJWT } from 'jose'
import { HmacJwtVerifier } from '../../src/core/hmac-jwt.js'

const SECRET = 'test-secret-that-is-long-enough-0123456789'
const AUD = 'fastapi-users:auth'
const NOW = Date.UTC(2026, 0, 1) // ms
const nowSeconds = NOW / 1000
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** A token with exactly this header and payload, signed with the secret (whatever the header says). */
function forge(header: unknown, payload: unknown, secret = SECRET, digest = 'sha256'): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac(digest, secret).update(input).digest('base64url')}`
}

async function joseAccepts(token: string): Promise<boolean> {
  try {
    await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ['HS256'],
      audience: [AUD],
      currentDate: new Date(NOW),
    })
    return true
  } catch {
    return false
  }
}

const verifier = new HmacJwtVerifier(SECRET, 'HS256', [AUD])
const valid = { sub: 'user', aud: [AUD], exp: nowSeconds + 60 }

describe('HmacJwtVerifier', () => {
  test('accepts what jose signs, with the audience as a string or in a list', async () => {
    for (const aud of [AUD, [AUD], ['other', AUD]]) {
      const token = await new SignJWT({ sub: 'user', aud, exp: nowSeconds + 60 })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .sign(new TextEncoder().encode(SECRET))
      assert.deepEqual(verifier.verify(token, NOW), { sub: 'user', aud, exp: nowSeconds + 60 })
    }
  })

  test('refuses each attack jose refuses', async () => {
    const cases: Record<string, string> = {
      'alg none': `${b64({ alg: 'none' })}.${b64(valid)}.`,
      'alg HS512 signed with the secret': forge({ alg: 'HS512' }, valid, SECRET, 'sha512'),
      'alg HS384': forge({ alg: 'HS384' }, valid, SECRET, 'sha384'),
      'alg RS256 header over an HMAC': forge({ alg: 'RS256' }, valid),
      'unknown crit': forge({ alg: 'HS256', crit: ['exp'] }, valid),
      'wrong secret': forge({ alg: 'HS256' }, valid, 'another-secret-that-is-long-enough-012345'),
      'wrong audience': forge({ alg: 'HS256' }, { ...valid, aud: 'fastapi-users:reset' }),
      'no audience': forge({ alg: 'HS256' }, { sub: 'user', exp: nowSeconds + 60 }),
      expired: forge({ alg: 'HS256' }, { ...valid, exp: nowSeconds }),
      'exp as a string': forge({ alg: 'HS256' }, { ...valid, exp: String(nowSeconds + 60) }),
      'nbf ahead': forge({ alg: 'HS256' }, { ...valid, nbf: nowSeconds + 1 }),
      'iat as a string': forge({ alg: 'HS256' }, { ...valid, iat: 'yesterday' }),
      'payload an array': forge({ alg: 'HS256' }, [valid]),
      'payload not JSON': forge({ alg: 'HS256' }, 'not json'),
      'header an array': forge([{ alg: 'HS256' }], valid),
      'four parts': `${forge({ alg: 'HS256' }, valid)}.x`,
      'two parts': forge({ alg: 'HS256' }, valid).split('.').slice(0, 2).join('.'),
      'standard base64 characters': forge({ alg: 'HS256' }, valid).replace(/-/g, '+'),
      'invalid UTF-8 payload': (() => {
        const input = `${b64({ alg: 'HS256' })}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}`
        return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
      })(),
    }
    for (const [name, token] of Object.entries(cases)) {
      assert.equal(verifier.verify(token, NOW), null, name)
      assert.equal(await joseAccepts(token), false, `jose agrees: ${name}`)
    }
  })

  test('a remembered token is still refused once it has expired, and its payload cannot be changed', () => {
    const cached = new HmacJwtVerifier(SECRET, 'HS256', [AUD], 10)
    const token = forge({ alg: 'HS256' }, { ...valid, nbf: nowSeconds - 10 })
    const payload = cached.verify(token, NOW)
    assert.equal(payload?.sub, 'user')
    assert.equal(cached.verify(token, NOW + 59_000)?.sub, 'user')
    assert.equal(cached.verify(token, NOW + 60_000), null, 'exp reached')
    assert.equal(cached.verify(token, NOW - 11_000), null, 'nbf ahead')
    assert.throws(() => {
      ;(payload as { sub: string }).sub = 'admin'
    }, TypeError)
    // a token with a bad signature is never remembered, however often it comes
    const forged = forge({ alg: 'HS256' }, valid, 'another-secret-that-is-long-enough-012345')
    for (let i = 0; i < 3; i++) assert.equal(cached.verify(forged, NOW), null)
  })

  test('refuses base64 padding, which jose tolerates', () => {
    assert.equal(verifier.verify(`${forge({ alg: 'HS256' }, valid)}=`, NOW), null)
  })

  test('a tampered payload, header or signature is refused', () => {
    const token = forge({ alg: 'HS256', typ: 'JWT' }, valid)
    assert.ok(verifier.verify(token, NOW))
    const [h, p, s] = token.split('.') as [string, string, string]
    const admin = b64({ ...valid, sub: 'admin' })
    assert.equal(verifier.verify(`${h}.${admin}.${s}`, NOW), null)
    assert.equal(verifier.verify(`${b64({ alg: 'HS256' })}.${p}.${s}`, NOW), null)
    const flipped = Buffer.from(s, 'base64url')
    flipped[0] = (flipped[0] as number) ^ 1
    assert.equal(verifier.verify(`${h}.${p}.${flipped.toString('base64url')}`, NOW), null)
  })

  test('agrees with jose on generated tokens (fast-check)', async () => {
    const claim = fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: nowSeconds - 5, max: nowSeconds + 5 }),
      fc.string(),
      fc.constant(null),
    )
    const header = fc.record(
      {
        alg: fc.constantFrom('HS256', 'HS384', 'none', 'RS256', 'hs256'),
        typ: fc.constantFrom('JWT', 'jwt', 'at+jwt'),
        kid: fc.string(),
        crit: fc.constantFrom(['b64'], ['exp'], []),
      },
      { requiredKeys: ['alg'] },
    )
    const payload = fc.record(
      {
        sub: fc.string(),
        aud: fc.oneof(fc.constant(AUD), fc.constant([AUD]), fc.string(), fc.array(fc.string())),
        exp: claim,
        nbf: claim,
        iat: claim,
      },
      { requiredKeys: [] },
    )
    await fc.assert(
      fc.asyncProperty(header, payload, fc.boolean(), async (h, p, rightSecret) => {
        const token = forge(h, p, rightSecret ? SECRET : 'x'.repeat(40))
        assert.equal(verifier.verify(token, NOW) !== null, await joseAccepts(token))
      }),
      { seed: 20261124, numRuns: 2000 },
    )
  })
})
