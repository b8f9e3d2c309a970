import { isStorableText } from '../core/storable.js'
import type { BaseUser } from '../core/user.js'
import type { Session, SessionContext } from './strategy.js'

/** How often a session's `last_used_at` is written at most. */
export const LAST_USED_INTERVAL_MS = 60_000

/**
 * Decides when a session's `last_used_at` is worth writing: at most once per interval per session
 * and process (a bounded map of when each was last written here), so that using a session costs no
 * write per request. Several processes each write at most once per interval too.
 */
export class UsageClock {
  private readonly written = new Map<string, number>()

  constructor(private readonly intervalMs = LAST_USED_INTERVAL_MS) {}

  /** Whether to write `sessionId`'s use now; records it when so. */
  due(sessionId: string, now: number): boolean {
    const last = this.written.get(sessionId)
    if (last !== undefined && now - last < this.intervalMs) return false
    if (this.written.size >= 10_000) this.written.clear()
    this.written.set(sessionId, now)
    return true
  }

  forget(sessionId: string): void {
    this.written.delete(sessionId)
  }
}

/** A request header or address as stored: bounded, and null when no column could hold it. */
export function storableMeta(value: string | null | undefined, max: number): string | null {
  if (!value) return null
  const text = value.slice(0, max)
  return isStorableText(text) ? text : null
}

export const MAX_USER_AGENT = 512
export const MAX_IP = 64

/** One kind of a user's sessions, as the cap sees them. */
export interface SessionSource {
  listSessions(user: BaseUser): Promise<Session[]>
  destroySession(user: BaseUser, sessionId: string): Promise<boolean>
}

/**
 * A cap on each user's concurrent sessions, over every strategy and refresh-token family that is
 * given it (`limit` in their options): when one is opened beyond the cap, the oldest others end first.
 */
export class SessionLimit {
  private readonly sources: SessionSource[] = []
  private readonly listeners: ((user: BaseUser, ended: number) => void)[] = []

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('SessionLimit: `max` must be an integer >= 1')
  }

  /** Called by the strategies and refresh tokens given this limit. */
  register(source: SessionSource): void {
    if (!this.sources.includes(source)) this.sources.push(source)
  }

  /** Told how many sessions of a user the cap ended (the audit log's `session.ended`, reason `cap`). */
  onEnded(listener: (user: BaseUser, ended: number) => void): void {
    this.listeners.push(listener)
  }

  /** Ends the user's oldest sessions beyond the cap, never `opened` (the one just opened). */
  async enforce(user: BaseUser, opened: string): Promise<void> {
    const lists = await Promise.all(
      this.sources.map(async (source) => (await source.listSessions(user)).map((session) => ({ source, session }))),
    )
    const all = lists.flat()
    if (all.length <= this.max) return
    const oldestFirst = all
      .filter(({ session }) => session.id !== opened)
      .sort((a, b) => Date.parse(a.session.created_at) - Date.parse(b.session.created_at))
    const ending = oldestFirst.slice(0, all.length - this.max)
    for (const { source, session } of ending) {
      await source.destroySession(user, session.id)
    }
    for (const listener of this.listeners) {
      try {
        listener(user, ending.length)
      } catch {
        // a listener (the audit log) never fails the login that opened the session
      }
    }
  }
}

export type { SessionContext }
