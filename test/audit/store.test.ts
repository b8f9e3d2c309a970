/**
 * The audit log's table (migration 0012) through createKyselyAuditSink on every database: what is
 * written is listed back exactly, filtered, a page at a time; values too long or unstorable are
 * bounded, never refused; pruning (by hand, by two instances at once, by the retention scheduler)
 * deletes exactly the events past the cut.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type AuthEvent, startAuditRetention } from '../../src/index.js'
import { createKyselyAuditSink, type Database, migrateToLatest, openDatabase } from '../../src/kysely.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'

const DAY = 24 * 3600 * 1000
const NOW = new Date('2026-06-01T12:00:00.000Z')

function event(overrides: Partial<AuthEvent> = {}): AuthEvent {
  return {
    type: 'login.succeeded',
    at: NOW,
    outcome: 'success',
    user_id: null,
    actor_id: null,
    email: null,
    reason: null,
    backend: null,
    ip: null,
    user_agent: null,
    request_id: null,
    detail: null,
    ...overrides,
  }
}

/** Events `first` … `first + n - 1` days before NOW, one a day, about `user_id`. */
const daily = (n: number, user_id: string, first = 0) =>
  Array.from({ length: n }, (_, i) => event({ user_id, at: new Date(NOW.getTime() - (first + i) * DAY) }))

