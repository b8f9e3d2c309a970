import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

export interface OpenApiOptions {
  title?: string
  version?: string
  description?: string
  /** `components.securitySchemes`: `fastifyUsers.securitySchemes()`. */
  securitySchemes?: Record<string, Record<string, unknown>>
  /** Where Swagger UI is served. Default `/docs`. */
  docsPath?: string
}

/**
 * Swagger UI's Content-Security-Policy: its own scripts and styles (no inline script), the
 * document fetched from this origin, never framed. It replaces any stricter app-wide policy
 * (the API's `default-src 'none'`) on the /docs routes only.
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join('; ')

/**
 * OpenAPI 3.1 at `/openapi.json` and Swagger UI at `/docs`, with FastAPI's component names
 * (UserRead, ErrorModel, HTTPValidationError…) so generated clients keep their type names.
 * Register it before the routes.
 */
export async function registerOpenApi(app: FastifyInstance, options: OpenApiOptions = {}): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: options.title ?? 'fastify-users',
        version: options.version ?? '0.1.0',
        description: options.description,
      },
      components: { securitySchemes: (options.securitySchemes ?? {}) as never },
    },
    transformObject: (document) =>
      ('openapiObject' in document
        ? liftTitledSchemas(document.openapiObject as Json)
        : document.swaggerObject) as never,
  })
  await app.register(swaggerUi, { routePrefix: options.docsPath ?? '/docs', staticCSP: DOCS_CSP })
  app.get('/openapi.json', { schema: { hide: true }, exposeHeadRoute: false }, async () => app.swagger())
}

type Json = Record<string, unknown>

/**
 * Moves every schema with a `title` into `components.schemas[title]` and puts a `$ref` in its
 * place, as FastAPI lays out its document; nested titled schemas are lifted too.
 */
export function liftTitledSchemas(document: Json): Json {
  const components = (document.components ?? {}) as Json
  const schemas = { ...((components.schemas ?? {}) as Json) }

  const lift = (node: unknown, isSchema: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => lift(n, isSchema))
    if (!node || typeof node !== 'object') return node
    const entries = Object.entries(node as Json).map(([key, value]) => [key, lift(value, isSchema || key === 'schema')])
    const copy = Object.fromEntries(entries) as Json
    if (isSchema && typeof copy.title === 'string' && (copy.type === 'object' || copy.properties)) {
      schemas[copy.title] ??= copy
      return { $ref: `#/components/schemas/${copy.title}` }
    }
    return copy
  }

  const paths = lift(document.paths ?? {}, false)
  const lifted = Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, liftInner(s as Json, lift)]))
  return { ...document, paths, components: { ...components, schemas: lifted } }
}

function liftInner(schema: Json, lift: (node: unknown, isSchema: boolean) => unknown): Json {
  const inner = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, lift(v, true)]))
  return inner
}
