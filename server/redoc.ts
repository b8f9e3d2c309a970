import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'

/**
 * ReDoc's Content-Security-Policy: its bundle from this origin, the document fetched from this
 * origin, the inline styles it injects (styled-components) and its search index's worker (a blob),
 * never framed. No font or script from anywhere else: the page works offline.
 */
export const REDOC_CSP = [
  "default-src 'none'",
  "base-uri 'none'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
  "worker-src 'self' blob:",
].join('; ')

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * `/redoc`: the OpenAPI document rendered by ReDoc, as FastAPI serves it, from the redoc
 * package's standalone bundle served here (FastAPI loads it from a CDN, which neither works
 * offline nor passes a strict CSP). Hidden from the document itself.
 */
export async function redocRoutes(
  app: FastifyInstance,
  options: { title: string; specUrl?: string; path?: string },
): Promise<void> {
  const path = options.path ?? '/redoc'
  const bundle = await readFile(createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js'))
  const script = `${path}/redoc.standalone.js`
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)} - ReDoc</title>
</head>
<body>
<redoc spec-url="${escapeHtml(options.specUrl ?? '/openapi.json')}"></redoc>
<script src="${escapeHtml(script)}"></script>
</body>
</html>
`
  const route = { schema: { hide: true }, exposeHeadRoute: false }
  app.get(path, route, async (_request, reply) =>
    reply.header('content-security-policy', REDOC_CSP).type('text/html; charset=utf-8').send(page),
  )
  app.get(script, route, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=86400').type('application/javascript; charset=utf-8').send(bundle),
  )
}
