/**
 * "Builds the project" for the bench: the reference service (server/main.ts with fastify-users'
 * sources) bundled by esbuild into one ESM file that plain `node` runs, as a production deployment
 * would, instead of compiling TypeScript at start through tsx (which costs memory: its loader and
 * the transformed sources stay resident). Dependencies stay external, resolved from node_modules.
 * Each source's `import.meta.url` is kept as the original file's URL, so that files read next to a
 * source (page assets) are still found.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { ROOT } from './proc'

/** Under node_modules (a tool cache: out of git and of the linters), where the externals resolve. */
export const BUILD_DIR = join(ROOT, 'node_modules/.cache/fastify-users-bench')

/** Bundles server/main.ts into BUILD_DIR/server.mjs and returns that path. */
export async function buildServer(): Promise<string> {
  const outfile = join(BUILD_DIR, 'server.mjs')
  await build({
    entryPoints: [join(ROOT, 'server/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
    plugins: [
      {
        name: 'fastify-users-sources',
        setup(on) {
          // the library itself is bundled from source, not left to a runtime that cannot load .ts
          on.onResolve({ filter: /^fastify-users$/ }, () => ({ path: join(ROOT, 'src/index.ts') }))
          on.onLoad({ filter: /\.ts$/ }, async (args) => {
            const source = await readFile(args.path, 'utf8')
            const url = JSON.stringify(pathToFileURL(args.path).href)
            return { contents: source.replace(/\bimport\.meta\.url\b/g, url), loader: 'ts' }
          })
        },
      },
    ],
  })
  return outfile
}
