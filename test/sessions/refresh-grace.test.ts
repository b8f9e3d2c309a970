/**
 * Refresh without races (#17): a refresh token spent less than REFRESH_REUSE_INTERVAL seconds ago
 * (default 10) is answered with the same successor, so two tabs refreshing at once both stay signed
 * in; a reuse after the interval, or once the successor is spent, still revokes the family. On every
 * database, both id models, and across two instances of the service on one database.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, type TestContext, test } from 'node:test'
import { RefreshTokens, UserManager } from 'fastify-users'
import {
  createKyselyRefreshTokenStore,
  createKyselyUserStore,
  migrateToLatest,
  openDatabase,
} from 'fastify-users/kysely'
import { type User, userFields } from '../../server/user.js'
import type { RefreshTokenStore } from '../../src/stores/kysely/refresh-token-store.js'
import { client, startTestApp, TEST_SECRET } from '../support/app.js'
import { createTestDatabase, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { idModels } from '../support/id-models.js'
import {
  type Api,
  assertMe,
  bearer,
  bearerLogin,
  bearerRefresh,
  registered,
  reply,
  rows,
  service,
  sleep,
  UNAUTHORIZED,
} from './helpers.js'

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

/** N refreshes of one token at once: [status, refresh_token] of each. */
async function parallelRefreshes(api: Api, token: string, n: number) {
  const results = await Promise.all(Array.from({ length: n }, () => bearerRefresh(api, token)))
  return results.map((r) => {
    assert.equal(r.statusCode, 200, r.body)
    return r.json() as { access_token: string; refresh_token: string }
  })
}

