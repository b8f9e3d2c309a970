/**
 * The OpenAPI document's error examples agree with what the routes really answer: every route is
 * driven into every error its operation documents, and every error answer seen on the way must be
 * one its operation documents (status and code). A code added to a route without its docs, or docs
 * that name a code the route cannot give, fail here. Three services: verification required (SQLite),
 * rate limits of one request (SQLite), and a database out of reach (PostgreSQL through a proxy).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { SignJWT } from 'jose'
import { emailChangeFingerprint } from '../../src/core/email-change.js'
import { base32Decode, DeleteRefused, totp } from '../../src/index.js'
import { startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/databases.js'
import { newEmail } from '../support/emails.js'
import { startServiceOn } from '../support/outage.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { SoftwareAuthenticator } from '../support/webauthn.js'

const PASSWORD = 'documented-password-1'
const CROSS_SITE = { 'sec-fetch-site': 'cross-site' }
type Doc = Record<string, any>

/** `operationId status code`: the one line per documented (or seen) error. */
const key = (operationId: string, status: number | string, code: string) => `${operationId} ${status} ${code}`

/** Every error example of the document, as keys. */
function documentedErrors(doc: Doc, only?: (operationId: string) => boolean): Set<string> {
  const keys = new Set<string>()
  for (const ops of Object.values<Doc>(doc.paths)) {
    for (const op of Object.values<Doc>(ops)) {
      if (only && !only(op.operationId)) continue
      for (const [status, response] of Object.entries<Doc>(op.responses)) {
        if (Number(status) < 400) continue
        for (const code of Object.keys(response.content?.['application/json']?.examples ?? {}))
          keys.add(key(op.operationId, status, code))
      }
    }
  }
  return keys
}

/** The code an error body carries: its `detail`, the code inside it, or VALIDATION_ERROR for a 422 list. */
function codeOf(body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail
  if (typeof detail === 'string') return detail
  if (Array.isArray(detail)) return 'VALIDATION_ERROR'
  return String((detail as { code?: unknown } | undefined)?.code)
}

/**
 * `inject`, audited: each answer is matched to its operation in the document; an error answer must
 * be one of its examples. What was seen is kept, to compare with what is documented.
 */
function auditedClient(app: FastifyInstance, doc: Doc) {
  const seen = new Set<string>()
  const operations = Object.entries<Doc>(doc.paths).flatMap(([path, ops]) =>
    Object.entries<Doc>(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      op,
    })),
  )
  const send = async (options: InjectOptions & { url: string; method: string }) => {
    const res = await app.inject(options)
    const path = options.url.split('?')[0] as string
    const found = operations.find((o) => o.method === options.method && o.pattern.test(path))
    assert.ok(found, `${options.method} ${path} is no documented operation`)
    if (res.statusCode >= 400) {
      const code = codeOf(res.json())
      const examples = found.op.responses[res.statusCode]?.content?.['application/json']?.examples ?? {}
      assert.ok(
        code in examples,
        `${found.op.operationId} answered ${res.statusCode} ${code}, undocumented: ${res.body}`,
      )
      seen.add(key(found.op.operationId, res.statusCode, code))
    }
    return res
  }
  const bearer = (token?: string) => (token ? { authorization: `Bearer ${token}` } : {})
  return {
    seen,
    send,
    get: (url: string, token?: string) => send({ method: 'GET', url, headers: bearer(token) }),
    post: (url: string, payload?: unknown, token?: string) =>
      send({ method: 'POST', url, payload: payload as never, headers: bearer(token) }),
    patch: (url: string, payload: unknown, token?: string) =>
      send({ method: 'PATCH', url, payload: payload as never, headers: bearer(token) }),
    delete: (url: string, token?: string) => send({ method: 'DELETE', url, headers: bearer(token) }),
    /** A cookie-authenticated request from another site. */
    crossSite: (method: string, url: string, cookie: string, payload?: unknown) =>
      send({
        method,
        url,
        payload: payload as never,
        headers: { cookie: `fastapiusersauth=${cookie}`, ...CROSS_SITE },
      }),
    login: (backend: string, username: string, password: string, headers: Record<string, string> = {}) =>
      send({
        method: 'POST',
        url: `/auth/${backend}/login`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        payload: new URLSearchParams({ username, password }).toString(),
      }),
  }
}

type Api = ReturnType<typeof auditedClient>

