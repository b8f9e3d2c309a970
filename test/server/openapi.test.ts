import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Ajv } from 'ajv'
import type { FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { REDOC_CSP } from '../../server/redoc.js'
import {
  ARTIFACTS,
  launchBrowser,
  openPage,
  type PagesService,
  skipWithoutChromium,
  startPagesService,
} from '../pages/browser.js'

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
        'audit_events_audit_events_get',
        'auth_2fa_disable_auth_2fa_disable_post',
        'auth_2fa_recovery_codes_auth_2fa_recovery_codes_post',
        'auth_2fa_status_auth_2fa_get',
        'auth_2fa_step_up_auth_2fa_step_up_post',
        'auth_2fa_totp_enable_auth_2fa_totp_enable_post',
        'auth_2fa_totp_setup_auth_2fa_totp_setup_post',
        'auth_cookie_login_2fa_auth_cookie_login_2fa_post',
        'auth_cookie_login_auth_cookie_login_post',
        'auth_cookie_logout_auth_cookie_logout_post',
        'auth_jwt_login_2fa_auth_jwt_login_2fa_post',
        'auth_jwt_login_auth_jwt_login_post',
        'auth_jwt_logout_auth_jwt_logout_post',
        'auth_jwt_refresh_auth_jwt_refresh_post',
        'register_register_auth_register_post',
        'reset_forgot_password_auth_forgot_password_post',
        'reset_reset_password_auth_reset_password_post',
        'users_create_user_users_post',
        'users_current_user_users_me_get',
        'users_delete_user_2fa_users__id__2fa_delete',
        'users_delete_user_users__id__delete',
        'users_events_users_me_events_get',
        'users_list_users_users_get',
        'users_patch_current_user_users_me_patch',
        'users_patch_user_users__id__patch',
        'users_revoke_session_users_me_sessions__id__delete',
        'users_revoke_sessions_users_me_sessions_delete',
        'users_revoke_user_sessions_users__id__sessions_delete',
        'users_sessions_users_me_sessions_get',
        'users_user_users__id__get',
        'verify_request_token_auth_request_verify_token_post',
        'verify_verify_auth_verify_post',
      ],
    )
  })

  test('tags auth and users (and audit); every backend’s scheme on protected operations only', () => {
    for (const { path, op } of operations()) {
      const audit = path === '/audit-events' // the audit log, for superusers (past fastapi-users)
      assert.deepEqual(op.tags, [path.startsWith('/users') ? 'users' : audit ? 'audit' : 'auth'], path)
      const isProtected = path.startsWith('/users') || path.endsWith('/logout') || path.startsWith('/auth/2fa') || audit
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

/** `#/components/schemas/X` references replaced by the schemas, so each validates on its own. */
function inlined(node: unknown, components: Record<string, unknown>): unknown {
  if (Array.isArray(node)) return node.map((n) => inlined(n, components))
  if (!node || typeof node !== 'object') return node
  const ref = (node as { $ref?: string }).$ref
  if (ref?.startsWith('#/components/schemas/')) return inlined(components[ref.slice(21)], components)
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inlined(v, components)]))
}

