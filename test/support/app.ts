import { randomUUID } from 'node:crypto'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { type AuthEvent, functionAuditSink } from '../../src/core/audit.js'
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js'

export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789'

export interface TestApp {
  app: FastifyInstance
  database: TestDatabase
  close(): Promise<void>
}

/**
 * The reference service on a fresh database of that kind; null where a local (non-CI) run has no such server.
 * Rate limits are off (RATE_LIMIT=false) unless `env` turns them on: suites log in many times from one address.
 * With `options.database`, another instance of the service on that (already migrated) database.
 */
export async function startTestApp(
  kind: DatabaseKind,
  env: Record<string, string> = {},
  options: {
    /** Another instance of the service on that (already migrated) database, left in place at close. */
    database?: TestDatabase
    /** The service's log lines, parsed (LOG_LEVEL in `env` chooses which). */
    logs?: object[]
    /** Log lines (JSON) go here, at LOG_LEVEL (env), instead of nowhere. */
    logStream?: { write(line: string): void }
    /** Now, for the second factors (TOTP steps, login tickets, step-ups): a test moves it instead of sleeping. */
    clock?: () => Date
    /** Every audit event the service records is pushed here too (call `app.users.audit.flush()` first). */
    audit?: AuthEvent[]
  } = {},
): Promise<TestApp | null> {
  const shared = options.database
  const database = shared ?? (await createTestDatabase(kind))
  if (!database) return null
  const config = loadConfig({
    SECRET: TEST_SECRET,
    DATABASE_URL: database.url,
    LOG_LEVEL: 'silent',
    RATE_LIMIT: 'false',
    // a test that turns the limiter on with REDIS_URL counts in keys of its own, never another test's or run's
    RATE_LIMIT_REDIS_PREFIX: `fastify-users-test:${randomUUID()}`,
    ...env,
  })
  const { logs } = options
  const logStream = options.logStream ?? (logs && { write: (line: string) => void logs.push(JSON.parse(line)) })
  const app = await buildApp(config, {
    ...(logStream ? { logStream } : { logger: false }),
    ...(options.clock && { clock: options.clock }),
    ...(options.audit && { auditSink: collectingSink(options.audit) }),
  })
  await app.ready()
  return {
    app,
    database,
    async close() {
      await app.close()
      if (!shared) await database.drop()
    },
  }
}

export type Response = LightMyRequestResponse

/** Thin `inject` helpers that read like the HTTP they send. */
export function client(app: FastifyInstance) {
  const send = (options: InjectOptions) => app.inject(options)
  const auth = (token?: string) => (token ? { authorization: `Bearer ${token}` } : {})
  return {
    get: (url: string, token?: string) => send({ method: 'GET', url, headers: auth(token) }),
    post: (url: string, payload?: unknown, token?: string) =>
      send({ method: 'POST', url, payload: payload as never, headers: auth(token) }),
    patch: (url: string, payload: unknown, token?: string) =>
      send({ method: 'PATCH', url, payload: payload as never, headers: auth(token) }),
    delete: (url: string, token?: string) => send({ method: 'DELETE', url, headers: auth(token) }),
    /** POST /auth/jwt/login with a urlencoded form, as OAuth2 password clients send it. */
    login: (username: string, password: string) =>
      send({
        method: 'POST',
        url: '/auth/jwt/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ username, password }).toString(),
      }),
    async register(email: string, password: string, first_name: string | null = 'Test') {
      return send({ method: 'POST', url: '/auth/register', payload: { email, password, first_name } })
    },
    async token(email: string, password: string): Promise<string> {
      const res = await this.login(email, password)
      if (res.statusCode !== 200) throw new Error(`login failed for ${email}: ${res.statusCode} ${res.body}`)
      return res.json().access_token
    },
    send,
  }
}

export const json = (res: Response) => [res.statusCode, res.body === '' ? '' : res.json()]

function collectingSink(into: AuthEvent[]) {
  return functionAuditSink((events) => void into.push(...events))
}
