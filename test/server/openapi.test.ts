import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'

describe('the OpenAPI document client generators depend on', () => {
  let app: FastifyInstance
  let doc: Record<string, any>

  before(async () => {
    app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }), { logger: false })
    doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
  })
  after(() => app.close())

  const operations = () =>
    Object.entries<Record<string, any>>(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    )

  test('is OpenAPI 3.1 with FastAPI’s operationIds', () => {
    assert.match(doc.openapi, /^3\.1\./)
    assert.deepEqual(
      operations()
        .map(({ op }) => op.operationId)
        .sort(),
      [
        'auth_cookie_login_auth_cookie_login_post',
        'auth_cookie_logout_auth_cookie_logout_post',
        'auth_jwt_login_auth_jwt_login_post',
        'auth_jwt_logout_auth_jwt_logout_post',
        'auth_jwt_refresh_auth_jwt_refresh_post',
        'register_register_auth_register_post',
        'reset_forgot_password_auth_forgot_password_post',
        'reset_reset_password_auth_reset_password_post',
        'users_current_user_users_me_get',
        'users_delete_user_users__id__delete',
        'users_patch_current_user_users_me_patch',
        'users_patch_user_users__id__patch',
        'users_revoke_session_users_me_sessions__id__delete',
        'users_revoke_sessions_users_me_sessions_delete',
        'users_sessions_users_me_sessions_get',
        'users_user_users__id__get',
        'verify_request_token_auth_request_verify_token_post',
        'verify_verify_auth_verify_post',
      ],
    )
  })

  test('tags auth and users; every backend’s scheme on protected operations only', () => {
    for (const { path, op } of operations()) {
      assert.deepEqual(op.tags, [path.startsWith('/users') ? 'users' : 'auth'], path)
      const isProtected = path.startsWith('/users') || path.endsWith('/logout')
      assert.deepEqual(
        op.security,
        isProtected ? [{ OAuth2PasswordBearer: [] }, { APIKeyCookie: [] }] : undefined,
        path,
      )
    }
    assert.deepEqual(doc.components.securitySchemes, {
      OAuth2PasswordBearer: { type: 'oauth2', flows: { password: { scopes: {}, tokenUrl: 'auth/jwt/login' } } },
      APIKeyCookie: { type: 'apiKey', in: 'cookie', name: 'fastapiusersauth' },
    })
  })

  test('FastAPI’s schema names, with first_name in the user schemas and never hashed_password', () => {
    for (const name of [
      'UserRead',
      'UserCreate',
      'UserUpdate',
      'BearerResponse',
      'ErrorModel',
      'HTTPValidationError',
    ]) {
      assert.ok(doc.components.schemas[name], name)
    }
    assert.deepEqual(Object.keys(doc.components.schemas.UserRead.properties), [
      'id',
      'email',
      'is_active',
      'is_superuser',
      'is_verified',
      'first_name',
    ])
    assert.ok(doc.components.schemas.UserCreate.required.includes('first_name'))
    assert.doesNotMatch(JSON.stringify(doc), /hashed_password/)
    const register = doc.paths['/auth/register'].post
    assert.deepEqual(register.requestBody.content['application/json'].schema, {
      $ref: '#/components/schemas/UserCreate',
    })
    assert.deepEqual(register.responses['201'].content['application/json'].schema, {
      $ref: '#/components/schemas/UserRead',
    })
  })

  test('login takes a form', () => {
    const login = doc.paths['/auth/jwt/login'].post
    assert.ok(login.requestBody.content['application/x-www-form-urlencoded'])
  })

  test('Swagger UI is served at /docs', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs' })
    assert.equal(res.statusCode, 200)
    assert.match(res.body, /Swagger UI/)
    const json = await app.inject({ method: 'GET', url: '/docs/json' })
    assert.equal(json.json().openapi, doc.openapi)
  })
})
