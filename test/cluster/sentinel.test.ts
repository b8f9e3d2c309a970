/**
 * Redis beyond one server: the reference service finds its Redis through a private Sentinel the
 * test starts (REDIS_URL=redis+sentinel://…, and REDIS_SENTINELS + REDIS_SENTINEL_NAME), and follows
 * the primary when Sentinel fails it over to the replica.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { createTestDatabase } from '../support/databases.js'
import { call, type Instance, startInstances, stopInstances } from '../support/instance.js'
import {
  type PrivateRedis,
  type PrivateSentinel,
  startPrivateRedis,
  startPrivateSentinel,
  waitUntil,
} from '../support/outage.js'

const NAME = 'mymaster'
const CREDENTIALS = { username: 'sentinel@example.com', password: 'sentinel-password-1' }

test('through Sentinel: Redis sessions work on instances configured by URL and by variables, across a failover', async (t) => {
  const database = await createTestDatabase('postgres')
  if (!database) return t.skip('PostgreSQL is not reachable')
  let primary: PrivateRedis | null = null
  let replica: PrivateRedis | null = null
  let sentinel: PrivateSentinel | null = null
  let instances: Instance[] = []
  try {
    primary = await startPrivateRedis()
    if (!primary) return t.skip('redis-server is not installed')
    replica = await startPrivateRedis(['--replicaof', '127.0.0.1', String(primary.port)])
    sentinel = await startPrivateSentinel(primary.port, NAME)
    if (!replica || !sentinel) return t.skip('redis-server is not installed')
    const byUrl = { DATABASE_URL: database.url, REDIS_URL: `redis+sentinel://127.0.0.1:${sentinel.port}/${NAME}` }
    const byVariables = {
      DATABASE_URL: database.url,
      REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      REDIS_SENTINEL_NAME: NAME,
    }
    instances = [...(await startInstances(1, byUrl)), ...(await startInstances(1, byVariables))]
    const [a, b] = instances as [Instance, Instance]
    for (const instance of instances) {
      assert.deepEqual((await call(instance, 'GET', '/ready')).slice(0, 2), [
        200,
        { status: 'ok', checks: { database: 'ok', redis: 'ok' } },
      ])
    }
    const json = { email: CREDENTIALS.username, password: CREDENTIALS.password, first_name: 'S' }
    assert.equal((await call(a, 'POST', '/auth/register', { json }))[0], 201)
    const [status, login] = await call<{ access_token: string }>(a, 'POST', '/auth/redis/login', { form: CREDENTIALS })
    assert.equal(status, 200)
    assert.equal((await call(b, 'GET', '/users/me', { token: login.access_token }))[0], 200)
    // the session is on the primary Sentinel names, the one server neither instance was told of
    const direct = new Redis(primary.url)
    assert.ok(await direct.get(`fastapi_users_token:${login.access_token}`))
    direct.disconnect()
    // Redis replicates asynchronously: a write the primary acknowledged can be lost when a failover
    // comes before the replica has it. The test forces one, so it waits for the replica first.
    const replicated = new Redis(replica.url)
    await waitUntil(
      'the replica has the session',
      async () => (await replicated.get(`fastapi_users_token:${login.access_token}`)) !== null,
      30_000,
    )
    replicated.disconnect()

    // failover: the replica becomes the primary; the instances follow it without a restart
    const sentinelClient = sentinel.client()
    await waitUntil(
      'Sentinel knows the replica',
      async () => ((await sentinelClient.call('SENTINEL', 'REPLICAS', NAME)) as unknown[]).length > 0,
      30_000,
    )
    await sentinelClient.call('SENTINEL', 'FAILOVER', NAME)
    await waitUntil(
      'Sentinel names the replica as primary',
      async () =>
        ((await sentinelClient.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[])[1] ===
        String(replica?.port),
      30_000,
    )
    sentinelClient.disconnect()
    await primary.kill() // the old primary is gone for good
    let after: [number, unknown] = [0, null]
    await waitUntil(
      'a login through the new primary',
      async () => {
        after = (await call(b, 'POST', '/auth/redis/login', { form: CREDENTIALS })).slice(0, 2) as [number, unknown]
        return after[0] === 200
      },
      30_000,
    )
    const token = (after[1] as { access_token: string }).access_token
    // The other instance's client may still be reading from the demoted primary for a moment (a
    // replica that has not got the write yet); it moves to the new primary within the failover.
    await waitUntil(
      'the other instance reads the session written after the failover',
      async () => (await call(a, 'GET', '/users/me', { token }))[0] === 200,
      30_000,
    )
    const promoted = new Redis(replica.url)
    assert.ok(await promoted.get(`fastapi_users_token:${token}`))
    // the session written before the failover was replicated and still works
    assert.equal((await call(a, 'GET', '/users/me', { token: login.access_token }))[0], 200)
    promoted.disconnect()
  } finally {
    await stopInstances(instances).catch((error) => console.error(error))
    await sentinel?.destroy()
    await replica?.destroy()
    await primary?.destroy()
    await database.drop()
  }
})
