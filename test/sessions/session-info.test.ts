/**
 * The pieces under the sessions view: migration 0008's `session_info` store (its once-a-minute
 * `touch`, integer ids too) on every database, the per-process usage clock, and the cap's order.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createKyselyUserStore } from '../../src/kysely.js'
import { openDatabase } from '../../src/stores/kysely/database.js'
import { migrateToLatest } from '../../src/stores/kysely/migrate.js'
import { createKyselySessionInfoStore } from '../../src/stores/kysely/session-info-store.js'
import { SessionLimit, UsageClock } from '../../src/strategies/session-usage.js'
import type { Session } from '../../src/strategies/strategy.js'
import { createTestDatabase, databaseKinds } from '../support/databases.js'
import { newEmail } from '../support/emails.js'

for (const kind of databaseKinds()) {
  for (const userIdType of ['uuid', 'integer'] as const) {
    test(`${kind}, ${userIdType} ids: session_info keeps the metadata; touch writes only a use older than its bound`, async (t) => {
      const database = await createTestDatabase(kind)
      if (!database) return t.skip(`${kind} is not reachable locally`)
      const db = openDatabase(database.url, { userIdType })
      try {
        const report = await migrateToLatest(db)
        assert.ok(report.applied.includes('0008-session-info'))
        const users = createKyselyUserStore(db)
        const user = await users.create({
          email: newEmail('info'),
          hashed_password: 'x',
          is_active: true,
          is_superuser: false,
          is_verified: false,
        })
        const store = createKyselySessionInfoStore(db)
        const created = new Date('2026-01-01T10:00:00.000Z')
        await store.create({
          session_id: 'session-a',
          user_id: user.id,
          created_at: created,
          last_used_at: created,
          user_agent: 'Agent/1.0',
          ip: '192.0.2.1',
        })
        const read = async () => (await store.listForUser(user.id)).find((r) => r.session_id === 'session-a')
        assert.deepEqual(await read(), {
          session_id: 'session-a',
          user_id: user.id,
          created_at: created,
          last_used_at: created,
          user_agent: 'Agent/1.0',
          ip: '192.0.2.1',
        })
        // Used a minute later, bounded to uses older than 30 s before: written.
        const later = new Date('2026-01-01T10:01:00.000Z')
        await store.touch('session-a', later, new Date(later.getTime() - 30_000))
        assert.deepEqual((await read())?.last_used_at, later)
        // Again 10 s later, with the same kind of bound: the stored use is recent enough, nothing changes.
        const soon = new Date('2026-01-01T10:01:10.000Z')
        await store.touch('session-a', soon, new Date(soon.getTime() - 30_000))
        assert.deepEqual((await read())?.last_used_at, later)
        // The user's deletion takes the rows with it.
        await users.delete(user)
        assert.deepEqual(await store.listForUser(user.id), [])
      } finally {
        await db.close()
        await database.drop()
      }
    })
  }
}

describe('the usage clock and the cap', () => {
  test('the clock says "due" once per interval per session', () => {
    const clock = new UsageClock(60_000)
    assert.equal(clock.due('a', 1_000), true)
    assert.equal(clock.due('a', 30_000), false)
    assert.equal(clock.due('b', 30_000), true)
    assert.equal(clock.due('a', 61_000), true)
    clock.forget('a')
    assert.equal(clock.due('a', 61_001), true)
  })

  test('the cap ends the oldest sessions across sources, never the one just opened', async () => {
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 10, minute)).toISOString()
    const source = (sessions: Session[]) => {
      const ended: string[] = []
      return {
        ended,
        listSessions: async () => sessions.filter((s) => !ended.includes(s.id)),
        destroySession: async (_user: unknown, id: string) => {
          ended.push(id)
          return true
        },
      }
    }
    const a = source([
      { id: 'a1', created_at: at(1), expires_at: null },
      { id: 'a4', created_at: at(4), expires_at: null },
    ])
    const b = source([
      { id: 'b2', created_at: at(2), expires_at: null },
      { id: 'b3', created_at: at(3), expires_at: null },
      // the one just opened, with a clock behind the others': kept anyway
      { id: 'b0', created_at: at(0), expires_at: null },
    ])
    const limit = new SessionLimit(2)
    limit.register(a)
    limit.register(b)
    limit.register(a) // once only
    await limit.enforce({ id: 'u', email: 'u@example.com' } as never, 'b0')
    assert.deepEqual(a.ended, ['a1'])
    assert.deepEqual(b.ended, ['b2', 'b3'])
    assert.throws(() => new SessionLimit(0), TypeError)
  })
})
