import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

async function waitFor(url: string, child: ChildProcess): Promise<Response> {
  for (let i = 0; i < 100; i++) {
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
