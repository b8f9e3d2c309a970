import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import { fastapiErrorHandler } from './errors.js'

const METHODS: HTTPMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/**
 * Starlette's answers outside the routes, for an app whose clients expect FastAPI:
 * 404 `{"detail":"Not Found"}`, 405 `{"detail":"Method Not Allowed"}` (with Allow) when the
 * path exists for another method, a 307 to the path without its trailing slash, and
 * FastAPI-shaped errors everywhere. Register it before the routes.
 */
export const fastapiCompat = fp(
  async (app: FastifyInstance) => {
    const routes = FindMyWay()
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      for (const method of methods) {
        if (method === 'HEAD' || route.url === '*' || route.url === '/*') continue
        try {
          routes.on(method.toUpperCase() as HTTPMethod, route.url, () => {})
        } catch {
          // already known: several Fastify routes can share a path and method through constraints
        }
      }
    })
    app.setErrorHandler(fastapiErrorHandler)
    app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
      const [path = '/', query] = splitUrl(request.url)
      // Starlette's path parameters match one character at least: `/users/` is not `/users/{id}`.
      const matches = (method: HTTPMethod, url: string) => {
        const found = routes.find(method, url)
        return found !== null && Object.values(found.params).every((value) => value !== '')
      }
      const allowed = METHODS.filter((m) => matches(m, path))
      if (allowed.length > 0) {
        return reply.code(405).header('allow', allowed.join(', ')).send({ detail: 'Method Not Allowed' })
      }
      const other = path.endsWith('/') ? path.replace(/\/+$/, '') : `${path}/`
      if (path !== '/' && other !== '' && METHODS.some((m) => matches(m, other))) {
        return reply
          .code(307)
          .header('location', query === undefined ? other : `${other}?${query}`)
          .send()
      }
      return reply.code(404).send({ detail: 'Not Found' })
    })
  },
  { name: 'fastify-users-compat', fastify: '5.x' },
)

function splitUrl(url: string): [string, string | undefined] {
  const q = url.indexOf('?')
  return q === -1 ? [url, undefined] : [url.slice(0, q), url.slice(q + 1)]
}
