/**
 * The audit log's read routes in the reference service, on every database: GET /users/me/events (a
 * user's own events, never another's, without the e-mail typed) and GET /audit-events (superusers,
 * filtered), newest first, a cursor at a time; 401/403 before 422; the users routes beside them
 * unchanged. Events are recorded through `app.users.audit` (the routes' own events are another suite's).
 * Then the service's wiring: AUDIT_LOG, events flushed on a clean shutdown, retention at start.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { AuthEventInput } from '../../src/index.js'
import { client, json, startTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'

const ADMIN = { email: 'audit-admin@example.com', password: 'admin-password-123' }
const SUPERUSER_ENV = { FIRST_SUPERUSER_EMAIL: ADMIN.email, FIRST_SUPERUSER_PASSWORD: ADMIN.password }
const PASSWORD = 'correct-horse-battery'
const UNAUTHORIZED = [401, { detail: 'Unauthorized' }]
const FORBIDDEN = [403, { detail: 'Forbidden' }]
const DAY = 24 * 3600 * 1000

async function record(app: FastifyInstance, events: AuthEventInput[]) {
  const log = app.users.audit
  assert.ok(log, 'the service keeps an audit log')
  for (const event of events) log.record(event)
  await log.flush()
}

/** Every item of every page, following `next` from the first page of `url`. */
async function walk(app: FastifyInstance, url: string, token: string) {
  const api = client(app)
  const items: Record<string, unknown>[] = []
  let next: string | null = null
  for (let pages = 0; pages < 50; pages++) {
    const res = await api.get(next ? `${url}&before=${next}` : url, token)
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json()
    items.push(...body.items)
    next = body.next
    if (next === null) return { items, pages: pages + 1 }
  }
  throw new Error('no last page')
}

/** The 422 a bad query parameter gets, as FastAPI words it. */
function queryError(res: { statusCode: number; json(): { detail: { loc: unknown[]; type: string }[] } }) {
  assert.equal(res.statusCode, 422)
  return res.json().detail.map((d) => [d.loc.join('.'), d.type])
}

