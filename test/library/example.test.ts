import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import { buildExampleApp } from '../../examples/library.js'

const SECRET = 'library-example-secret-0123456789abcdef'

describe('the README library example', () => {
  let app: FastifyInstance
  let dir: string
  const events: string[] = []

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fastify-users-example-'))
    app = await buildExampleApp(`sqlite:${join(dir, 'app.sqlite')}`, SECRET, events)
  })
  after(async () => {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const form = (username: string, password: string) => ({
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ username, password }).toString(),
  })

  test('registers a user with the custom field and calls the hook', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'ada@example.com', password: 'analytical-engine', first_name: 'Ada' },
    })
    assert.equal(res.statusCode, 201)
    assert.deepEqual(Object.keys(res.json()).sort(), [
      'email',
      'first_name',
      'id',
      'is_active',
      'is_superuser',
      'is_verified',
    ])
    assert.deepEqual(events, ['registered ada@example.com'])
  })

  test('the custom field is validated by its schema', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'long@example.com', password: 'long-enough-pw', first_name: 'x'.repeat(101) },
    })
    assert.equal(res.statusCode, 422)
    assert.deepEqual(res.json().detail[0].loc, ['body', 'first_name'])
  })

  test('bearer login carries the custom claim and opens the protected route', async () => {
    const login = await app.inject({
      method: 'POST',
      url: '/auth/jwt/login',
      ...form('ada@example.com', 'analytical-engine'),
    })
    assert.equal(login.statusCode, 200)
    const token = login.json().access_token
    assert.equal(decodeJwt(token).first_name, 'Ada')
    const res = await app.inject({ method: 'GET', url: '/protected', headers: { authorization: `Bearer ${token}` } })
    assert.deepEqual([res.statusCode, res.json()], [200, { message: 'Hello Ada' }])
  })

  test('cookie login sets the fastapi-users cookie, and the cookie authenticates', async () => {
    const login = await app.inject({
      method: 'POST',
      url: '/auth/cookie/login',
      ...form('ada@example.com', 'analytical-engine'),
    })
    assert.equal(login.statusCode, 204)
    assert.equal(login.body, '')
    const setCookie = String(login.headers['set-cookie'])
    assert.match(
      setCookie,
      /^fastapiusersauth=[^;]+; Max-Age=3600; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/,
    )
    const value = setCookie.split(';')[0]!.split('=')[1]!
    const res = await app.inject({ method: 'GET', url: '/users/me', cookies: { fastapiusersauth: value } })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().email, 'ada@example.com')

    const logout = await app.inject({
      method: 'POST',
      url: '/auth/cookie/logout',
      cookies: { fastapiusersauth: value },
    })
    assert.equal(logout.statusCode, 204)
    assert.match(String(logout.headers['set-cookie']), /^fastapiusersauth=; Max-Age=0; Path=\/;/)
  })

  test('currentUser options: superuser is refused with 403, optional yields null', async () => {
    const token = (
      await app.inject({ method: 'POST', url: '/auth/jwt/login', ...form('ada@example.com', 'analytical-engine') })
    ).json().access_token
    const admin = await app.inject({ method: 'GET', url: '/admin', headers: { authorization: `Bearer ${token}` } })
    assert.deepEqual([admin.statusCode, admin.json()], [403, { detail: 'Forbidden' }])
    const anonymous = await app.inject({ method: 'GET', url: '/admin' })
    assert.deepEqual([anonymous.statusCode, anonymous.json()], [401, { detail: 'Unauthorized' }])
    const maybe = await app.inject({ method: 'GET', url: '/maybe' })
    assert.deepEqual([maybe.statusCode, maybe.json()], [200, { user: null }])
    const known = await app.inject({ method: 'GET', url: '/maybe', headers: { authorization: `Bearer ${token}` } })
    assert.deepEqual([known.statusCode, known.json()], [200, { user: 'ada@example.com' }])
  })

  test('the forgot-password hook receives a token', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/forgot-password',
      payload: { email: 'ADA@example.com' },
    })
    assert.deepEqual([res.statusCode, res.body], [202, 'null'])
    assert.equal(events.at(-1), 'reset token for ada@example.com: true')
  })

  test('OpenAPI lists both backends as security schemes', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['APIKeyCookie', 'OAuth2PasswordBearer'])
    assert.deepEqual(doc.paths['/users/me'].get.security, [{ OAuth2PasswordBearer: [] }, { APIKeyCookie: [] }])
    assert.ok(doc.components.schemas.UserRead.properties.first_name)
  })
})