async function openApiOf(app: FastifyInstance): Promise<Doc> {
  return (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
}

/** A user made through the manager, with a JWT and a cookie session written by the backends. */
async function userOf(app: FastifyInstance, flags: { is_verified?: boolean; is_superuser?: boolean }) {
  const email = newEmail('apidocs')
  const user = await app.users.manager.create(
    { email, password: PASSWORD, first_name: 'Ann', ...flags },
    { safe: false },
  )
  const backend = (name: string) => app.users.backends.find((b) => b.name === name)
  const jwt = await backend('jwt')?.strategy.writeToken(user)
  const cookie = await backend('cookie')?.strategy.writeToken(user)
  return { user, email, jwt: jwt as string, cookie: cookie as string }
}

/** A token signed as the service signs them (SECRET, HS256), with these claims. */
const signed = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TEST_SECRET))
const verifyToken = (sub: string, email: string) => signed({ sub, email, aud: 'fastapi-users:verify' })

/** The token of the last reset mail to `email`, from the service's log (mail goes to the log without SMTP_URL). */
async function mailedResetToken(logs: object[], email: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const mail = (l: object) => l as { to?: unknown; text?: unknown }
    const line = [...logs]
      .reverse()
      .find((l) => mail(l).to === email && /reset-password\?token=/.test(String(mail(l).text)))
    const match = line && /reset-password\?token=([^\s]+)/.exec(String(mail(line).text))
    if (match?.[1]) return decodeURIComponent(match[1])
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`no reset mail to ${email}`)
}

/** The documented errors (of the statuses `keep` takes) that no answer has shown yet. */
function undriven(doc: Doc, api: Api, keep: (status: string) => boolean): string[] {
  return [...documentedErrors(doc, notOAuth)].filter((k) => keep(k.split(' ')[1] as string) && !api.seen.has(k))
}

const notOAuth = (operationId: string) => !operationId.startsWith('oauth')

const PASSKEY_ORIGIN = 'http://localhost:8000'

/** Passkeys (PASSKEYS=true): their routes driven into each of their errors. */
async function drivePasskeys(
  api: Api,
  users: Record<'verified' | 'unverified' | 'admin', Awaited<ReturnType<typeof userOf>>>,
  unknownId: string,
) {
  const { verified, unverified, admin } = users
  const authenticator = new SoftwareAuthenticator(PASSKEY_ORIGIN)
  const signedIn: [string, string, unknown?][] = [
    ['POST', '/auth/passkeys/register/options'],
    ['POST', '/auth/passkeys/register', { response: {} }],
    ['GET', '/auth/passkeys'],
    ['PATCH', `/auth/passkeys/${unknownId}`, { name: 'x' }],
    ['DELETE', `/auth/passkeys/${unknownId}`],
  ]
  for (const [method, url, payload] of signedIn) {
    await api.send({ method, url, payload: payload as never })
    await api.send({ method, url, payload: payload as never, headers: { authorization: `Bearer ${unverified.jwt}` } })
    if (method !== 'GET') await api.crossSite(method, url, verified.cookie, payload)
  }
  // before its first passkey (a second factor: its deletion then needs a step-up)
  await api.delete(`/auth/passkeys/${unknownId}`, verified.jwt)
  const options = async () => (await api.post('/auth/passkeys/register/options', undefined, verified.jwt)).json()
  const response = authenticator.create(await options())
  await api.post('/auth/passkeys/register', { response }, verified.jwt)
  await api.post('/auth/passkeys/register', { response }, verified.jwt) // its challenge is spent
  const elsewhere = authenticator.create(await options(), { origin: 'http://localhost:9999' })
  await api.post('/auth/passkeys/register', { response: elsewhere }, verified.jwt)
  const repeated = { ...response, response: { ...response.response } }
  repeated.response.clientDataJSON = authenticator.create(await options()).response.clientDataJSON
  await api.post('/auth/passkeys/register', { response: repeated }, verified.jwt)
  await api.post('/auth/passkeys/register', {}, verified.jwt)
  await api.patch(`/auth/passkeys/${unknownId}`, { name: 'x' }, verified.jwt)
  await api.patch(`/auth/passkeys/${unknownId}`, { name: '' }, verified.jwt)

  for (const backend of ['jwt', 'cookie']) {
    const loginOptions = async () => (await api.post(`/auth/${backend}/login/passkey/options`)).json()
    const login = (payload: unknown, headers: Record<string, string> = {}) =>
      api.send({ method: 'POST', url: `/auth/${backend}/login/passkey`, payload: payload as never, headers })
    const assertion = authenticator.get(await loginOptions(), { credentialId: response.id })
    await login({ response: assertion })
    await login({ response: assertion }) // spent
    await login({ response: authenticator.get(await loginOptions(), { credentialId: response.id, counter: 0 }) })
    await login({})
    await login({ response: authenticator.get(await loginOptions(), { credentialId: response.id }) }, CROSS_SITE)
  }
  // the passkey's owner unverified, then inactive
  await api.patch(`/users/${verified.user.id}`, { is_verified: false }, admin.jwt)
  const signIn = async (backend: string) =>
    api.post(`/auth/${backend}/login/passkey`, {
      response: authenticator.get((await api.post(`/auth/${backend}/login/passkey/options`)).json(), {
        credentialId: response.id,
      }),
    })
  for (const backend of ['jwt', 'cookie']) await signIn(backend)
  await api.patch(`/users/${verified.user.id}`, { is_verified: true, is_active: false }, admin.jwt)
  for (const backend of ['jwt', 'cookie']) await signIn(backend)
  await api.patch(`/users/${verified.user.id}`, { is_active: true }, admin.jwt)

  const ofUser = `/users/${verified.user.id}/passkeys`
  await api.delete(ofUser)
  await api.delete(ofUser, verified.jwt)
  await api.crossSite('DELETE', ofUser, admin.cookie)
  await api.delete(`/users/${unknownId}/passkeys`, admin.jwt)
}