describe('every operation documented, social login included', () => {
  let app: FastifyInstance
  let doc: Record<string, any>
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })

  before(async () => {
    const env = {
      DATABASE_URL: 'sqlite::memory:',
      LOG_LEVEL: 'silent',
      OAUTH_GITHUB_CLIENT_ID: 'github-client',
      OAUTH_GITHUB_CLIENT_SECRET: 'github-secret',
      REQUIRE_VERIFICATION: 'true',
    }
    app = await buildApp(loadConfig(env), { logger: false })
    doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
  })
  after(() => app.close())

  const operations = () =>
    Object.entries<Record<string, any>>(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    )
  const validates = (schema: unknown, value: unknown) => {
    const validate = ajv.compile(inlined(schema, doc.components.schemas) as object)
    return validate(value) ? true : ajv.errorsText(validate.errors)
  }

  test('each has FastAPI’s summary and a description', () => {
    assert.ok(
      operations().some(({ op }) => op.operationId.startsWith('oauth_github')),
      'OAuth routes are there',
    )
    assert.ok(operations().some(({ op }) => op.operationId.startsWith('oauth_associate_github')))
    for (const { path, op } of operations()) {
      assert.match(op.summary ?? '', /^[A-Z][\w-]*:\S/, `${path} summary`)
      assert.ok((op.description ?? '').length > 40, `${path} description`)
    }
    const summaries = Object.fromEntries(operations().map(({ op }) => [op.operationId, op.summary]))
    assert.equal(summaries.auth_jwt_login_auth_jwt_login_post, 'Auth:Jwt.Login')
    assert.equal(summaries.users_patch_current_user_users_me_patch, 'Users:Patch Current User')
    assert.equal(summaries.verify_request_token_auth_request_verify_token_post, 'Verify:Request-Token')
  })

  test('every answer has its own description; every error status names its codes as examples', () => {
    for (const { op } of operations()) {
      for (const [status, response] of Object.entries<Record<string, any>>(op.responses)) {
        const where = `${op.operationId} ${status}`
        assert.ok(response.description && response.description !== 'Default Response', where)
        if (Number(status) < 400) continue
        const examples = Object.entries<Record<string, any>>(response.content['application/json'].examples ?? {})
        assert.ok(examples.length > 0, `${where} has no example`)
        for (const [code, example] of examples) {
          assert.ok(example.summary, `${where} ${code} summary`)
          const detail = example.value.detail
          const carried = typeof detail === 'string' ? detail : Array.isArray(detail) ? 'VALIDATION_ERROR' : detail.code
          assert.equal(carried, code, `${where}: the example named ${code} carries ${carried}`)
          assert.equal(validates(response.content['application/json'].schema, example.value), true, `${where} ${code}`)
        }
      }
    }
  })

  test('fastapi-users’ wording for its own codes', () => {
    const examples = (path: string, method: string, status: number) =>
      doc.paths[path][method].responses[status].content['application/json'].examples
    // ours (TWO_FACTOR), past fastapi-users: the challenge of a user with a second factor
    const { LOGIN_2FA_REQUIRED: _challenge, ...login } = examples('/auth/jwt/login', 'post', 400)
    assert.deepEqual(login, {
      LOGIN_BAD_CREDENTIALS: {
        summary: 'Bad credentials or the user is inactive.',
        value: { detail: 'LOGIN_BAD_CREDENTIALS' },
      },
      LOGIN_USER_NOT_VERIFIED: {
        summary: 'The user requires verification.',
        value: { detail: 'LOGIN_USER_NOT_VERIFIED' },
      },
      'There was an error parsing the body': {
        summary:
          'The body cannot be parsed (JSON nested deeper than Python could read, a broken multipart form), as FastAPI answers.',
        value: { detail: 'There was an error parsing the body' },
      },
    })
    assert.deepEqual(examples('/auth/register', 'post', 400).REGISTER_INVALID_PASSWORD, {
      summary: 'Password validation failed.',
      value: { detail: { code: 'REGISTER_INVALID_PASSWORD', reason: 'Password should be at least 8 characters' } },
    })
    assert.equal(doc.paths['/users/me'].get.responses['401'].description, 'Missing token or inactive user.')
    assert.equal(doc.paths['/users/{id}'].delete.responses['404'].description, 'The user does not exist.')
    assert.deepEqual(Object.keys(examples('/users/{id}', 'patch', 403)), ['Forbidden', 'CSRF_CHECK_FAILED'])
    assert.deepEqual(Object.keys(examples('/auth/cookie/login', 'post', 403)), ['CSRF_CHECK_FAILED'])
    assert.equal(doc.paths['/auth/jwt/login'].post.responses['403'], undefined, 'a Bearer login knows no CSRF')
  })

  test('request bodies and user answers have examples that fit their schemas', () => {
    let bodies = 0
    for (const { op } of operations()) {
      for (const [type, media] of Object.entries<Record<string, any>>(op.requestBody?.content ?? {})) {
        assert.ok(media.example, `${op.operationId} ${type} body example`)
        assert.equal(validates(media.schema, media.example), true, `${op.operationId} body example`)
        bodies++
      }
      for (const [status, response] of Object.entries<Record<string, any>>(op.responses)) {
        const media = response.content?.['application/json']
        if (Number(status) >= 400 || !media?.examples) continue
        for (const example of Object.values<Record<string, any>>(media.examples))
          assert.equal(validates(media.schema, example.value), true, `${op.operationId} ${status} example`)
      }
    }
    assert.ok(bodies >= 10, `${bodies} request bodies`)
    const register = doc.paths['/auth/register'].post.requestBody.content['application/json'].example
    assert.deepEqual(Object.keys(register), ['email', 'password', 'first_name'])
  })
})

