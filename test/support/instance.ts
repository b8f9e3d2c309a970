/**
 * The reference service as a real process (`node --import tsx server/main.ts`), as a load
 * balancer sees it: started with an environment, ready once GET /ready answers 200, stopped
 * with SIGTERM. For the tests of several instances on one database and one Redis.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { TEST_SECRET } from './app.js'
import { freePort } from './ports.js'

export interface Instance {
  url: string
  port: number
  child: ChildProcess
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string
  /** SIGTERM, then its exit code (SIGKILL after `timeoutMs`, and an error). */
  stop(timeoutMs?: number): Promise<number | null>
  /** SIGKILL, for cleanup after a failure. */
  kill(): void
}

/** Environment every instance gets unless a test overrides it. */
const BASE_ENV: Record<string, string> = {
  SECRET: TEST_SECRET,
  LOG_LEVEL: 'warn',
  HOST: '127.0.0.1',
  COOKIE_SECURE: 'false',
  PAGES: 'false',
}

/**
 * Spawns an instance on `port`; it is not ready yet (see waitReady). `env` is laid over the
 * test process's environment and BASE_ENV.
 */
export function spawnInstance(env: Record<string, string>, port: number): Instance {
  const url = `http://127.0.0.1:${port}`
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, ...BASE_ENV, PUBLIC_URL: url, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => (output += chunk))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return {
    url,
    port,
    child,
    output: () => output,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      const [code, signal] = await exited
      clearTimeout(timer)
      if (signal === 'SIGKILL') throw new Error(`instance on ${port} did not stop within ${timeoutMs} ms:\n${output}`)
      return code
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    },
  }
}

/** Polls GET /ready until 200; throws with the instance's output if it exits or the time runs out. */
export async function waitReady(instance: Instance, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (instance.child.exitCode !== null) {
      throw new Error(`instance on ${instance.port} exited with ${instance.child.exitCode}:\n${instance.output()}`)
    }
    try {
      const response = await fetch(`${instance.url}/ready`, { signal: AbortSignal.timeout(5000) })
      await response.body?.cancel()
      if (response.status === 200) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`instance on ${instance.port} not ready within ${timeoutMs} ms:\n${instance.output()}`)
}

/**
 * `count` instances started at the same moment, each on its own port, all ready. A port taken by
 * another program between freePort and listen (EADDRINUSE: other suites run on this machine too)
 * is no failure of the service: that instance starts again on another port.
 */
export async function startInstances(count: number, env: Record<string, string>): Promise<Instance[]> {
  const instances: Instance[] = []
  const startOne = async (slot: number) => {
    for (let attempt = 0; ; attempt++) {
      const instance = spawnInstance(env, await freePort())
      instances[slot] = instance
      try {
        await waitReady(instance)
        return
      } catch (error) {
        if (attempt >= 3 || !instance.output().includes('EADDRINUSE')) throw error
      }
    }
  }
  const outcomes = await Promise.allSettled(Array.from({ length: count }, (_, slot) => startOne(slot)))
  const failed = outcomes.find((o) => o.status === 'rejected')
  if (failed) {
    for (const instance of instances) instance?.kill()
    throw (failed as PromiseRejectedResult).reason
  }
  return instances
}

/** Stops every instance (SIGTERM) and checks each exited with 0. */
export async function stopInstances(instances: Instance[]): Promise<void> {
  const codes = await Promise.all(instances.map((instance) => instance.stop().catch(() => -1)))
  const bad = codes.findIndex((code) => code !== 0)
  if (bad >= 0) throw new Error(`instance ${bad} exited with ${codes[bad]}:\n${instances[bad]?.output()}`)
}

/**
 * One request to an instance, on a connection of its own (no keep-alive: with WEB_CONCURRENCY the
 * next request may reach another worker): `[status, body]`, the body parsed when it is JSON.
 */
export async function call<T = unknown>(
  instance: Instance,
  method: string,
  path: string,
  options: { json?: unknown; form?: Record<string, string>; token?: string; headers?: Record<string, string> } = {},
): Promise<[number, T, IncomingHttpHeaders]> {
  const headers: Record<string, string> = { ...options.headers }
  let body: string | undefined
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(options.json)
  } else if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    body = new URLSearchParams(options.form).toString()
  }
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
  if (options.token) headers.authorization = `Bearer ${options.token}`
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${instance.url}${path}`, { method, headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (text += chunk))
      res.on('end', () => {
        const json = (res.headers['content-type'] ?? '').includes('json')
        resolve([res.statusCode ?? 0, json && text !== '' ? JSON.parse(text) : text, res.headers])
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
