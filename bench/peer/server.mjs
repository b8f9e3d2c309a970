/**
 * The benchmark's peer: Better Auth with e-mail and password on SQLite (better-sqlite3), served
 * by Fastify through the catch-all route of Better Auth's Fastify integration guide, as its
 * documentation shows. Plain JavaScript, so that the project's type check never needs this
 * folder's dependencies (installed by `npm run bench` into bench/peer/node_modules).
 *
 * Departures from the defaults, each to compare like with like:
 * - rate limiting off (Better Auth turns it on in production; fastify-users has none yet);
 * - telemetry off (no network here);
 * - request logging off, as for the reference service in the bench.
 * Environment: PORT, HOST, PEER_DATABASE (SQLite file), BETTER_AUTH_SECRET, BENCH_CEILING_ROUTE.
 */
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { fromNodeHeaders } from 'better-auth/node'
import Database from 'better-sqlite3'
import Fastify from 'fastify'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 8100)
const baseURL = `http://${host}:${port}`

const options = {
  database: new Database(process.env.PEER_DATABASE ?? './data/better-auth.sqlite'),
  baseURL,
  secret: process.env.BETTER_AUTH_SECRET,
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
}
const { runMigrations } = await getMigrations(options)
await runMigrations()
const auth = betterAuth(options)

const fastify = Fastify({ logger: false })

fastify.route({
  method: ['GET', 'POST'],
  url: '/api/auth/*',
  async handler(request, reply) {
    try {
      const url = new URL(request.url, `http://${request.headers.host}`)
      const headers = fromNodeHeaders(request.headers)
      const req = new Request(url.toString(), {
        method: request.method,
        headers,
        ...(request.body ? { body: JSON.stringify(request.body) } : {}),
      })
      const response = await auth.handler(req)
      reply.status(response.status)
      response.headers.forEach((value, key) => {
        reply.header(key, value)
      })
      return reply.send(response.body ? await response.text() : null)
    } catch (error) {
      fastify.log.error(error)
      return reply.status(500).send({ error: 'Internal authentication error', code: 'AUTH_FAILURE' })
    }
  },
})

if (process.env.BENCH_CEILING_ROUTE === 'true') {
  fastify.get('/bench/ceiling', async () => ({ hello: 'world' }))
}

await fastify.listen({ host, port })

const shutdown = async () => {
  await fastify.close()
  options.database.close()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
