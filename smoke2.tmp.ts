import { buildApp } from './server/app'
import { loadConfig } from './server/config'

const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'error' }))
const r = await app.inject({
  method: 'POST',
  url: '/auth/register',
  payload: { email: 'a@example.com', password: 'abcdefghij', first_name: 'A' },
})
console.log(r.statusCode, r.body)
await app.close()
