/**
 * What the bench measures on each server: the scenarios, as load specs, and the few requests that
 * prepare them (a user, its token or session cookie). A scenario that the server cannot serve yet
 * (the sessions issue's database/Redis strategies, token refresh) is reported as not available.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { base32Decode, timeStep, totp } from '../../src/factors/totp/totp.js'
import type { LoadSpec } from './types.js'

export interface Settings {
  quick: boolean
  warmup: number
  duration: number
  reps: number
  /** Connections for the routes that answer fast (ceiling, /users/me, get-session). */
  fastConnections: number
  /** Connections for the password routes (login, register, sign-in, sign-up). */
  hashConnections: number
  /** The isolation scenario: a login flood with this many connections … */
  floodConnections: number
  /** … while a probe sends /users/me at a fixed rate over a few connections. */
  probeConnections: number
  probeRate: number
  /** Users with TOTP on for the second-factor login: each serves one login per 30-s time step. */
  twoFactorUsers: number
}

export type ScenarioId =
  | 'ceiling'
  | 'me-jwt'
  | 'me-jwt-users'
  | 'me-jwt-metrics'
  | 'me-database'
  | 'me-redis'
  | 'login'
  | 'register'
  | 'refresh'
  | 'login-2fa'
  | 'sessions'
  | 'isolation'

export interface ScenarioDef {
  id: ScenarioId
  /** Human label, per server kind. */
  label: string
  /** A load spec, or why the scenario cannot run on this server (yet). */
  spec: LoadSpec | { unavailable: string }
  /** The raw hashing operation that bounds this route (login: verify, register: hash). */
  limit?: 'verify' | 'hash'
}

export type ServerKind = 'ours' | 'peer'

export const PASSWORD = 'bench-password-1234'

/** The password routes: autocannon, counting only after their queue has filled (2 s). */
const hashingLoad = { tool: 'autocannon' as const, skipSeconds: 2 }
const OURS_EMAIL = 'bench-user@example.com'
const PEER_EMAIL = 'bench-peer@example.com'

async function request(url: string, init: RequestInit): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(url, init)
  return { status: response.status, text: await response.text(), headers: response.headers }
}

function fail(what: string, response: { status: number; text: string }): never {
  throw new Error(`${what}: ${response.status} ${response.text.slice(0, 300)}`)
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const LOGIN_FORM = new URLSearchParams({ username: OURS_EMAIL, password: PASSWORD }).toString()

/**
 * The reference service: a user; the OpenAPI paths tell which backends it serves (the sessions
 * issue's: /auth/cookie with the database strategy, /auth/redis when REDIS_URL is set, and the
 * refresh route of /auth/jwt).
 */
async function prepareOurs(base: string) {
  const registered = await request(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: OURS_EMAIL, password: PASSWORD, first_name: 'Bench' }),
  })
  if (registered.status !== 201 && !registered.text.includes('REGISTER_USER_ALREADY_EXISTS')) {
    fail('register the bench user', registered)
  }
  const openapi = await request(`${base}/openapi.json`, {})
  const paths = openapi.status === 200 ? Object.keys((JSON.parse(openapi.text) as { paths: object }).paths) : []
  /** Headers that authenticate GET /users/me, after checking that they do. */
  const checked = async (headers: Record<string, string>, what: string) => {
    const me = await request(`${base}/users/me`, { headers })
    if (me.status !== 200) fail(`GET /users/me with the ${what}`, me)
    return headers
  }
  const bearer = async (prefix: string) => {
    const response = await request(`${base}${prefix}/login`, { method: 'POST', headers: FORM, body: LOGIN_FORM })
    if (response.status !== 200) fail(`log in at ${prefix}/login`, response)
    const token = (JSON.parse(response.text) as { access_token: string }).access_token
    return checked({ authorization: `Bearer ${token}` }, `${prefix} token`)
  }
  /** The cookie backend checks the Origin of its login (CSRF): the service's own (PUBLIC_URL's default). */
  const cookie = async (prefix: string) => {
    const response = await request(`${base}${prefix}/login`, {
      method: 'POST',
      headers: { ...FORM, origin: base },
      body: LOGIN_FORM,
    })
    if (response.status !== 204 && response.status !== 200) fail(`log in at ${prefix}/login`, response)
    const value = response.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .join('; ')
    return checked({ cookie: value }, `${prefix} session cookie`)
  }
  return { paths, bearer, cookie, jwt: await bearer('/auth/jwt') }
}