for (const kind of databaseKinds()) {
  describe(`${kind}: GET /users/me/events and GET /audit-events`, () => {
    let service: TestApp | null
    let app: FastifyInstance
    const people: Record<'alice' | 'bob', { id: string; email: string; token: string }> = {} as never
    let admin: string

    before(async () => {
      service = await startTestApp(kind, SUPERUSER_ENV)
      if (!service) return
      app = service.app
      const api = client(app)
      for (const name of ['alice', 'bob'] as const) {
        const email = newEmail(`audit-${name}`)
        const res = await api.register(email, PASSWORD)
        assert.equal(res.statusCode, 201, res.body)
        people[name] = { id: String(res.json().id), email, token: await api.token(email, PASSWORD) }
      }
      admin = await api.token(ADMIN.email, ADMIN.password)
      const { alice, bob } = people
      await record(app, [
        { type: 'login.succeeded', outcome: 'success', user_id: alice.id, backend: 'jwt', ip: '192.0.2.1' },
        {
          type: 'login.failed',
          outcome: 'failure',
          user_id: alice.id,
          email: alice.email.toUpperCase(),
          reason: 'LOGIN_BAD_CREDENTIALS',
          backend: 'jwt',
          user_agent: 'Agent/2',
          request_id: 'req-7',
        },
        { type: 'login.failed', outcome: 'failure', email: 'nobody@example.com', reason: 'LOGIN_BAD_CREDENTIALS' },
        { type: 'logout', outcome: 'success', user_id: bob.id, backend: 'jwt' },
        {
          type: 'user.updated',
          outcome: 'success',
          user_id: alice.id,
          actor_id: 'admin-id',
          detail: { fields: 'first_name' },
        },
      ])
    })
    after(() => service?.close())
    const skipped = (t: { skip(msg: string): void }) => {
      if (!service) t.skip(`${kind} is not reachable locally`)
      return !service
    }

    test('a user reads its own events, newest first, with every field but the e-mail typed', async (t) => {
      if (skipped(t)) return
      const { alice } = people
      const res = await client(app).get('/users/me/events', alice.token)
      assert.equal(res.statusCode, 200, res.body)
      const body = res.json()
      assert.equal(body.next, null)
      const items = body.items.map(({ id, at, ...rest }: Record<string, unknown>) => {
        assert.match(String(id), /^[1-9]\d*$/)
        assert.ok(Math.abs(Date.parse(String(at)) - Date.now()) < 60_000, String(at))
        assert.equal(at, new Date(String(at)).toISOString())
        return rest
      })
      const none = { actor_id: null, reason: null, backend: null, ip: null, user_agent: null, request_id: null }
      assert.deepEqual(items, [
        {
          ...none,
          type: 'user.updated',
          outcome: 'success',
          user_id: alice.id,
          actor_id: 'admin-id',
          detail: { fields: 'first_name' },
        },
        {
          ...none,
          type: 'login.failed',
          outcome: 'failure',
          user_id: alice.id,
          reason: 'LOGIN_BAD_CREDENTIALS',
          backend: 'jwt',
          user_agent: 'Agent/2',
          request_id: 'req-7',
          detail: null,
        },
        {
          ...none,
          type: 'login.succeeded',
          outcome: 'success',
          user_id: alice.id,
          backend: 'jwt',
          ip: '192.0.2.1',
          detail: null,
        },
      ])
      const ids = body.items.map((e: { id: string }) => Number(e.id))
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => b - a),
      )
    })

    test('a user never sees another’s events, whatever it asks', async (t) => {
      if (skipped(t)) return
      const { alice, bob } = people
      const res = await client(app).get(`/users/me/events?user_id=${alice.id}&type=login.failed`, bob.token)
      assert.equal(res.statusCode, 200, res.body)
      assert.deepEqual(
        res.json().items.map((e: { type: string; user_id: string }) => [e.type, e.user_id]),
        [['logout', bob.id]],
      )
    })

    test('pages of /users/me/events walk every event of the user once', async (t) => {
      if (skipped(t)) return
      const email = newEmail('audit-pager')
      const api = client(app)
      const id = String((await api.register(email, PASSWORD)).json().id)
      const token = await api.token(email, PASSWORD)
      await record(
        app,
        Array.from({ length: 11 }, (_, i) => ({
          type: 'refresh',
          outcome: 'success',
          user_id: id,
          request_id: `p${i}`,
        })),
      )
      const { items, pages } = await walk(app, '/users/me/events?limit=3', token)
      assert.equal(pages, 4)
      assert.deepEqual(
        items.map((e) => e.request_id),
        Array.from({ length: 11 }, (_, i) => `p${10 - i}`),
      )
      // a page that ends exactly at the last event says so
      const first = (await api.get('/users/me/events?limit=11', token)).json()
      assert.equal(first.items.length, 11)
      assert.equal(first.next, null)
      const ten = (await api.get('/users/me/events?limit=10', token)).json()
      assert.equal(ten.next, ten.items[9].id)
      const default20 = (await api.get('/users/me/events', token)).json()
      assert.equal(default20.items.length, 11)
    })

    test('/audit-events: 401 without a user, 403 for a non-superuser, 200 for a superuser', async (t) => {
      if (skipped(t)) return
      const api = client(app)
      assert.deepEqual(json(await api.get('/audit-events')), UNAUTHORIZED)
      assert.deepEqual(json(await api.get('/audit-events', 'not-a-token')), UNAUTHORIZED)
      assert.deepEqual(json(await api.get('/audit-events', people.alice.token)), FORBIDDEN)
      // the checks come before the query's: a bad parameter is still a 401 / 403
      assert.deepEqual(json(await api.get('/audit-events?limit=0')), UNAUTHORIZED)
      assert.deepEqual(json(await api.get('/audit-events?limit=0', people.alice.token)), FORBIDDEN)
      assert.deepEqual(json(await api.get('/users/me/events?limit=0')), UNAUTHORIZED)
      const res = await api.get('/audit-events?type=login.failed', admin)
      assert.equal(res.statusCode, 200, res.body)
      // the superuser sees the e-mail typed against no account
      assert.deepEqual(
        res.json().items.map((e: { user_id: string | null; email: string | null }) => [e.user_id, e.email]),
        [
          [null, 'nobody@example.com'],
          [people.alice.id, people.alice.email.toUpperCase()],
        ],
      )
    })

    test('an inactive user reads nothing: 401', async (t) => {
      if (skipped(t)) return
      const api = client(app)
      const email = newEmail('audit-inactive')
      const id = String((await api.register(email, PASSWORD)).json().id)
      const token = await api.token(email, PASSWORD)
      assert.equal((await api.patch(`/users/${id}`, { is_active: false }, admin)).statusCode, 200)
      assert.deepEqual(json(await api.get('/users/me/events', token)), UNAUTHORIZED)
    })

    test('/audit-events filters by user (any spelling of its id), type, since and until', async (t) => {
      if (skipped(t)) return
      const { alice } = people
      const api = client(app)
      const types = async (query: string) => {
        const res = await api.get(`/audit-events?${query}`, admin)
        assert.equal(res.statusCode, 200, res.body)
        return res.json().items.map((e: { type: string }) => e.type)
      }
      const spelled = /^\d+$/.test(alice.id) ? alice.id : alice.id.toUpperCase().replace(/-/g, '')
      assert.deepEqual(await types(`user_id=${spelled}`), ['user.updated', 'login.failed', 'login.succeeded'])
      assert.deepEqual(await types(`user_id=${alice.id}&type=login.succeeded`), ['login.succeeded'])
      const old = Date.now() - 400 * DAY
      await record(app, [
        { type: 'password.changed', outcome: 'success', user_id: alice.id, at: new Date(old) },
        { type: 'password.reset', outcome: 'success', user_id: alice.id, at: new Date(old + DAY) },
      ])
      const iso = (ms: number) => new Date(ms).toISOString()
      assert.deepEqual(await types(`user_id=${alice.id}&since=${iso(old)}&until=${iso(old + DAY)}`), [
        'password.changed',
      ])
      assert.deepEqual(await types(`user_id=${alice.id}&since=${iso(old + 1)}&until=${iso(old + 2 * DAY)}`), [
        'password.reset',
      ])
      // a date alone is its midnight, UTC
      const day = iso(old + DAY).slice(0, 10)
      assert.deepEqual(await types(`user_id=${alice.id}&until=${day}`), ['password.changed'])
      assert.deepEqual(await types(`user_id=${alice.id}&type=password.reset&until=${iso(old)}`), [])
      // bounds past what every database stores (MariaDB's DATETIME: years 1000 to 9999) are no error
      const everything = await types(`user_id=${alice.id}&since=0001-01-01&until=9999-12-31T23:00:00-05:00`)
      assert.deepEqual(everything, await types(`user_id=${alice.id}`))
      assert.equal(everything.length, 5)
    })

    test('pages of /audit-events walk every event once, newest first', async (t) => {
      if (skipped(t)) return
      const { items } = await walk(app, '/audit-events?limit=2', admin)
      const all = (await client(app).get('/audit-events?limit=100', admin)).json()
      assert.equal(all.next, null)
      assert.deepEqual(items, all.items)
      const ids = items.map((e) => Number(e.id))
      assert.equal(new Set(ids).size, ids.length)
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => b - a),
      )
    })

    test('bad parameters: 422 in FastAPI’s shape, every one at once', async (t) => {
      if (skipped(t)) return
      const api = client(app)
      const admin422 = async (query: string) => queryError(await api.get(`/audit-events?${query}`, admin))
      assert.deepEqual(await admin422('limit=0'), [['query.limit', 'greater_than_equal']])
      assert.deepEqual(await admin422('limit=101'), [['query.limit', 'less_than_equal']])
      assert.deepEqual(await admin422('limit=ten'), [['query.limit', 'int_parsing']])
      assert.deepEqual(await admin422('before=0'), [['query.before', 'greater_than_equal']])
      assert.deepEqual(await admin422('before=-3'), [['query.before', 'greater_than_equal']])
      assert.deepEqual(await admin422('before=abc'), [['query.before', 'int_parsing']])
      assert.deepEqual(await admin422('type=login'), [['query.type', 'literal_error']])
      assert.deepEqual(await admin422('since=2026-02-30'), [['query.since', 'datetime_from_date_parsing']])
      assert.deepEqual(await admin422('since=yesterday&until=2026-13-40'), [
        ['query.since', 'datetime_from_date_parsing'],
        ['query.until', 'datetime_from_date_parsing'],
      ])
      const idType = /^\d+$/.test(people.alice.id) ? 'int_parsing' : 'uuid_parsing'
      assert.deepEqual(await admin422('user_id=not-an-id'), [['query.user_id', idType]])
      const res = await api.get('/users/me/events?limit=1000&before=x', people.alice.token)
      assert.deepEqual(res.json(), {
        detail: [
          {
            type: 'less_than_equal',
            loc: ['query', 'limit'],
            msg: 'Input should be less than or equal to 100',
            input: '1000',
            ctx: { le: 100 },
          },
          {
            type: 'int_parsing',
            loc: ['query', 'before'],
            msg: 'Input should be a valid integer, unable to parse string as an integer',
            input: 'x',
          },
        ],
      })
    })

    test('GET /users/me and GET /users/{id} answer as before beside /users/me/events', async (t) => {
      if (skipped(t)) return
      const api = client(app)
      const { alice } = people
      const me = await api.get('/users/me', alice.token)
      assert.deepEqual(json(me), [
        200,
        {
          id: me.json().id,
          email: alice.email,
          is_active: true,
          is_superuser: false,
          is_verified: false,
          first_name: 'Test',
        },
      ])
      assert.deepEqual(json(await api.get(`/users/${alice.id}`, admin)), [200, me.json()])
      assert.deepEqual(json(await api.get(`/users/${alice.id}`, alice.token)), FORBIDDEN)
      assert.deepEqual(json(await api.get('/users/events', admin)), [404, { detail: 'Not Found' }])
    })
  })
}