/** A user signed in at /auth/jwt: its e-mail and the login's refresh token. */
async function signedIn(api: Api) {
  const user = await registered(api)
  const login = await bearerLogin(api, '/auth/jwt', user.email)
  return { user, refresh: login.refresh_token as string }
}

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}: refresh reuse interval, default 10 s (${model.name} ids)`, () => {
      const { it } = service(kind, model.env)

      it('two parallel refreshes of one token: both 200 with the same successor; both access tokens work', async ({
        api,
      }) => {
        const { user, refresh } = await signedIn(api)
        const [a, b] = (await parallelRefreshes(api, refresh, 2)) as [
          { access_token: string; refresh_token: string },
          { access_token: string; refresh_token: string },
        ]
        assert.equal(a.refresh_token, b.refresh_token)
        assert.notEqual(a.refresh_token, refresh)
        assert.match(a.refresh_token, /^[A-Za-z0-9_-]{43}$/)
        await assertMe(api, bearer(a.access_token), user.email)
        await assertMe(api, bearer(b.access_token), user.email)
        // The user stays signed in: the successor rotates as usual, once.
        const next = await bearerRefresh(api, a.refresh_token)
        assert.equal(next.statusCode, 200, next.body)
        assert.notEqual(next.json().refresh_token, a.refresh_token)
        await assertMe(api, bearer(next.json().access_token), user.email)
      })

      it('N (8) parallel refreshes: all 200, one successor, one new row (stored hashed)', async ({ api, db }) => {
        const { user, refresh } = await signedIn(api)
        const answers = await parallelRefreshes(api, refresh, 8)
        const successors = new Set(answers.map((a) => a.refresh_token))
        assert.equal(successors.size, 1)
        const [successor] = [...successors] as [string]
        const found = await rows(db, 'refresh_token', ['user_id', user.id])
        assert.deepEqual(found.map((r) => r.token_hash).sort(), [sha256(refresh), sha256(successor)].sort())
        assert.equal(found.find((r) => r.token_hash === sha256(successor))?.used_at, null)
        assert.ok(!JSON.stringify(found).includes(successor), 'the successor is not stored in clear')
        assert.equal((await bearerRefresh(api, successor)).statusCode, 200)
      })

      it('a second tab a moment later, within the interval: the same successor', async ({ api }) => {
        const { refresh } = await signedIn(api)
        const first = await bearerRefresh(api, refresh)
        await sleep(200)
        const second = await bearerRefresh(api, refresh)
        assert.equal(second.statusCode, 200, second.body)
        assert.equal(second.json().refresh_token, first.json().refresh_token)
      })

      it('a replay once the successor is spent, even within the interval, revokes the family (401)', async ({
        api,
      }) => {
        const { refresh } = await signedIn(api)
        const successor = (await bearerRefresh(api, refresh)).json().refresh_token as string
        const third = (await bearerRefresh(api, successor)).json().refresh_token as string
        assert.deepEqual(reply(await bearerRefresh(api, refresh)), UNAUTHORIZED)
        assert.deepEqual(reply(await bearerRefresh(api, third)), UNAUTHORIZED, 'the family is dead')
        assert.deepEqual(reply(await bearerRefresh(api, successor)), UNAUTHORIZED)
      })

      it('the window answers only the token’s own successor: another login’s family is untouched', async ({ api }) => {
        const { user, refresh } = await signedIn(api)
        const other = (await bearerLogin(api, '/auth/jwt', user.email)).refresh_token as string
        const [a] = await parallelRefreshes(api, refresh, 3)
        const [b] = await parallelRefreshes(api, other, 3)
        assert.notEqual(a?.refresh_token, b?.refresh_token)
      })
    })

    describe(`${kind}: refresh reuse interval of 1 s (${model.name} ids)`, () => {
      const { it } = service(kind, { ...model.env, REFRESH_REUSE_INTERVAL: '1' })

      it('a late reuse (after the interval) still kills the family: 401, and the successor stops working', async ({
        api,
      }) => {
        const { refresh } = await signedIn(api)
        const successor = (await bearerRefresh(api, refresh)).json().refresh_token as string
        await sleep(2100)
        assert.deepEqual(reply(await bearerRefresh(api, refresh)), UNAUTHORIZED)
        assert.deepEqual(reply(await bearerRefresh(api, successor)), UNAUTHORIZED)
      })

      it('two instances on one database: parallel refreshes on both share the successor; a late reuse on one kills it on the other', async ({
        api,
        started,
      }) => {
        const other = await startTestApp(
          kind,
          { ...model.env, REFRESH_REUSE_INTERVAL: '1' },
          { database: started.database },
        )
        assert.ok(other)
        try {
          const second = client(other.app)
          const { user, refresh } = await signedIn(api)
          const [a, b] = await Promise.all([bearerRefresh(api, refresh), bearerRefresh(second, refresh)])
          assert.deepEqual([a.statusCode, b.statusCode], [200, 200], `${a.body} ${b.body}`)
          assert.equal(a.json().refresh_token, b.json().refresh_token)
          await assertMe(second, bearer(a.json().access_token), user.email)
          await sleep(2100)
          assert.deepEqual(reply(await bearerRefresh(second, refresh)), UNAUTHORIZED)
          assert.deepEqual(reply(await bearerRefresh(api, a.json().refresh_token)), UNAUTHORIZED)
        } finally {
          await other.close()
        }
      })
    })
  }
}

test('RefreshTokens: a reuse interval needs the secret its successors are derived with (TypeError)', async () => {
  const database = openDatabase('sqlite::memory:')
  const store = createKyselyRefreshTokenStore(database)
  assert.throws(() => new RefreshTokens({ store, reuseIntervalSeconds: 10 }), TypeError)
  assert.throws(() => new RefreshTokens({ store, reuseIntervalSeconds: -1, secret: 's' }), TypeError)
  assert.equal(new RefreshTokens({ store }).reuseIntervalSeconds, 0)
  assert.equal(new RefreshTokens({ store, reuseIntervalSeconds: 5, secret: 's' }).reuseIntervalSeconds, 5)
  await database.close()
})

/** A store whose inserts wait until `open()`: a rotation held between its checks and its successor's row. */
function gatedInserts(store: RefreshTokenStore) {
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  let arrived: () => void = () => {}
  const waiting = new Promise<void>((resolve) => {
    arrived = resolve
  })
  const gated: RefreshTokenStore = {
    ...store,
    async create(row) {
      arrived()
      await gate
      return store.create(row)
    },
    // the rotation's own insert, conditional on the spent row (the store's one-statement path)
    ...(store.createSuccessor && {
      async createSuccessor(row: Parameters<NonNullable<RefreshTokenStore['createSuccessor']>>[0], spentHash: string) {
        arrived()
        await gate
        return store.createSuccessor!(row, spentHash)
      },
    }),
  }
  return { store: gated, open, waiting }
}

for (const kind of databaseKinds()) {
  const reuseIntervalSeconds = 10
  test(`${kind}: a logout while a refresh of its token is under way leaves no live successor (interval ${reuseIntervalSeconds} s)`, async (t: TestContext) => {
    const testDb = await createTestDatabase(kind)
    if (!testDb) return t.skip(`${kind} is not reachable locally`)
    const database = openDatabase(testDb.url)
    try {
      await migrateToLatest(database, { fields: userFields })
      const manager = new UserManager<User>({
        store: createKyselyUserStore<User>(database, userFields),
        secret: TEST_SECRET,
      })
      const user = await manager.create(
        { email: newEmail('gate'), password: 'gate-password-123', first_name: null },
        { safe: false },
      )
      const store = createKyselyRefreshTokenStore(database)
      const plain = new RefreshTokens({ store, reuseIntervalSeconds, secret: TEST_SECRET })
      const token = await plain.issue(user, 'jwt')
      const gated = gatedInserts(store)
      const slow = new RefreshTokens({ store: gated.store, reuseIntervalSeconds, secret: TEST_SECRET })
      const rotation = slow.rotate(token, 'jwt', manager)
      await gated.waiting
      await plain.revoke(token) // the logout, on another request (or instance)
      gated.open()
      assert.equal(await rotation, null)
      const left = await database.db.selectFrom('refresh_token').selectAll().where('user_id', '=', user.id).execute()
      assert.deepEqual(left, [], 'no row of the family is left')
    } finally {
      await database.close()
      await testDb.drop()
    }
  })
}