/** A new user's access token (JWT) after `logins` logins (so many refresh families: sessions). */
async function userWithSessions(base: string, email: string, logins: number): Promise<Record<string, string>> {
  const registered = await request(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, first_name: 'Bench' }),
  })
  if (registered.status !== 201 && !registered.text.includes('REGISTER_USER_ALREADY_EXISTS'))
    fail('register', registered)
  let token = ''
  for (let i = 0; i < logins; i++) {
    const form = new URLSearchParams({ username: email, password: PASSWORD }).toString()
    const response = await request(`${base}/auth/jwt/login`, {
      method: 'POST',
      headers: { ...FORM, 'user-agent': `bench device ${i}` },
      body: form,
    })
    if (response.status !== 200) fail(`log in as ${email}`, response)
    token = (JSON.parse(response.text) as { access_token: string }).access_token
  }
  return { authorization: `Bearer ${token}` }
}

/** Users for `me-jwt-users`: as many as the fast routes' connections. */
const MANY_USERS = 64

/** `count` new users' access tokens (JWT), four registered and logged in at a time. */
async function manyUsers(base: string, count: number): Promise<Record<string, string>[]> {
  const run = Date.now().toString(36)
  const tokens: Record<string, string>[] = []
  let next = 0
  const worker = async () => {
    while (next < count) tokens.push(await userWithSessions(base, `bench-many-${run}-${next++}@example.com`, 1))
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  return tokens
}

/** Users with TOTP turned on (setup, then enable with a code of the new secret), four at a time. */
async function twoFactorUsers(
  base: string,
  count: number,
): Promise<{ email: string; secret: string; lastStep: number }[]> {
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`
  const users: { email: string; secret: string; lastStep: number }[] = []
  let next = 0
  const enrol = async () => {
    while (next < count) {
      const email = `bench-2fa-${run}-${next++}@example.com`
      const headers = { ...(await userWithSessions(base, email, 1)), 'content-type': 'application/json' }
      const setup = await request(`${base}/auth/2fa/totp/setup`, { method: 'POST', headers, body: '{}' })
      if (setup.status !== 200) fail('TOTP setup', setup)
      const { secret } = JSON.parse(setup.text) as { secret: string }
      const now = Date.now()
      const code = totp(base32Decode(secret), now)
      const enabled = await request(`${base}/auth/2fa/totp/enable`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ code }),
      })
      if (enabled.status !== 200) fail('TOTP enable', enabled)
      users.push({ email, secret, lastStep: timeStep(now) })
    }
  }
  await Promise.all([enrol(), enrol(), enrol(), enrol()])
  return users
}

export async function oursScenarios(
  base: string,
  settings: Settings,
  wanted: (id: ScenarioId) => boolean = () => true,
): Promise<ScenarioDef[]> {
  const { paths, bearer, cookie, jwt } = await prepareOurs(base)
  const fast = { url: base, connections: settings.fastConnections, duration: settings.duration }
  const hashing = { ...hashingLoad, url: base, connections: settings.hashConnections, duration: settings.duration }
  const me = (headers: Record<string, string>): LoadSpec => ({
    ...fast,
    method: 'GET',
    path: '/users/me',
    headers,
    expectStatus: 200,
  })
  const unavailable = (what: string) => ({ unavailable: `not available yet: ${what}` })

  return [
    {
      id: 'ceiling',
      label: 'ceiling: bare JSON route',
      spec: { ...fast, method: 'GET', path: '/bench/ceiling', expectStatus: 200 },
    },
    { id: 'me-jwt', label: 'GET /users/me (JWT)', spec: me(jwt) },
    {
      id: 'me-jwt-users',
      label: `GET /users/me (JWT, ${MANY_USERS} users)`,
      // the same route, each request another user's token: no two look-ups of a batch share a row
      spec: !wanted('me-jwt-users')
        ? { unavailable: 'not asked for (--only)' }
        : { ...me({}), tool: 'autocannon', headerSets: await manyUsers(base, MANY_USERS) },
    },
    {
      id: 'me-database',
      label: 'GET /users/me (database token, cookie)',
      spec: paths.includes('/auth/cookie/login')
        ? me(await cookie('/auth/cookie'))
        : unavailable('the service has no database-strategy backend at /auth/cookie'),
    },
    {
      id: 'me-redis',
      label: 'GET /users/me (Redis token)',
      spec: paths.includes('/auth/redis/login')
        ? me(await bearer('/auth/redis'))
        : unavailable('no Redis backend at /auth/redis (Redis not reachable: REDIS_URL unset)'),
    },
    {
      id: 'login',
      label: 'POST /auth/jwt/login',
      limit: 'verify',
      spec: {
        ...hashing,
        method: 'POST',
        path: '/auth/jwt/login',
        headers: FORM,
        body: LOGIN_FORM,
        expectStatus: 200,
      },
    },
    {
      id: 'register',
      label: 'POST /auth/register',
      limit: 'hash',
      spec: {
        ...hashing,
        method: 'POST',
        path: '/auth/register',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'bench-{{unique}}@example.com', password: PASSWORD, first_name: 'Bench' }),
        expectStatus: 201,
      },
    },
    {
      id: 'refresh',
      label: 'POST /auth/jwt/refresh (rotation)',
      // each refresh token is single-use: every connection follows its own chain of them
      spec: paths.includes('/auth/jwt/refresh')
        ? {
            ...fast,
            tool: 'autocannon',
            method: 'POST',
            path: '/auth/jwt/refresh',
            headers: { 'content-type': 'application/json' },
            body: '{"refresh_token":"{{chain}}"}',
            chain: {
              loginPath: '/auth/jwt/login',
              loginBody: LOGIN_FORM,
              logins: settings.fastConnections,
              field: 'refresh_token',
            },
            expectStatus: 200,
          }
        : unavailable('no refresh route at /auth/jwt/refresh'),
    },
    {
      id: 'login-2fa',
      label: 'POST /auth/jwt/login + /login/2fa (TOTP)',
      limit: 'verify',
      spec: !paths.includes('/auth/jwt/login/2fa')
        ? unavailable('no second-factor login at /auth/jwt/login/2fa (TWO_FACTOR=false)')
        : !wanted('login-2fa')
          ? { unavailable: 'not asked for (--only)' }
          : {
              ...hashing,
              // a run is bounded by the codes its users have left (maxLogins): all of it counts, and it
              // may take longer than the duration to get through them on a slow machine
              skipSeconds: 0,
              duration: settings.duration + 20,
              method: 'POST',
              path: '/auth/jwt/login',
              expectStatus: 200,
              secondFactor: {
                maxLogins: Math.ceil(settings.twoFactorUsers / (settings.reps + (settings.warmup > 0 ? 1 : 0))),
                loginPath: '/auth/jwt/login',
                codePath: '/auth/jwt/login/2fa',
                password: PASSWORD,
                users: await twoFactorUsers(base, settings.twoFactorUsers),
                stateFile: join(tmpdir(), `fastify-users-bench-totp-${process.pid}-${Date.now()}.json`),
              },
            },
    },
    {
      id: 'sessions',
      label: 'GET /users/me/sessions (JWT, 5 sessions)',
      spec: !paths.includes('/users/me/sessions')
        ? unavailable('no sessions list at /users/me/sessions')
        : !wanted('sessions')
          ? { unavailable: 'not asked for (--only)' }
          : {
              ...fast,
              method: 'GET',
              path: '/users/me/sessions',
              headers: await userWithSessions(base, `bench-sessions-${Date.now().toString(36)}@example.com`, 5),
              expectStatus: 200,
            },
    },
  ]
}

/** Better Auth: a user, its session cookie. */
export async function peerScenarios(base: string, settings: Settings): Promise<ScenarioDef[]> {
  const origin = { origin: base, 'content-type': 'application/json' }
  const signedUp = await request(`${base}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: origin,
    body: JSON.stringify({ email: PEER_EMAIL, password: PASSWORD, name: 'Bench' }),
  })
  if (signedUp.status !== 200 && signedUp.status !== 422) fail('Better Auth sign-up', signedUp)
  const signedIn = await request(`${base}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: origin,
    body: JSON.stringify({ email: PEER_EMAIL, password: PASSWORD }),
  })
  if (signedIn.status !== 200) fail('Better Auth sign-in', signedIn)
  const cookie = signedIn.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .join('; ')
  const session = await request(`${base}/api/auth/get-session`, { headers: { cookie } })
  if (session.status !== 200 || !session.text.includes('"session"')) fail('Better Auth get-session', session)

  const fast = { url: base, connections: settings.fastConnections, duration: settings.duration }
  const hashing = { ...hashingLoad, url: base, connections: settings.hashConnections, duration: settings.duration }
  return [
    {
      id: 'ceiling',
      label: 'ceiling: bare JSON route',
      spec: { ...fast, method: 'GET', path: '/bench/ceiling', expectStatus: 200 },
    },
    {
      id: 'me-jwt',
      label: 'GET /api/auth/get-session (cookie)',
      spec: { ...fast, method: 'GET', path: '/api/auth/get-session', headers: { cookie }, expectStatus: 200 },
    },
    {
      id: 'login',
      label: 'POST /api/auth/sign-in/email',
      spec: {
        ...hashing,
        method: 'POST',
        path: '/api/auth/sign-in/email',
        headers: origin,
        body: JSON.stringify({ email: PEER_EMAIL, password: PASSWORD }),
        expectStatus: 200,
      },
    },
    {
      id: 'register',
      label: 'POST /api/auth/sign-up/email',
      spec: {
        ...hashing,
        method: 'POST',
        path: '/api/auth/sign-up/email',
        headers: origin,
        body: JSON.stringify({ email: 'bench-{{unique}}@example.com', password: PASSWORD, name: 'Bench' }),
        expectStatus: 200,
      },
    },
  ]
}
