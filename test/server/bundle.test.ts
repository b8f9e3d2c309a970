/**
 * What `npm start` runs: the service bundled by server/bundle.ts, started with the node flags of
 * package.json's start script, serves every kind of route (API, Swagger UI's and ReDoc's files,
 * the pages and their assets, a lazily loaded feature: metrics) from a bundle that is not where
 * the sources are.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { bundleService, ROOT, SERVICE_BUNDLE } from '../../server/bundle.js'
import { freePort } from '../support/ports.js'

const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts

test('npm start runs the bundle server/bundle.ts writes, built first by prestart', () => {
  const start = scripts.start!.split(/\s+/)
  assert.equal(start[0], 'node')
  assert.equal(join(ROOT, start.at(-1)!), SERVICE_BUNDLE)
  assert.equal(scripts.prestart, 'npm run build:service')
  assert.equal(scripts['build:service'], 'tsx server/bundle.ts')
})

test('the bundled service serves the API, the docs, the pages and metrics, and stops on SIGTERM', async () => {
  // under node_modules, where the bundle's external packages resolve; apart from npm start's own
  const out = mkdtempSync(join(ROOT, 'node_modules/.cache/fastify-users-bundle-test-'))
  const data = mkdtempSync(join(tmpdir(), 'fastify-users-bundle-'))
  const bundle = await bundleService(join(out, 'main.mjs'))
  const flags = scripts.start!.split(/\s+/).filter((word) => word.startsWith('--'))
  const port = await freePort()
  const token = 'bundle-test-metrics-token'
  const child = spawn(process.execPath, [...flags, bundle], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      SECRET: 'bundle-test-secret-0123456789abcdefghijklmnop',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(data, 'bundle.sqlite')}`,
      METRICS: 'true',
      METRICS_TOKEN: token,
      SHUTDOWN_DELAY: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const base = `http://127.0.0.1:${port}`
  try {
    for (let i = 0; ; i++) {
      assert.equal(child.exitCode, null, `the bundle exited: ${stderr}`)
      const ready = await fetch(`${base}/ready`).then(
        (r) => r.status,
        () => 0,
      )
      if (ready === 200) break
      assert.ok(i < 300, 'the bundle answers /ready within 30 s')
      await new Promise((r) => setTimeout(r, 100))
    }
    for (const [path, type] of [
      ['/docs/static/index.html', 'text/html'],
      ['/docs/json', 'application/json'],
      ['/redoc/redoc.standalone.js', 'application/javascript'],
      ['/sign-in', 'text/html'],
      ['/_pages/pages.css', 'text/css'],
    ] as const) {
      const res = await fetch(`${base}${path}`)
      assert.equal(res.status, 200, path)
      assert.ok(res.headers.get('content-type')?.startsWith(type), `${path}: ${res.headers.get('content-type')}`)
      assert.ok((await res.text()).length > 100, path)
    }
    const register = await fetch(`${base}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bundle@example.com', password: 'bundle-password-1', first_name: 'Bundle' }),
    })
    assert.equal(register.status, 201)
    const login = await fetch(`${base}/auth/jwt/login`, {
      method: 'POST',
      body: new URLSearchParams({ username: 'bundle@example.com', password: 'bundle-password-1' }),
    })
    assert.equal(login.status, 200)
    const { access_token } = (await login.json()) as { access_token: string }
    const me = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${access_token}` } })
    assert.equal(me.status, 200)
    assert.equal(((await me.json()) as { first_name: string }).first_name, 'Bundle')
    // a validation error, compiled at the route's first request (validation.ts)
    const invalid = await fetch(`${base}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email":"not an address","password":"bundle-password-1"}',
    })
    assert.equal(invalid.status, 422)
    const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(metrics.status, 200)
    assert.match(await metrics.text(), /^fastify_users_logins_total\{outcome="success"[^}]*\} 1$/m)
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
    assert.equal(stderr, '')
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(out, { recursive: true, force: true })
    rmSync(data, { recursive: true, force: true })
  }
})