describe('the service’s wiring of the audit log (SQLite, PostgreSQL, MariaDB)', () => {
  for (const kind of databaseKinds()) {
    test(`${kind}: events recorded just before a clean shutdown are in the table for the next instance`, async (t) => {
      const database = await createTestDatabase(kind)
      if (!database) return t.skip(`${kind} is not reachable locally`)
      try {
        const first = (await startTestApp(kind, SUPERUSER_ENV, { database })) as TestApp
        const log = first.app.users.audit
        assert.ok(log)
        for (let i = 0; i < 250; i++) log.record({ type: 'refresh', outcome: 'success', request_id: `last-${i}` })
        await first.close() // no flush first: close does it before the database closes
        const second = (await startTestApp(kind, SUPERUSER_ENV, { database })) as TestApp
        try {
          const api = client(second.app)
          const admin = await api.token(ADMIN.email, ADMIN.password)
          const { items } = await walk(second.app, '/audit-events?type=refresh&limit=100', admin)
          assert.deepEqual(
            items.map((e) => e.request_id),
            Array.from({ length: 250 }, (_, i) => `last-${249 - i}`),
          )
        } finally {
          await second.close()
        }
      } finally {
        await database.drop()
      }
    })
  }

  for (const kind of databaseKinds()) {
    test(`${kind}: two instances on one database (workers) write their own events to one table and read both`, async (t) => {
      const database = await createTestDatabase(kind)
      if (!database) return t.skip(`${kind} is not reachable locally`)
      const first = (await startTestApp(kind, SUPERUSER_ENV, { database })) as TestApp
      const second = (await startTestApp(kind, SUPERUSER_ENV, { database })) as TestApp
      try {
        await Promise.all(
          [first, second].map((service, n) =>
            record(
              service.app,
              Array.from({ length: 60 }, (_, i) => ({ type: 'logout', outcome: 'success', request_id: `w${n}-${i}` })),
            ),
          ),
        )
        for (const service of [first, second]) {
          const api = client(service.app)
          const { items } = await walk(
            service.app,
            '/audit-events?type=logout&limit=50',
            await api.token(ADMIN.email, ADMIN.password),
          )
          assert.deepEqual(
            items.map((e) => e.request_id).sort(),
            [0, 1].flatMap((n) => Array.from({ length: 60 }, (_, i) => `w${n}-${i}`)).sort(),
          )
        }
      } finally {
        await first.close()
        await second.close()
        await database.drop()
      }
    })
  }

  test('sqlite: AUDIT_RETENTION_DAYS prunes at start exactly what is older; 0 keeps everything', async (t) => {
    const database = await createTestDatabase('sqlite')
    if (!database) return t.skip('sqlite')
    try {
      const ages = [1, 29, 31, 400]
      const first = (await startTestApp(
        'sqlite',
        { ...SUPERUSER_ENV, AUDIT_RETENTION_DAYS: '0' },
        { database },
      )) as TestApp
      await record(
        first.app,
        ages.map((days) => ({
          type: 'login.succeeded',
          outcome: 'success',
          request_id: `age-${days}`,
          at: new Date(Date.now() - days * DAY - 60_000),
        })),
      )
      await first.close()
      const kept = async (env: Record<string, string>) => {
        const app = (await startTestApp('sqlite', { ...SUPERUSER_ENV, ...env }, { database })) as TestApp
        await app.close() // waits for the prune started at start
        const reader = (await startTestApp(
          'sqlite',
          { ...SUPERUSER_ENV, AUDIT_RETENTION_DAYS: '0' },
          { database },
        )) as TestApp
        try {
          const api = client(reader.app)
          const res = await api.get('/audit-events?type=login.succeeded', await api.token(ADMIN.email, ADMIN.password))
          return res
            .json()
            .items.map((e: { request_id: string }) => e.request_id)
            .filter((id: string) => id.startsWith('age-'))
        } finally {
          await reader.close()
        }
      }
      assert.deepEqual(await kept({ AUDIT_RETENTION_DAYS: '0' }), ['age-400', 'age-31', 'age-29', 'age-1'])
      assert.deepEqual(await kept({ AUDIT_RETENTION_DAYS: '30' }), ['age-29', 'age-1'])
      assert.deepEqual(await kept({}), ['age-29', 'age-1']) // the default, 90 days
      assert.deepEqual(await kept({ AUDIT_RETENTION_DAYS: '2' }), ['age-1'])
    } finally {
      await database.drop()
    }
  })

  test('sqlite: AUDIT_LOG=log writes log lines and mounts no read route; off keeps no log', async (t) => {
    const logs: object[] = []
    const service = await startTestApp('sqlite', { ...SUPERUSER_ENV, AUDIT_LOG: 'log', LOG_LEVEL: 'info' }, { logs })
    if (!service) return t.skip('sqlite')
    try {
      const api = client(service.app)
      const admin = await api.token(ADMIN.email, ADMIN.password)
      await record(service.app, [{ type: 'logout', outcome: 'success', request_id: 'to-the-log' }])
      const line = logs.find((l) => (l as { msg?: string }).msg === 'audit: logout') as {
        audit?: { request_id?: string }
      }
      assert.equal(line?.audit?.request_id, 'to-the-log')
      assert.deepEqual(json(await api.get('/audit-events', admin)), [404, { detail: 'Not Found' }])
      assert.deepEqual(json(await api.get('/users/me/events', admin)), [404, { detail: 'Not Found' }])
    } finally {
      await service.close()
    }
    const off = (await startTestApp('sqlite', { AUDIT_LOG: 'off' })) as TestApp
    try {
      assert.equal(off.app.users.audit, undefined)
      assert.throws(() => off.app.users.auditRouter(), TypeError)
    } finally {
      await off.close()
    }
  })

  test('sqlite: auditRouter reads the sink when it can list, through several sinks too; a TypeError when none can', async (t) => {
    const logOnly = await startTestApp('sqlite', { AUDIT_LOG: 'log' })
    if (!logOnly) return t.skip('sqlite')
    try {
      assert.throws(() => logOnly.app.users.auditRouter(), /auditRouter: no `reader`/)
    } finally {
      await logOnly.close()
    }
    // the database and the test's array: multiAuditSink lists through the database
    const both = (await startTestApp('sqlite', { AUDIT_LOG: 'both' }, { audit: [] })) as TestApp
    try {
      assert.equal(typeof both.app.users.auditRouter(), 'function')
    } finally {
      await both.close()
    }
  })

  test('sqlite, integer ids: user_id is an integer in any spelling the manager reads; else 422 int_parsing', async (t) => {
    const service = await startTestApp('sqlite', { ...SUPERUSER_ENV, USER_ID_TYPE: 'integer' })
    if (!service) return t.skip('sqlite')
    try {
      const api = client(service.app)
      const email = newEmail('audit-int')
      const id = (await api.register(email, PASSWORD)).json().id
      assert.equal(typeof id, 'number')
      await record(service.app, [{ type: 'login.succeeded', outcome: 'success', user_id: String(id) }])
      const admin = await api.token(ADMIN.email, ADMIN.password)
      const res = await api.get(`/audit-events?user_id=${id}`, admin)
      assert.deepEqual(
        res.json().items.map((e: { user_id: string }) => e.user_id),
        [String(id)],
      )
      const own = await api.get('/users/me/events', await api.token(email, PASSWORD))
      assert.deepEqual(
        own.json().items.map((e: { type: string }) => e.type),
        ['login.succeeded'],
      )
      assert.deepEqual(queryError(await api.get('/audit-events?user_id=abc', admin)), [
        ['query.user_id', 'int_parsing'],
      ])
    } finally {
      await service.close()
    }
  })
})