describe('every documented error is answered, and every error answered is documented', () => {
  describe('verification required, no rate limits (SQLite)', () => {
    let now = Date.now() // the second factors' clock (TOTP steps), moved by the test
    let service: TestApp
    let doc: Doc
    let api: Api
    const logs: object[] = []

    before(async () => {
      service = (await startTestApp(
        'sqlite',
        {
          REQUIRE_VERIFICATION: 'true',
          LOGIN_WITH_USERNAME: 'true',
          SELF_DELETE: 'true',
          LOG_LEVEL: 'info',
          BODY_LIMIT: '4096',
          OAUTH_GITHUB_CLIENT_ID: 'github-client',
          OAUTH_GITHUB_CLIENT_SECRET: 'github-secret',
          PASSKEYS: 'true',
          PUBLIC_URL: PASSKEY_ORIGIN,
        },
        { logs, clock: () => new Date(now) },
      )) as TestApp
      doc = await openApiOf(service.app)
      api = auditedClient(service.app, doc)
    })
    after(() => service?.close())

    test('each route driven into each of its errors', async () => {
      const app = service.app
      const verified = await userOf(app, { is_verified: true })
      const unverified = await userOf(app, {})
      const admin = await userOf(app, { is_verified: true, is_superuser: true })
      const unknownId = '00000000-0000-4000-8000-000000000000'

      for (const backend of ['jwt', 'cookie']) {
        await api.login(backend, verified.email, 'wrong-password-123')
        await api.login(backend, unverified.email, PASSWORD)
        await api.send({ method: 'POST', url: `/auth/${backend}/login` })
        await api.login(backend, verified.email, PASSWORD, CROSS_SITE)
        await api.post(`/auth/${backend}/logout`)
      }
      await api.post('/auth/jwt/logout', undefined, unverified.jwt)
      await api.send({
        method: 'POST',
        url: '/auth/cookie/logout',
        headers: { cookie: `fastapiusersauth=${unverified.cookie}` },
      })
      await api.crossSite('POST', '/auth/jwt/logout', verified.cookie)
      await api.crossSite('POST', '/auth/cookie/logout', verified.cookie)

      await api.post('/auth/jwt/refresh', { refresh_token: 'no-such-token' })
      const jwtBackend = app.users.backends.find((b) => b.name === 'jwt')
      const refreshToken = await jwtBackend?.refresh?.issue(unverified.user, 'jwt')
      await api.post('/auth/jwt/refresh', { refresh_token: refreshToken })

      await api.post('/auth/register', { email: verified.email, password: PASSWORD, first_name: 'Ann' })
      await api.post('/auth/register', { email: newEmail('apidocs'), password: 'short', first_name: 'Ann' })
      await api.post('/auth/register', {})
      await api.post('/auth/forgot-password', {})
      await api.post('/auth/request-verify-token', {})

      await api.post('/auth/reset-password', { token: 'not-a-token', password: PASSWORD })
      await api.post('/auth/forgot-password', { email: verified.email })
      await api.post('/auth/reset-password', { token: await mailedResetToken(logs, verified.email), password: 'short' })
      await api.post('/auth/reset-password', {})

      await api.post('/auth/verify', { token: 'not-a-token' })
      await api.post('/auth/verify', { token: await verifyToken(verified.user.id, verified.email) })
      await api.post('/auth/verify', {})

      await api.get('/users/me')
      await api.get('/users/me', unverified.jwt)
      await api.patch('/users/me', { email: admin.email }, verified.jwt)
      await api.patch('/users/me', { password: 'short' }, verified.jwt)
      await api.patch('/users/me', {}, undefined)
      await api.patch('/users/me', {}, unverified.jwt)
      await api.crossSite('PATCH', '/users/me', verified.cookie, {})
      await api.patch('/users/me', { email: 'not an address' }, verified.jwt)

      for (const url of ['/users/me/sessions', `/users/me/sessions/${unknownId}`]) {
        await api.delete(url)
        await api.delete(url, unverified.jwt)
        await api.crossSite('DELETE', url, verified.cookie)
      }
      await api.get('/users/me/sessions')
      await api.get('/users/me/sessions', unverified.jwt)
      await api.delete(`/users/me/sessions/${unknownId}`, verified.jwt)

      // the audit log's read routes: the user's own events, every event for superusers
      for (const url of ['/users/me/events', '/audit-events']) {
        await api.get(url)
        await api.get(url, unverified.jwt)
        await api.get(`${url}?limit=0`, url === '/audit-events' ? admin.jwt : verified.jwt)
      }
      await api.get('/audit-events', verified.jwt)

      const other = `/users/${verified.user.id}`
      await api.get(other)
      await api.get(other, verified.jwt)
      await api.get(`/users/${unknownId}`, admin.jwt)
      await api.patch(other, { email: admin.email }, admin.jwt)
      await api.patch(other, { password: 'short' }, admin.jwt)
      await api.patch(other, {})
      await api.patch(other, {}, verified.jwt)
      await api.crossSite('PATCH', other, admin.cookie, {})
      await api.patch(`/users/${unknownId}`, {}, admin.jwt)
      await api.patch(other, { is_active: 'maybe' }, admin.jwt)
      await api.delete(other)
      await api.delete(other, verified.jwt)
      await api.crossSite('DELETE', other, admin.cookie)
      await api.delete(`/users/${unknownId}`, admin.jwt)

      // the superusers' user list, their creation of a user, their sign-out of another user
      await api.get('/users')
      await api.get('/users', verified.jwt)
      await api.get('/users?limit=101', admin.jwt)
      await api.post('/users', { email: admin.email, password: PASSWORD, first_name: 'Ann' }, admin.jwt)
      await api.post('/users', { email: newEmail('apidocs'), password: 'short', first_name: 'Ann' }, admin.jwt)
      await api.post('/users', {})
      await api.post('/users', {}, verified.jwt)
      await api.crossSite('POST', '/users', admin.cookie, {})
      await api.post('/users', { email: 'not an address', password: PASSWORD }, admin.jwt)
      const sessionsOf = `/users/${verified.user.id}/sessions`
      await api.delete(sessionsOf)
      await api.delete(sessionsOf, verified.jwt)
      await api.crossSite('DELETE', sessionsOf, admin.cookie)
      await api.delete(`/users/${unknownId}/sessions`, admin.jwt)

      // a username another user has (LOGIN_WITH_USERNAME): on registration, the user's and a superuser's update
      const taken = { password: PASSWORD, first_name: 'Ann', username: 'apidocs.taken' }
      await api.post('/auth/register', { email: newEmail('apidocs'), ...taken })
      await api.post('/auth/register', { email: newEmail('apidocs'), ...taken, username: 'APIDOCS.taken' })
      await api.patch('/users/me', { username: 'apidocs.TAKEN' }, verified.jwt)
      await api.patch(other, { username: 'apidocs.taken' }, admin.jwt)
      await api.post('/users', { email: newEmail('apidocs'), ...taken }, admin.jwt)
      // a user deleting its own account (SELF_DELETE), and the before-delete veto on both deletions
      const deleteMe = (token: string | undefined, payload: unknown) =>
        api.send({
          method: 'DELETE',
          url: '/users/me',
          payload: payload as never,
          headers: token ? { authorization: `Bearer ${token}` } : {},
        })
      const leaving = await userOf(app, { is_verified: true })
      await deleteMe(undefined, { password: PASSWORD })
      await deleteMe(unverified.jwt, { password: PASSWORD })
      await api.crossSite('DELETE', '/users/me', leaving.cookie, { password: PASSWORD })
      await deleteMe(leaving.jwt, { password: 42 })
      await deleteMe(leaving.jwt, { password: 'wrong-password-123' })
      const { hooks } = app.users.manager
      const onBeforeDelete = hooks.onBeforeDelete
      hooks.onBeforeDelete = () => {
        throw new DeleteRefused()
      }
      try {
        await deleteMe(leaving.jwt, { password: PASSWORD })
        await api.delete(`/users/${leaving.user.id}`, admin.jwt)
      } finally {
        hooks.onBeforeDelete = onBeforeDelete
      }
      await deleteMe(leaving.jwt, { password: PASSWORD })
      // second factors: a user with TOTP on (its enrolment counts as a recent authentication of its JWT's session)
      const tf = await userOf(app, { is_verified: true })
      const tfCookie = (method: string, url: string, payload?: unknown) =>
        api.send({ method, url, payload: payload as never, headers: { cookie: `fastapiusersauth=${tf.cookie}` } })
      await api.get('/auth/2fa')
      const { secret } = (await api.post('/auth/2fa/totp/setup', undefined, tf.jwt)).json()
      const key = base32Decode(secret)
      const code = () => totp(key, now)
      await api.post('/auth/2fa/totp/enable', { code: totp(key, now + 5 * 30_000) }, tf.jwt)
      await api.post('/auth/2fa/totp/enable', {}, tf.jwt)
      await api.crossSite('POST', '/auth/2fa/totp/enable', tf.cookie, { code: code() })
      await api.post('/auth/2fa/totp/enable', { code: code() }, tf.jwt)
      await api.post('/auth/2fa/totp/setup', undefined, tf.jwt)
      await api.crossSite('POST', '/auth/2fa/totp/setup', tf.cookie)
      await tfCookie('PATCH', '/users/me', { email: newEmail('apidocs') })
      for (const path of ['/auth/2fa/disable', '/auth/2fa/recovery-codes', '/auth/2fa/step-up']) {
        await api.post(path, { code: '1' }, verified.jwt)
        await api.crossSite('POST', path, tf.cookie, { code: '1' })
        await api.post(path, { code: 5 }, tf.jwt)
      }
      await tfCookie('POST', '/auth/2fa/disable', { password: PASSWORD })
      await tfCookie('POST', '/auth/2fa/recovery-codes', { code: code() })
      await api.post('/auth/2fa/disable', { password: 'wrong-password-123' }, tf.jwt)
      await api.post('/auth/2fa/recovery-codes', { code: totp(key, now + 5 * 30_000) }, tf.jwt)
      await api.post('/auth/2fa/step-up', { code: totp(key, now + 5 * 30_000) }, tf.jwt)
      await api.delete(`/users/${tf.user.id}/2fa`)
      await api.delete(`/users/${tf.user.id}/2fa`, verified.jwt)
      await api.crossSite('DELETE', `/users/${tf.user.id}/2fa`, admin.cookie)
      await api.delete(`/users/${unknownId}/2fa`, admin.jwt)
      for (const backend of ['jwt', 'cookie']) {
        const ticket = (await api.login(backend, tf.email, PASSWORD)).json().detail.ticket
        await api.post(`/auth/${backend}/login/2fa`, { ticket: 'no-such-ticket', code: code() })
        await api.post(`/auth/${backend}/login/2fa`, {})
        await api.send({
          method: 'POST',
          url: `/auth/${backend}/login/2fa`,
          payload: { ticket, code: code() },
          headers: CROSS_SITE,
        })
        // unverified meanwhile: the second step refuses as the first would have
        await app.users.manager.update(tf.user, { is_verified: false }, { safe: false })
        now += 30_000
        await api.post(`/auth/${backend}/login/2fa`, { ticket, code: code() })
        await app.users.manager.update(tf.user, { is_verified: true }, { safe: false })
      }
      await drivePasskeys(api, { verified, unverified, admin }, unknownId)
      // a passkey as the second factor: a ticket's options; step-up by passkey; what needs a step-up
      for (const backend of ['jwt', 'cookie']) {
        await api.post(`/auth/${backend}/login/2fa/passkey/options`, { ticket: 'no-such-ticket' })
        await api.post(`/auth/${backend}/login/2fa/passkey/options`, {})
        await api.send({
          method: 'POST',
          url: `/auth/${backend}/login/2fa/passkey/options`,
          payload: { ticket: 'no-such-ticket' },
          headers: CROSS_SITE,
        })
      }
      await api.post('/auth/2fa/step-up/passkey/options')
      await api.post('/auth/2fa/step-up/passkey/options', undefined, unverified.jwt)
      await api.crossSite('POST', '/auth/2fa/step-up/passkey/options', tf.cookie)
      const tfKey = new SoftwareAuthenticator(PASSKEY_ORIGIN)
      const tfOptions = (await api.post('/auth/passkeys/register/options', undefined, tf.jwt)).json()
      const tfPasskey = (
        await api.post('/auth/passkeys/register', { response: tfKey.create(tfOptions) }, tf.jwt)
      ).json()
      await tfCookie('DELETE', `/auth/passkeys/${tfPasskey.id}`)
      await tfCookie('DELETE', '/users/me', { password: PASSWORD })

      // social login, as far as it goes without a provider's answer
      /** Starts a flow and comes back from the provider with `error=access_denied`, state and cookie as they should be. */
      const refusedAtProvider = async (prefix: string, token?: string) => {
        const started = await api.get(`${prefix}/authorize`, token)
        const state = new URL(started.json().authorization_url).searchParams.get('state') as string
        const csrf = String(started.headers['set-cookie']).split(';')[0] as string
        const headers = { cookie: csrf, ...(token && { authorization: `Bearer ${token}` }) }
        const url = `${prefix}/callback?state=${encodeURIComponent(state)}&error=access_denied`
        await api.send({ method: 'GET', url, headers })
      }
      await api.get('/auth/github/authorize?scopes=%20')
      await api.get('/auth/github/callback')
      await api.get('/auth/github/callback?code=a&code=b')
      await refusedAtProvider('/auth/github')
      for (const path of ['/auth/associate/github/authorize', '/auth/associate/github/callback']) {
        await api.get(path)
        await api.get(path, unverified.jwt)
      }
      await api.get('/auth/associate/github/authorize?scopes=%20', verified.jwt)
      await api.get('/auth/associate/github/callback', verified.jwt)
      await api.get('/auth/associate/github/callback?code=a&code=b', verified.jwt)
      await refusedAtProvider('/auth/associate/github', verified.jwt)

      // a body over BODY_LIMIT, JSON nested too deep, a broken multipart form: wherever a body is read
      for (const [path, ops] of Object.entries<Doc>(doc.paths)) {
        for (const method of Object.keys(ops).filter((m) => m !== 'get')) {
          const url = path.replace(/\{[^}]+\}/g, unknownId)
          const send = (contentType: string, payload: string) =>
            api.send({ method: method.toUpperCase(), url, headers: { 'content-type': contentType }, payload })
          await send('application/json', JSON.stringify({ email: 'x'.repeat(5000) }))
          await send('application/json', `${'['.repeat(1001)}${']'.repeat(1001)}`)
          await send('multipart/form-data; boundary=abc', 'no such boundary')
        }
      }

      // what needs another service: rate limits and an unreachable database (below)
      const elsewhere = new Set(['429', '503'])
      assert.deepEqual(
        undriven(doc, api, (status) => !elsewhere.has(status)),
        [],
        'documented but never answered',
      )
      // what only a provider's answer leads to (test/oauth drives those flows against a fake GitHub)
      const afterProvider = new Set([
        'OAUTH_NOT_AVAILABLE_EMAIL',
        'OAUTH_USER_ALREADY_EXISTS',
        'OAUTH_ACCOUNT_ALREADY_LINKED',
        'LOGIN_BAD_CREDENTIALS',
        'LOGIN_USER_NOT_VERIFIED',
        'LOGIN_2FA_REQUIRED',
      ])
      const social = [...documentedErrors(doc, (id) => !notOAuth(id))]
      assert.ok(social.length > 0)
      assert.deepEqual(
        social.filter((k) => {
          const [, status, code] = k.split(' ')
          return !api.seen.has(k) && !elsewhere.has(status as string) && !afterProvider.has(code as string)
        }),
        [],
        'social login: documented but never answered',
      )
    })
  })

  describe('rate limits of one request per window (SQLite)', () => {
    let service: TestApp
    let doc: Doc
    let api: Api

    before(async () => {
      service = (await startTestApp('sqlite', {
        RATE_LIMIT: 'true',
        RATE_LIMIT_IP_REQUESTS: '1',
        RATE_LIMIT_ACCOUNT_REQUESTS: '1',
        SELF_DELETE: 'true',
        PASSKEYS: 'true',
        PUBLIC_URL: PASSKEY_ORIGIN,
      })) as TestApp
      doc = await openApiOf(service.app)
      api = auditedClient(service.app, doc)
    })
    after(() => service?.close())

    test('each limited route answers 429, documented', async () => {
      const user = await userOf(service.app, { is_verified: true })
      const twice = async (request: () => Promise<unknown>) => {
        await request()
        await request()
      }
      for (const backend of ['jwt', 'cookie']) await twice(() => api.login(backend, user.email, 'wrong-password-123'))
      await twice(() => api.post('/auth/jwt/refresh', { refresh_token: 'no-such-token' }))
      await twice(() => api.post('/auth/register', { email: user.email, password: PASSWORD, first_name: 'Ann' }))
      await twice(() => api.post('/auth/forgot-password', { email: user.email }))
      await twice(() => api.post('/auth/reset-password', { token: 'not-a-token', password: PASSWORD }))
      await twice(() => api.post('/auth/request-verify-token', { email: user.email }))
      await twice(() => api.post('/auth/verify', { token: 'not-a-token' }))
      await twice(() => api.patch('/users/me', { password: 'short' }, user.jwt))
      // DELETE /users/me: wrong passwords count toward the login lock-out until it refuses
      const leaving = await userOf(service.app, { is_verified: true })
      for (let i = 0; i < 12; i++) {
        const res = await api.send({
          method: 'DELETE',
          url: '/users/me',
          payload: { password: 'wrong-password-123' },
          headers: { authorization: `Bearer ${leaving.jwt}` },
        })
        if (res.statusCode === 429) break
      }
      for (const backend of ['jwt', 'cookie'])
        await twice(() => api.post(`/auth/${backend}/login/2fa`, { ticket: 'no-such-ticket', code: '000000' }))
      await twice(() => api.post('/auth/2fa/step-up', { code: '000000' }, user.jwt))
      for (const backend of ['jwt', 'cookie'])
        await twice(() => api.post(`/auth/${backend}/login/2fa/passkey/options`, { ticket: 'no-such-ticket' }))
      for (const backend of ['jwt', 'cookie']) {
        await twice(() => api.post(`/auth/${backend}/login/passkey/options`))
        await twice(() => api.post(`/auth/${backend}/login/passkey`, { response: {} }))
      }
      const limited = [...documentedErrors(doc, notOAuth)].filter((k) => k.includes(' 429 '))
      assert.equal(limited.length, 19, limited.join('\n'))
      assert.deepEqual(
        undriven(doc, api, (status) => status === '429'),
        [],
      )
    })
  })

  describe('the database out of reach (PostgreSQL through a proxy it cuts)', () => {
    let database: TestDatabase | null
    let proxy: TcpProxy
    let app: FastifyInstance
    let doc: Doc
    let api: Api

    before(async () => {
      database = await createTestDatabase('postgres')
      if (!database) return
      const target = new URL(database.url)
      proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
      app = await startServiceOn(proxy.url(database.url), {
        DATABASE_TIMEOUT_MS: '1000',
        SELF_DELETE: 'true',
        PASSKEYS: 'true',
        PUBLIC_URL: PASSKEY_ORIGIN,
      })
      doc = await openApiOf(app)
      api = auditedClient(app, doc)
    })
    after(async () => {
      await app?.close()
      await proxy?.close()
      await database?.drop()
    })

    test('every route that needs it answers 503, documented', async (t) => {
      if (!database) return t.skip('PostgreSQL is not reachable')
      const user = await userOf(app, { is_verified: true, is_superuser: true })
      const id = `/users/${user.user.id}`
      const verify = await verifyToken(user.user.id, user.email)
      // well-formed, so the user is looked up (its fingerprint would only be checked after)
      const reset = await signed({ sub: user.user.id, password_fgpt: 'any', aud: 'fastapi-users:reset' })
      await proxy.refuse()
      for (const backend of ['jwt', 'cookie']) {
        await api.login(backend, user.email, PASSWORD)
        await api.post(`/auth/${backend}/logout`, undefined, user.jwt)
      }
      await api.post('/auth/jwt/refresh', { refresh_token: 'some-token' })
      await api.post('/auth/register', { email: newEmail('apidocs'), password: PASSWORD, first_name: 'Ann' })
      await api.post('/auth/forgot-password', { email: user.email })
      await api.post('/auth/request-verify-token', { email: user.email })
      await api.post('/auth/verify', { token: verify })
      await api.post('/auth/reset-password', { token: reset, password: PASSWORD })
      await api.get('/users/me', user.jwt)
      await api.patch('/users/me', {}, user.jwt)
      await api.get('/users/me/sessions', user.jwt)
      await api.get('/users/me/events', user.jwt)
      await api.get('/audit-events', user.jwt)
      await api.delete('/users/me/sessions', user.jwt)
      await api.delete('/users/me/sessions/some-id', user.jwt)
      await api.get(id, user.jwt)
      await api.patch(id, {}, user.jwt)
      await api.delete(id, user.jwt)
      await api.get('/users', user.jwt)
      await api.post('/users', { email: newEmail('apidocs'), password: PASSWORD }, user.jwt)
      await api.delete(`${id}/sessions`, user.jwt)
      await api.send({
        method: 'DELETE',
        url: '/users/me',
        payload: { password: PASSWORD },
        headers: { authorization: `Bearer ${user.jwt}` },
      })
      for (const backend of ['jwt', 'cookie'])
        await api.post(`/auth/${backend}/login/2fa`, { ticket: 'some-ticket', code: '000000' })
      await api.get('/auth/2fa', user.jwt)
      await api.post('/auth/2fa/totp/setup', undefined, user.jwt)
      for (const path of [
        '/auth/2fa/totp/enable',
        '/auth/2fa/disable',
        '/auth/2fa/recovery-codes',
        '/auth/2fa/step-up',
      ])
        await api.post(path, { code: '000000' }, user.jwt)
      await api.delete(`${id}/2fa`, user.jwt)
      for (const backend of ['jwt', 'cookie'])
        await api.post(`/auth/${backend}/login/2fa/passkey/options`, { ticket: 'some-ticket' })
      await api.post('/auth/2fa/step-up/passkey/options', undefined, user.jwt)
      // passkeys: a well-formed assertion, so that its challenge is looked up
      const authenticator = new SoftwareAuthenticator(PASSKEY_ORIGIN)
      authenticator.create({ rp: { id: 'localhost' }, user: { id: 'MQ' }, challenge: 'x' })
      const assertion = authenticator.get({ challenge: 'c'.repeat(43) })
      await api.post('/auth/passkeys/register/options', undefined, user.jwt)
      await api.post('/auth/passkeys/register', { response: {} }, user.jwt)
      await api.get('/auth/passkeys', user.jwt)
      await api.patch('/auth/passkeys/some-id', { name: 'x' }, user.jwt)
      await api.delete('/auth/passkeys/some-id', user.jwt)
      for (const backend of ['jwt', 'cookie']) {
        await api.post(`/auth/${backend}/login/passkey/options`)
        await api.post(`/auth/${backend}/login/passkey`, { response: assertion })
      }
      await api.delete(`${id}/passkeys`, user.jwt)
      assert.equal([...documentedErrors(doc, notOAuth)].filter((k) => k.includes(' 503 ')).length, 46)
      assert.deepEqual(
        undriven(doc, api, (status) => status === '503'),
        [],
      )
    })
  })

  describe('e-mail changes confirmed: POST /auth/confirm-email-change (SQLite, rate limits of one request; PostgreSQL cut)', () => {
    const ours = (operationId: string) => operationId.startsWith('email_change')
    /** An e-mail change token as the service signs them, for this user as it is stored now. */
    const emailChangeToken = (user: { id: unknown; email: string; hashed_password: string }, newAddress: string) =>
      signed({
        sub: String(user.id),
        new_email: newAddress,
        fgpt: emailChangeFingerprint(user.email, user.hashed_password, TEST_SECRET),
        aud: 'fastify-users:email-change',
      })
    let service: TestApp
    let database: TestDatabase | null
    let proxy: TcpProxy
    let cut: FastifyInstance

    before(async () => {
      service = (await startTestApp('sqlite', {
        EMAIL_CHANGE: 'confirm',
        BODY_LIMIT: '4096',
        RATE_LIMIT: 'true',
        RATE_LIMIT_IP_REQUESTS: '1',
      })) as TestApp
      database = await createTestDatabase('postgres')
      if (!database) return
      const target = new URL(database.url)
      proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
      cut = await startServiceOn(proxy.url(database.url), { DATABASE_TIMEOUT_MS: '1000', EMAIL_CHANGE: 'confirm' })
    })
    after(async () => {
      await service?.close()
      await cut?.close()
      await proxy?.close()
      await database?.drop()
    })

    test('each error of the route answered, documented', async (t) => {
      const doc = await openApiOf(service.app)
      const api = auditedClient(service.app, doc)
      // one request per client address (the limit is one), but the last two
      let address = 0
      const from = (options: InjectOptions & { url: string; method: string }) =>
        api.send({ ...options, remoteAddress: `10.0.0.${++address}` })
      const url = '/auth/confirm-email-change'
      const post = (payload: unknown) => from({ method: 'POST', url, payload: payload as never })
      const raw = (contentType: string, payload: string) =>
        from({ method: 'POST', url, headers: { 'content-type': contentType }, payload })

      const { user } = await userOf(service.app, { is_verified: true })
      const other = await userOf(service.app, {})
      assert.equal((await post({ token: 'not-a-token' })).statusCode, 400)
      assert.equal((await post({ token: await emailChangeToken(user, other.email) })).statusCode, 400)
      assert.equal((await post({})).statusCode, 422)
      await raw('application/json', JSON.stringify({ token: 'x'.repeat(5000) }))
      await raw('application/json', `${'['.repeat(1001)}${']'.repeat(1001)}`)
      await raw('multipart/form-data; boundary=abc', 'no such boundary')
      const twice = { method: 'POST', url, payload: { token: 'not-a-token' }, remoteAddress: '10.0.1.1' }
      await api.send(twice)
      assert.equal((await api.send(twice)).statusCode, 429)

      if (!database) return t.skip('PostgreSQL is not reachable: the 503 is not driven')
      const cutDoc = await openApiOf(cut)
      const cutApi = auditedClient(cut, cutDoc)
      const stored = await userOf(cut, {})
      const token = await emailChangeToken(stored.user, newEmail('apidocs'))
      await proxy.refuse()
      assert.equal((await cutApi.post(url, { token })).statusCode, 503)

      const seen = new Set([...api.seen, ...cutApi.seen])
      assert.deepEqual(
        [...documentedErrors(doc, ours)].filter((k) => !seen.has(k)),
        [],
        'documented but never answered',
      )
      assert.equal([...documentedErrors(doc, ours)].length, 7)
    })
  })
})