for (const kind of databaseKinds()) {
  describe(`${kind}: the auth_event table`, () => {
    let testDb: TestDatabase | null
    let database: Database
    let sink: ReturnType<typeof createKyselyAuditSink>

    before(async () => {
      testDb = await createTestDatabase(kind)
      if (!testDb) return
      database = openDatabase(testDb.url)
      const report = await migrateToLatest(database)
      assert.ok(report.applied.includes('0012-audit-events'))
      sink = createKyselyAuditSink(database, { pruneChunk: 4 })
    })
    after(async () => {
      await database?.close()
      await testDb?.drop()
    })
    const skip = (t: { skip(msg: string): void }) => {
      if (!testDb) t.skip(`${kind} is not reachable locally`)
      return !testDb
    }
    const all = async (query: Parameters<typeof sink.list>[0]) => sink.list(query)

    test('writes a batch and lists it back exactly, newest first, with ids as strings', async (t) => {
      if (skip(t)) return
      const written = [
        event({
          type: 'login.failed',
          outcome: 'failure',
          at: new Date('2026-05-01T10:00:00.123Z'),
          user_id: 'u-exact',
          email: 'Ann@Example.com',
          reason: 'LOGIN_BAD_CREDENTIALS',
          backend: 'jwt',
          ip: '192.0.2.7',
          user_agent: 'Agent/1.0',
          request_id: 'req-1',
        }),
        event({
          type: 'user.updated',
          at: new Date('2026-05-01T10:00:01.000Z'),
          user_id: 'u-exact',
          actor_id: 'admin-1',
          detail: { fields: 'email,first_name', count: 2, by_superuser: true },
        }),
      ]
      await sink.write(written)
      const listed = await all({ user_id: 'u-exact', limit: 10 })
      assert.equal(listed.length, 2)
      assert.ok(listed.every((e) => /^[1-9]\d*$/.test(e.id)))
      assert.ok(Number(listed[0]?.id) > Number(listed[1]?.id))
      assert.deepEqual(
        listed.map(({ id, ...rest }) => rest),
        [written[1], written[0]],
      )
    })

    test('filters by user, type, since (included) and until (excluded), together', async (t) => {
      if (skip(t)) return
      const at = (day: number) => new Date(Date.UTC(2026, 2, day))
      await sink.write([
        event({ user_id: 'f-1', type: 'login.succeeded', at: at(1) }),
        event({ user_id: 'f-1', type: 'login.failed', outcome: 'failure', at: at(2) }),
        event({ user_id: 'f-2', type: 'login.failed', outcome: 'failure', at: at(3) }),
        event({ user_id: 'f-1', type: 'logout', at: at(4) }),
      ])
      const days = (events: AuthEvent[]) => events.map((e) => e.at.getUTCDate())
      assert.deepEqual(days(await all({ user_id: 'f-1', limit: 10 })), [4, 2, 1])
      const failed = await all({ type: 'login.failed', since: at(1), until: at(4), limit: 10 })
      assert.deepEqual(
        failed.map((e) => [e.user_id, e.at.getUTCDate()]),
        [
          ['f-2', 3],
          ['f-1', 2],
        ],
      )
      assert.deepEqual(days(await all({ user_id: 'f-1', since: at(2), until: at(4), limit: 10 })), [2])
      assert.deepEqual(days(await all({ user_id: 'f-1', type: 'logout', limit: 10 })), [4])
      assert.deepEqual(await all({ user_id: 'nobody', limit: 10 }), [])
    })

    test('pages walk every event once, newest first', async (t) => {
      if (skip(t)) return
      // 103 events: more than one insert batch of the log (100), written here as one
      await sink.write(Array.from({ length: 103 }, (_, i) => event({ user_id: 'pager', request_id: `r${i}` })))
      // and 6000 at once (72,000 values): split into inserts every database takes; pruned in chunks of 1000
      const longAgo = new Date('2000-01-01T00:00:00.000Z')
      await sink.write(Array.from({ length: 6000 }, () => event({ user_id: 'bulk', at: longAgo })))
      assert.equal((await all({ user_id: 'bulk', limit: 100 })).length, 100)
      assert.equal(await createKyselyAuditSink(database).prune(new Date('2000-01-02T00:00:00.000Z')), 6000)
      assert.deepEqual(await all({ user_id: 'bulk', limit: 100 }), [])
      const seen: string[] = []
      let cursor: string | undefined
      for (let pages = 0; pages < 30; pages++) {
        const page = await all({ user_id: 'pager', limit: 7, ...(cursor && { before: cursor }) })
        seen.push(...page.map((e) => e.request_id as string))
        if (page.length < 7) break
        cursor = page[page.length - 1]?.id
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 103 }, (_, i) => `r${102 - i}`),
      )
    })

    test('values too long or unstorable are bounded and made storable, never refused', async (t) => {
      if (skip(t)) return
      const emoji = '\u{1F600}' // one code point, two UTF-16 units, four UTF-8 bytes
      await sink.write([
        event({
          user_id: 'bounded',
          email: `${'a'.repeat(318)}${emoji.repeat(5)}@example.com`,
          user_agent: emoji.repeat(600),
          reason: 'nul\u0000inside',
          ip: 'lone\ud800surrogate',
          request_id: 'x'.repeat(100),
          backend: `b${emoji}`,
          detail: { note: 'nul\u0000and\udc00lone', big: 1 },
        }),
        event({ user_id: 'bounded-detail', detail: { text: 'y'.repeat(20_000) } }),
      ])
      const [stored] = await all({ user_id: 'bounded', limit: 1 })
      assert.equal(stored?.email, `${'a'.repeat(318)}${emoji.repeat(2)}`)
      assert.equal(stored?.user_agent, emoji.repeat(512))
      assert.equal(stored?.reason, 'nul\ufffdinside')
      assert.equal(stored?.ip, 'lone\ufffdsurrogate')
      assert.equal(stored?.request_id, 'x'.repeat(64))
      assert.equal(stored?.backend, `b${emoji}`)
      assert.deepEqual(stored?.detail, { note: 'nul\u0000and\udc00lone', big: 1 })
      const [big] = await all({ user_id: 'bounded-detail', limit: 1 })
      assert.deepEqual(big?.detail, { truncated: true })
    })

    test('prune deletes exactly the events older than its date, in chunks', async (t) => {
      if (skip(t)) return
      await sink.write(daily(20, 'prune')) // NOW, NOW - 1 day, … NOW - 19 days
      const cut = new Date(NOW.getTime() - 10 * DAY) // days 11 to 19 are older
      const before = await all({ since: new Date(0), until: cut, limit: 100 })
      const pruned = await sink.prune(cut)
      assert.equal(pruned, before.length)
      assert.ok(pruned >= 9)
      assert.deepEqual(await all({ until: cut, limit: 100 }), [])
      const left = await all({ user_id: 'prune', limit: 100 })
      assert.deepEqual(
        left.map((e) => (NOW.getTime() - e.at.getTime()) / DAY),
        [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0], // newest first by id: written oldest last
      )
    })

    test('two instances pruning at once delete every old event once between them', async (t) => {
      if (skip(t)) return
      const other = openDatabase((testDb as TestDatabase).url)
      try {
        const cut = new Date(NOW.getTime() - 100 * DAY)
        await sink.write(daily(60, 'race-old', 101))
        await sink.write(daily(3, 'race-new', 50))
        const oldCount = (await all({ until: cut, limit: 100 })).length
        const counts = await Promise.all([sink.prune(cut), createKyselyAuditSink(other, { pruneChunk: 5 }).prune(cut)])
        assert.equal(counts[0] + counts[1], oldCount)
        assert.deepEqual(await all({ until: cut, limit: 100 }), [])
        assert.equal((await all({ user_id: 'race-new', limit: 10 })).length, 3)
      } finally {
        await other.close()
      }
    })

    test('the retention scheduler prunes past its days at start, by its clock; 0 days keeps all', async (t) => {
      if (skip(t)) return
      await sink.write(daily(5, 'retained', 88)) // 88 … 92 days old
      const kept = async () =>
        (await all({ user_id: 'retained', limit: 10 }))
          .map((e) => (NOW.getTime() - e.at.getTime()) / DAY)
          .sort((a, b) => a - b)
      await startAuditRetention(sink, { days: 0, clock: () => NOW })()
      assert.deepEqual(await kept(), [88, 89, 90, 91, 92])
      const stop = startAuditRetention(sink, { days: 90, clock: () => NOW, intervalMs: 60_000 })
      await stop() // waits for the prune it started with
      assert.deepEqual(await kept(), [88, 89, 90])
    })

    test('the retention scheduler prunes again at each interval', async (t) => {
      if (skip(t)) return
      let now = NOW.getTime()
      await sink.write(daily(3, 'interval', 0)) // 0, 1, 2 days old
      const stop = startAuditRetention(sink, { days: 1, clock: () => new Date(now), intervalMs: 50 })
      try {
        now += 2 * DAY // from the next run on, all three are past the cut
        for (let i = 0; i < 100 && (await all({ user_id: 'interval', limit: 10 })).length > 0; i++)
          await new Promise((resolve) => setTimeout(resolve, 20))
        assert.deepEqual(await all({ user_id: 'interval', limit: 10 }), [])
      } finally {
        await stop()
      }
    })
  })
}
