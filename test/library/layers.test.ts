import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Every module specifier a file imports or re-exports (static and dynamic). */
function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8')
  const found = source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)
  return [...found].map((m) => m[1] as string)
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
}

/** The imports of files under `dir` that land in `target` (a folder of src/), as `file → specifier`. */
function arrowsInto(dir: string, target: string): string[] {
  return sourcesUnder(dir).flatMap((file) =>
    importsOf(file)
      .filter((spec) => spec.startsWith('.'))
      .filter((spec) => relative(join(root, target), resolve(dirname(file), spec)).split(/[\\/]/)[0] !== '..')
      .map((spec) => `${relative(root, file)} → ${spec}`),
  )
}

test('the layers below the Fastify plugin never import from src/fastify', () => {
  for (const layer of ['src/core', 'src/stores', 'src/strategies', 'src/transports']) {
    assert.deepEqual(arrowsInto(layer, 'src/fastify'), [], layer)
  }
})

test('src/core imports no Fastify at all', () => {
  const fastify = sourcesUnder('src/core').flatMap((file) =>
    importsOf(file)
      .filter((spec) => spec === 'fastify' || spec.startsWith('@fastify/') || spec.startsWith('fastify-'))
      .map((spec) => `${relative(root, file)} → ${spec}`),
  )
  assert.deepEqual(fastify, [])
})

test('the check sees an arrow when there is one', () => {
  // the plugin imports the core: the same check, the other way round, must find it
  assert.ok(arrowsInto('src/fastify', 'src/core').length > 0)
})
