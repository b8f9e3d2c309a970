import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import {
  authenticationBackend,
  type BaseUser,
  BearerTransport,
  FastifyUsers,
  JWTStrategy,
  ServiceUnavailable,
  UserManager,
} from '../../src/index.js'
import { createKyselyUserStore, openDatabase } from '../../src/kysely.js'

const SECRET = 'unavailable-test-secret-0123456789abcdef'

// Nothing listens on port 1: the database is "down". Requests that need it answer 503 quickly.
for (const url of ['postgres://postgres@127.0.0.1:1/test', 'mysql://root@127.0.0.1:1/test']) {
  test(`a database that cannot be reached gives 503 SERVICE_UNAVAILABLE (${url.split(':')[0]})`, async () => {
    const database = openDatabase(url, { timeoutMs: 1000 })
    const manager = new UserManager<BaseUser>({ store: createKyselyUserStore(database), secret: SECRET })
    await assert.rejects(manager.getByEmail('a@example.com'), ServiceUnavailable)

    const strategy = new JWTStrategy<BaseUser>({ secret: SECRET, lifetimeSeconds: 60 })
    const jwt = authenticationBackend({
      name: 'jwt',
      transport: new BearerTransport({ tokenUrl: 'auth/jwt/login' }),
      strategy,
    })
    const users = new FastifyUsers({ manager, backends: [jwt] })
    const app = Fastify()
    await app.register(users.authRouter(jwt), { prefix: '/auth/jwt' })
    await app.register(users.usersRouter(), { prefix: '/users' })
    try {
      const token = await strategy.writeToken({
        id: '26354c41-3655-47e8-a1b8-62a165d08b7d',
        hashed_password: 'x',
      } as BaseUser)
      const me = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })
      assert.deepEqual([me.statusCode, me.json()], [503, { detail: 'SERVICE_UNAVAILABLE' }])
      const login = await app.inject({
        method: 'POST',
        url: '/auth/jwt/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'username=a%40example.com&password=whatever-pw',
      })
      assert.deepEqual([login.statusCode, login.json()], [503, { detail: 'SERVICE_UNAVAILABLE' }])
    } finally {
      await app.close()
      await database.close()
    }
  })
}
