import { createHmac, createSecretKey } from 'node:crypto'
import { SignJWT } from 'jose'
import { HmacJwtVerifier } from '../src/core/hmac-jwt'

const secret = 'x'.repeat(40)
const token = await new SignJWT({
  sub: '0b6a3f4e-4e5f-4f3a-9d8e-1b2c3d4e5f60',
  aud: ['fastapi-users:auth'],
  first_name: 'Bench',
  role: 'user',
  pfp: 'abcdefghijklmnop',
  exp: Math.floor(Date.now() / 1000) + 3600,
})
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .sign(new TextEncoder().encode(secret))
const v = new HmacJwtVerifier(secret, 'HS256', ['fastapi-users:auth'])
const N = 200000
const time = (name: string, f: () => unknown) => {
  for (let i = 0; i < 20000; i++) f()
  const t = performance.now()
  for (let i = 0; i < N; i++) f()
  console.log(name, (((performance.now() - t) * 1000) / N).toFixed(2), 'µs')
}
const key = createSecretKey(Buffer.from(secret))
const input = token.slice(0, token.lastIndexOf('.'))
time('verify', () => v.verify(token))
time('hmac only', () => createHmac('sha256', key).update(input).digest())
time('hmac string key', () => createHmac('sha256', secret).update(input).digest())
const m = new Map([[token, 1]])
time('map get', () => m.get(token))