describe('ReDoc at /redoc, as FastAPI serves it, from this origin only', () => {
  let app: FastifyInstance

  before(async () => {
    app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }), { logger: false })
  })
  after(() => app.close())

  test('the page and its script, under a CSP that allows nothing else', async () => {
    const page = await app.inject({ method: 'GET', url: '/redoc' })
    assert.equal(page.statusCode, 200)
    assert.match(String(page.headers['content-type']), /^text\/html/)
    assert.match(page.body, /<redoc spec-url="\/openapi\.json"><\/redoc>/)
    assert.match(page.body, /<script src="\/redoc\/redoc\.standalone\.js"><\/script>/)
    assert.doesNotMatch(page.body, /https?:\/\//, 'no CDN')
    assert.equal(page.headers['content-security-policy'], REDOC_CSP)
    assert.match(REDOC_CSP, /default-src 'none'/)
    assert.match(REDOC_CSP, /script-src 'self'(;|$)/)
    assert.equal(page.headers['x-content-type-options'], 'nosniff')

    const script = await app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' })
    assert.equal(script.statusCode, 200)
    assert.match(String(script.headers['content-type']), /^application\/javascript/)
    assert.ok(script.rawPayload.length > 500_000)
    assert.equal((await app.inject({ method: 'GET', url: '/openapi.json' })).json().paths['/redoc'], undefined)
  })
})

describe('ReDoc renders the document in Chromium', { skip: skipWithoutChromium() }, () => {
  let service: PagesService
  let browser: Browser

  before(async () => {
    service = await startPagesService()
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.close()
    await service?.close()
  })

  test('the API’s title and its operations, with nothing from another origin and no CSP violation', async () => {
    const { context, page, problems } = await openPage(browser, service.baseUrl)
    try {
      await page.goto('/redoc')
      await page
        .getByRole('heading', { name: /fastify-users/ })
        .first()
        .waitFor({ timeout: 20_000 })
      await page.getByRole('heading', { name: 'Auth:Jwt.Login' }).first().waitFor({ timeout: 20_000 })
      await page.screenshot({ path: join(ARTIFACTS, 'redoc.png') })
      await page.getByText('LOGIN_BAD_CREDENTIALS').first().waitFor({ state: 'attached', timeout: 20_000 })
      // ReDoc's search runs in a worker of this origin (a blob: URL). Its footer logo comes from its CDN,
      // unconditionally: the CSP blocks it (nothing is fetched) and ReDoc hides the image (onError).
      const logo = 'https://cdn.redoc.ly/redoc/logo-mini.svg'
      const ownBlob = `request to another origin: blob:${service.baseUrl}/`
      assert.ok(problems.some((p) => p.includes(`Loading the image '${logo}' violates`)))
      assert.deepEqual(
        problems.filter((p) => !p.startsWith(ownBlob) && !p.includes(logo)),
        [],
      )
    } finally {
      await context.close()
    }
  })
})
