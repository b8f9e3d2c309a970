import cluster, { type Worker } from 'node:cluster'
import { DatabaseUnreachable } from 'fastify-users/kysely'
import { buildApp } from './app.js'
import { type Config, ConfigError, loadConfig } from './config.js'

function readConfig(): Config {
  try {
    return loadConfig(process.env, { stdoutIsTTY: process.stdout.isTTY === true })
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      process.exit(2)
    }
    throw error
  }
}

/** Starts the reference service and stops it gracefully on SIGTERM/SIGINT. */
async function serve(config: Config) {
  const app = await buildApp(config)
  await app.listen({ host: config.host, port: config.port })
  if (cluster.isPrimary) app.log.info(`Swagger UI at ${config.publicUrl}/docs`)

  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    // /ready answers 503 now, so the load balancer stops sending requests here; the port serves
    // on for SHUTDOWN_DELAY, then closes; requests in flight finish and queued mail is sent (onClose).
    app.drain()
    app.log.info({ signal, delaySeconds: config.shutdownDelaySeconds }, 'shutting down: /ready answers 503')
    if (config.shutdownDelaySeconds > 0) await new Promise((r) => setTimeout(r, config.shutdownDelaySeconds * 1000))
    app.log.info('shutting down: finishing requests in flight')
    await app.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

/**
 * WEB_CONCURRENCY > 1: this process migrates the database and creates the first superuser once
 * (building the app and closing it), then forks that many workers that share the port
 * (node:cluster) and replaces any that dies. SIGTERM/SIGINT stop the workers gracefully.
 * With METRICS, it gathers every worker's figures for the worker a scrape reached.
 */
async function primary(config: Config) {
  const setup = await buildApp(config)
  await setup.close()
  const log = setup.log
  if (config.metrics) (await import('fastify-users/metrics')).serveClusterMetrics()
  let stopping = false
  const fork = () => cluster.fork()
  for (let i = 0; i < config.webConcurrency; i++) fork()
  cluster.on('exit', (worker: Worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    log.error({ pid: worker.process.pid, code, signal }, 'worker died: starting another')
    setTimeout(fork, 500)
  })
  cluster.once('listening', () => log.info(`${config.webConcurrency} workers; Swagger UI at ${config.publicUrl}/docs`))
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping the workers')
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the port is in use',
  EACCES: 'permission denied (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'no such address on this machine',
}

/** A start-up failure a person can act on, in one line: the database out of reach, the port taken. */
function startFailure(error: unknown, config: Config): string | undefined {
  const unreachable = DatabaseUnreachable.from(error, config.databaseUrl)
  if (unreachable) return unreachable.message
  const reason = LISTEN_FAILURES[String((error as { code?: unknown })?.code)]
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  return reason && `cannot listen on ${host}:${config.port}: ${reason}`
}

const config = readConfig()
try {
  if (config.webConcurrency > 1 && cluster.isPrimary) await primary(config)
  else await serve(config)
} catch (error) {
  const line = startFailure(error, config)
  if (line === undefined) throw error
  console.error(line)
  process.exit(1)
}
