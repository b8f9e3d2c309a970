import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { freePort } from '../support/ports.js'

async function waitFor(url: string, child: ChildProcess, tries = 100): Promise<Response> {
  for (let i = 0; i < tries; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`)
    try {
      return await fetch(url)
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`${url} never answered`)
}

test('npm start’s entry point serves /docs on SQLite and stops gracefully on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-users-main-'))
  const port = await freePort()
  const child = spawn('node', ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'main.sqlite')}`, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  try {
    const docs = await waitFor(`http://127.0.0.1:${port}/docs`, child)
    assert.equal(docs.status, 200)
    const register = await fetch(`http://127.0.0.1:${port}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'main@example.com', password: 'main-password-1', first_name: 'Main' }),
    })
    assert.equal(register.status, 201)
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
    assert.match(output, /shutting down/)
    assert.doesNotMatch(output, /main-password-1|hashed_password|\$argon2id\$/)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})

test('production refuses to start with the development secret', async () => {
  const child = spawn('node', ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, NODE_ENV: 'production', SECRET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const [code] = await once(child, 'exit')
  assert.equal(code, 2)
  assert.match(stderr, /SECRET is required when NODE_ENV=production/)
})

test('WEB_CONCURRENCY=2 serves from two worker processes, replaces one that dies, and stops on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-users-cluster-'))
  const port = await freePort()
  const child = spawn('node', ['--import', 'tsx', 'server/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      DATABASE_URL: `sqlite:${join(dir, 'cluster.sqlite')}`,
      LOG_LEVEL: 'info',
      WEB_CONCURRENCY: '2',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  const listening = () =>
    output
      .split('\n')
      .filter((line) => line.includes('Server listening'))
      .map((line) => JSON.parse(line).pid as number)
  const until = async (condition: () => boolean, what: string) => {
    for (let i = 0; i < 600 && !condition(); i++) await new Promise((r) => setTimeout(r, 100))
    assert.ok(condition(), what)
  }
  try {
    // the primary migrates first, then each worker loads and builds the service: slower to start
    await waitFor(`http://127.0.0.1:${port}/docs`, child, 600)
    await until(() => listening().length === 2, 'two workers listen')
    const [first, second] = listening() as [number, number]
    assert.notEqual(first, second)
    assert.ok(first !== child.pid && second !== child.pid, 'the workers are not the primary')

    const base = `http://127.0.0.1:${port}`
    const register = await fetch(`${base}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'cluster@example.com', password: 'cluster-password-1', first_name: 'C' }),
    })
    assert.equal(register.status, 201)
    const form = { username: 'cluster@example.com', password: 'cluster-password-1' }
    for (let i = 0; i < 4; i++) {
      const login = await fetch(`${base}/auth/jwt/login`, { method: 'POST', body: new URLSearchParams(form) })
      assert.equal(login.status, 200)
    }

    process.kill(first, 'SIGKILL')
    await until(() => listening().length === 3, 'a replacement worker listens')
    assert.match(output, /worker died: starting another/)
    assert.equal((await fetch(`${base}/users/me`)).status, 401)

    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
    for (const pid of listening()) assert.throws(() => process.kill(pid, 0), 'every worker has stopped')
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})
