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
import { ROOT } from './proc.js'

/** Under node_modules (a tool cache: out of git and of the linters), where the externals resolve. */
export const BUILD_DIR = join(ROOT, 'node_modules/.cache/fastify-users-bench')

/**
 * Bundles the reference service and the bench's own child scripts (the loader and the hash-rate
 * probe: plain node starts them in a fraction of tsx's time, and the bench starts them often).
 * Returns the paths of the bundles.
 */
export async function buildBench(): Promise<{ server: string; loader: string; hashrate: string }> {
  const entries = { server: 'server/main.ts', loader: 'bench/lib/load.ts', hashrate: 'bench/lib/hashrate.ts' }
  await build({
    entryPoints: Object.entries(entries).map(([out, input]) => ({ in: join(ROOT, input), out })),
    outdir: BUILD_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: false,
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
          // the library's and the service's files keep their own URL; the bench scripts keep the
          // bundle's (they compare it with process.argv[1] to know they are the main module)
          on.onLoad({ filter: /\/(src|server)\/.*\.ts$/ }, async (args) => {
            const source = await readFile(args.path, 'utf8')
            const url = JSON.stringify(pathToFileURL(args.path).href)
            return { contents: source.replace(/\bimport\.meta\.url\b/g, url), loader: 'ts' }
          })
        },
      },
    ],
  })
  return {
    server: join(BUILD_DIR, 'server.mjs'),
    loader: join(BUILD_DIR, 'loader.mjs'),
    hashrate: join(BUILD_DIR, 'hashrate.mjs'),
  }
}
