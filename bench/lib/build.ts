/**
 * "Builds the project" for the bench: the reference service bundled exactly as `npm start` bundles
 * it (server/bundle.ts: dependencies inside the bundle but for native addons and lazily loaded
 * features), run by plain node; the bench's own child scripts (the loader and the hash-rate probe)
 * bundled with their dependencies external, since plain node starts them in a fraction of tsx's
 * time and the bench starts them often.
 */
import { join } from 'node:path'
import { bundle, bundleService } from '../../server/bundle.js'
import { ROOT } from './proc.js'

/** Under node_modules (a tool cache: out of git and of the linters), where the externals resolve. */
export const BUILD_DIR = join(ROOT, 'node_modules/.cache/fastify-users-bench')

/** Bundles the reference service and the bench's child scripts; returns the paths of the bundles. */
export async function buildBench(): Promise<{ server: string; loader: string; hashrate: string }> {
  await bundle({
    entries: { loader: 'bench/lib/load.ts', hashrate: 'bench/lib/hashrate.ts' },
    outdir: BUILD_DIR,
    packages: 'external',
  })
  return {
    server: await bundleService(join(BUILD_DIR, 'server.mjs')),
    loader: join(BUILD_DIR, 'loader.mjs'),
    hashrate: join(BUILD_DIR, 'hashrate.mjs'),
  }
}
