import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { TEST_SECRET } from './app.js'

import { freePort } from './ports.js'

export { freePort }

/**
 * Helpers of the outage tests (test/faults): private PostgreSQL and Redis instances a test may
 * really stop, the reference service on any URL, and clocks for "how long until…".
 * The shared instances other tests use are never stopped.
 */

/** Where a local run lacks a tool: under CI=true a failure, elsewhere null (the caller skips loudly). */
function missing(what: string): null {
  if (process.env.CI === 'true') throw new Error(`${what} is required under CI=true but is not installed`)
  return null
}

/** The reference service on that database (and Redis), as tests build it, with the given settings. */
export async function startServiceOn(databaseUrl: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    SECRET: TEST_SECRET,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    // the limiter is on (the default) with REDIS_URL: counters in keys of this test's own
    RATE_LIMIT_REDIS_PREFIX: `fastify-users-test:${randomUUID()}`,
    ...env,
  })
  const app = await buildApp(config, { logger: false })
  await app.ready()
  return app
}

/** Runs `run` and tells how long it took (ms). */
export async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const result = await run()
  return [result, Math.round(performance.now() - start)]
}

/** Calls `attempt` until it returns true or the deadline passes; the ms it took, or an error at the deadline. */
export async function waitUntil(what: string, attempt: () => Promise<boolean>, deadlineMs: number): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < deadlineMs) {
    if (await attempt()) return Math.round(performance.now() - start)
    await sleep(100)
  }
  throw new Error(`${what}: not within ${deadlineMs} ms`)
}

// --- a private PostgreSQL --------------------------------------------------------------------

export interface PrivatePostgres {
  url: string
  /** pg_ctl stop: `fast` disconnects clients politely, `immediate` is a crash. */
  stop(mode: 'fast' | 'immediate'): Promise<void>
  start(): Promise<void>
  destroy(): Promise<void>
}

function postgresBin(): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1)
  return newest ? join(root, newest, 'bin') : null
}

/**
 * A PostgreSQL of its own (initdb in a temp dir under /tmp, another port), so that a test can
 * really stop the server under a running service. initdb refuses root: as root it runs as `postgres`.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres | null> {
  const bin = postgresBin()
  if (!bin) return missing('PostgreSQL server binaries (/usr/lib/postgresql/*/bin)')
  const asRoot = process.getuid?.() === 0
  const run = (tool: string, args: string[]) => {
    const command = asRoot ? 'runuser' : join(bin, tool)
    const argv = asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args
    execFileSync(command, argv, { stdio: 'pipe', cwd: '/tmp' })
  }
  const dir = mkdtempSync('/tmp/fastify-users-pg-')
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), -1)
  const data = join(dir, 'data')
  const port = await freePort()
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  const start = async () =>
    run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', '-o', options, 'start'])
  const stop = async (mode: 'fast' | 'immediate') => run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop'])
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy() {
      try {
        await stop('immediate')
      } catch {} // already stopped
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Whether a Redis answers PING at that URL now (one attempt, no retries). */
async function answersPing(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

// --- a private Redis -------------------------------------------------------------------------

export interface PrivateRedis {
  url: string
  port: number
  /** SIGKILL: a crash. Every write was already on disk (appendfsync always), so data survives. */
  kill(): Promise<void>
  start(): Promise<void>
  destroy(): Promise<void>
}

/** A redis-server of its own on another port, which a test may kill and start again; `args` e.g. `--replicaof`. */
export async function startPrivateRedis(args: string[] = []): Promise<PrivateRedis | null> {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' })
  } catch {
    return missing('redis-server')
  }
  const dir = mkdtempSync('/tmp/fastify-users-redis-')
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}/0`
  let child: ChildProcess | undefined
  const start = async () => {
    const common = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '']
    child = spawn('redis-server', [...common, '--appendonly', 'yes', '--appendfsync', 'always', ...args], {
      stdio: 'ignore',
    })
    await waitUntil('private redis-server up', () => answersPing(url), 10_000)
  }
  const kill = async () => {
    const running = child
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    await new Promise((resolve) => {
      running.once('exit', resolve)
      running.kill('SIGKILL')
    })
  }
  await start()
  return {
    url,
    port,
    start,
    kill,
    async destroy() {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface PrivateSentinel {
  port: number
  /** A client of this sentinel, for SENTINEL commands. */
  client(): Redis
  destroy(): Promise<void>
}

/** A Redis Sentinel of its own (`redis-server --sentinel`) monitoring `primaryPort` as `name` (quorum 1). */
export async function startPrivateSentinel(primaryPort: number, name: string): Promise<PrivateSentinel | null> {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' })
  } catch {
    return missing('redis-server')
  }
  const dir = mkdtempSync('/tmp/fastify-users-sentinel-')
  const port = await freePort()
  const conf = join(dir, 'sentinel.conf') // Sentinel rewrites its own configuration file: it must be writable
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      '',
    ].join('\n'),
  )
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
  await waitUntil('private sentinel up', () => answersPing(`redis://127.0.0.1:${port}`), 10_000)
  return {
    port,
    client: () => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }),
    async destroy() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((resolve) => {
          child.once('exit', resolve)
          child.kill('SIGKILL')
        })
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

// --- a private Redis Cluster -----------------------------------------------------------------

export interface PrivateRedisCluster {
  /** `127.0.0.1:P1,127.0.0.1:P2,…`, as REDIS_CLUSTER_NODES takes them. */
  nodes: string
  ports: number[]
  /** SIGKILL to every node: the whole cluster is gone. */
  kill(): Promise<void>
  destroy(): Promise<void>
}

/**
 * A Redis Cluster of its own: `masters` redis-server processes (cluster-enabled, no replicas, bus
 * ports chosen free too), joined by `redis-cli --cluster create`, ready when every node reports
 * cluster_state:ok.
 */
export async function startPrivateRedisCluster(masters = 3): Promise<PrivateRedisCluster | null> {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' })
    execFileSync('redis-cli', ['--version'], { stdio: 'pipe' })
  } catch {
    return missing('redis-server and redis-cli')
  }
  const dir = mkdtempSync('/tmp/fastify-users-cluster-')
  const children: ChildProcess[] = []
  const ports: number[] = []
  const kill = async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue
      await new Promise((resolve) => {
        child.once('exit', resolve)
        child.kill('SIGKILL')
      })
    }
  }
  const destroy = async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort()
      const bus = await freePort() // not port + 10000, which may be past 65535
      ports.push(port)
      // biome-ignore format: one flag and its value a line
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
        '--cluster-enabled', 'yes', '--cluster-port', String(bus),
        '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--save', '', '--appendonly', 'no', '--daemonize', 'no',
      ]
      children.push(spawn('redis-server', args, { stdio: 'ignore' }))
    }
    for (const port of ports) await waitUntil('cluster node up', () => answersPing(`redis://127.0.0.1:${port}`), 10_000)
    const addresses = ports.map((port) => `127.0.0.1:${port}`)
    execFileSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      stdio: 'pipe',
      timeout: 30_000,
    })
    for (const port of ports) {
      await waitUntil(
        `cluster node ${port} reports cluster_state:ok`,
        async () => {
          const node = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true })
          node.on('error', () => {})
          try {
            return String(await node.call('CLUSTER', 'INFO')).includes('cluster_state:ok')
          } catch {
            return false
          } finally {
            node.disconnect()
          }
        },
        30_000,
      )
    }
    return { nodes: addresses.join(','), ports, kill, destroy }
  } catch (error) {
    await destroy()
    throw error
  }
}
