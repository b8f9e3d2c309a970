import { buildApp } from '../server/app'
import { loadConfig } from '../server/config'

const config = loadConfig({
  SECRET: 'x'.repeat(40),
  DATABASE_URL: 'sqlite:/tmp/micro/db.sqlite',
  LOG_LEVEL: 'silent',
  BENCH_CEILING_ROUTE: 'true',
})
const app = await buildApp(config, { logger: false })
await app.ready()
await app.inject({
  method: 'POST',
  url: '/auth/register',
  payload: { email: 'm@example.com', password: 'micro-password-1', first_name: 'M' },
})
const login = await app.inject({
  method: 'POST',
  url: '/auth/jwt/login',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: 'username=m@example.com&password=micro-password-1',
})
const token = login.json().access_token
const users = (app as any).users
const backend = users.options?.backends?.[0] ?? (users as any).backends?.[0]
const manager = users.manager ?? users.options?.manager
const strategy = backend.strategy
const N = 50000
for (let i = 0; i < 5000; i++) await strategy.readToken(token, manager)
let t = performance.now()
for (let i = 0; i < N; i++) await strategy.readToken(token, manager)
console.log('readToken µs', (((performance.now() - t) * 1000) / N).toFixed(2))
t = performance.now()
for (let i = 0; i < N; i++) await manager.get((await strategy.readToken(token, manager)).id)
const id = (await strategy.readToken(token, manager)).id
t = performance.now()
for (let i = 0; i < N; i++) await manager.get(id)
console.log('manager.get µs', (((performance.now() - t) * 1000) / N).toFixed(2))
t = performance.now()
for (let i = 0; i < N; i++) (strategy as any).hmac.verify(token)
console.log('hmac verify µs', (((performance.now() - t) * 1000) / N).toFixed(2))
const M = 20000
t = performance.now()
for (let i = 0; i < M; i++) await app.inject({ method: 'GET', url: '/bench/ceiling' })
console.log('inject ceiling µs', (((performance.now() - t) * 1000) / M).toFixed(2))
t = performance.now()
for (let i = 0; i < M; i++)
  await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })
console.log('inject me µs', (((performance.now() - t) * 1000) / M).toFixed(2))
await app.close()
