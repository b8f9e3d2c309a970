import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import {
  authenticationBackend,
  type BaseUser,
  BearerTransport,
  FastifyUsers,
  JWTStrategy,
  UserManager,
} from '../../src/index.js'
import { createKyselyUserStore, migrateToLatest, openDatabase } from '../../src/kysely.js'

// @fastify/jwt and @fastify/auth loaded untyped: their declaration of `request.user` would clash (TS2717)
// with src/request-user.ts, which this repository's type check includes. The typed program that has
// both is test/package's consumer.
const require = createRequire(import.meta.url)
const fastifyJwt = require('@fastify/jwt') as FastifyPluginAsync<{ secret: string }>
const fastifyAuth = require('@fastify/auth') as FastifyPluginAsync

const SECRET = 'neighbours-test-secret-0123456789abcdef'
type Loose = FastifyInstance & {
  jwt: { sign(payload: object): string }
  auth(fns: unknown[]): never
}

async function setUp(jwt: 'none' | 'before' | 'after') {
  const database = openDatabase('sqlite::memory:')
  await migrateToLatest(database)
  const manager = new UserManager<BaseUser>({ store: createKyselyUserStore(database), secret: SECRET })
  const strategy = new JWTStrategy<BaseUser>({ secret: SECRET, lifetimeSeconds: 60 })
  const backend = authenticationBackend({ name: 'jwt', transport: new BearerTransport({ tokenUrl: 'x' }), strategy })
  const users = new FastifyUsers({ manager, backends: [backend] })
  const app = Fastify() as unknown as Loose
  app.addHook('onClose', () => database.close())
  if (jwt === 'before') await app.register(fastifyJwt, { secret: 'a-secret-of-fastify-jwt-0123456789' })
  await app.register(users.plugin)
  if (jwt === 'after') await app.register(fastifyJwt, { secret: 'a-secret-of-fastify-jwt-0123456789' })
  const seen = (request: { user?: unknown; currentUser: BaseUser | null }) => ({
    user: request.user ?? null,
    current: request.currentUser?.email ?? null,
  })
  app.get('/ours', { preValidation: users.currentUser() }, async (request) => seen(request))
  if (jwt !== 'none') {
    await app.register(fastifyAuth)
    const jwtVerify = async (request: { jwtVerify(): Promise<unknown> }) => void (await request.jwtVerify())
    app.get('/either', { preHandler: app.auth([users.currentUser(), jwtVerify]) }, async (request) => seen(request))
  }
  await app.ready()
  const ada = await manager.create({ email: 'ada@example.com', password: 'analytical-engine' })
  const get = async (url: string, token?: string) => {
    const res = await app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} })
    return [res.statusCode, res.json()]
  }
  return { app, get, ours: await strategy.writeToken(ada), adaId: ada.id }
}

describe('beside @fastify/jwt and @fastify/auth', () => {
  test('without them, currentUser() fills request.currentUser and request.user', async () => {
    const { app, get, ours, adaId } = await setUp('none')
    try {
      const [status, body] = await get('/ours', ours)
      assert.equal(status, 200)
      assert.equal((body as { user: { id: string } }).user.id, adaId)
      assert.equal((body as { current: string }).current, 'ada@example.com')
      assert.equal((await get('/ours'))[0], 401)
    } finally {
      await app.close()
    }
  })

  for (const order of ['before', 'after'] as const) {
    test(`@fastify/jwt registered ${order} users.plugin keeps request.user, ours is request.currentUser`, async () => {
      const { app, get, ours } = await setUp(order)
      try {
        assert.deepEqual(await get('/ours', ours), [200, { user: null, current: 'ada@example.com' }])
        const service = app.jwt.sign({ service: 'billing' })
        const [status, body] = await get('/either', service)
        assert.equal(status, 200)
        assert.deepEqual({ ...(body as { user: object }).user, iat: 0 }, { service: 'billing', iat: 0 })
        assert.equal((body as { current: unknown }).current, null)
        assert.deepEqual(await get('/either', ours), [200, { user: null, current: 'ada@example.com' }])
        assert.equal((await get('/either'))[0], 401)
      } finally {
        await app.close()
      }
    })
  }
})
