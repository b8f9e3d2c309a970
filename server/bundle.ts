/**
 * What `npm start` runs: the reference service (server/main.ts with the library's sources) bundled
 * by esbuild into one ESM file, `dist/service/main.mjs`. Node resolves and reads one file instead of
 * about 900 (Fastify, Kysely, TypeBox and Ajv are made of hundreds of small modules), which was over
 * half of the service's start-up time (issue 19). Also what `npm run bench` measures.
 *
 * Left outside the bundle, resolved from node_modules at run time:
 * - native addons (better-sqlite3, @node-rs/*);
 * - what a start in the default configuration never loads (the PostgreSQL and MariaDB drivers,
 *   Redis, mail, OAuth, passkeys, metrics, QR codes, pretty logs): each is imported when its
 *   feature is configured or first used, as it is from the compiled library;
 * - packages that read files next to their own sources (Swagger UI's assets, @fastify/swagger's
 *   package.json, pino's transport workers).
 *
 *   npx tsx server/bundle.ts   (npm run build and npm start run it)
 */
import { readFile } from 'node:fs/promises'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const SERVICE_BUNDLE = join(ROOT, 'dist/service/main.mjs')

export const EXTERNAL = [
  'better-sqlite3',
  '@node-rs/argon2',
  '@node-rs/bcrypt',
  'pg',
  'pg-native',
  'mysql2',
  'ioredis',
  'nodemailer',
  'openid-client',
  '@simplewebauthn/server',
  'prom-client',
  'qrcode',
  'pino',
  'pino-pretty',
  'thread-stream',
  '@fastify/swagger',
  '@fastify/swagger-ui',
]

/**
 * Bundles `entries` (name → source file under the repository) into `outdir` as `<name>.mjs`, with the
 * library's sources resolved by tsconfig's paths. `packages: 'external'` keeps every dependency out
 * (the bench's own scripts); otherwise only EXTERNAL is.
 */
export async function bundle(options: {
  entries: Record<string, string>
  outdir: string
  packages?: 'bundle' | 'external'
}): Promise<void> {
  const { outdir } = options
  await build({
    entryPoints: Object.entries(options.entries).map(([out, input]) => ({ in: join(ROOT, input), out })),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    // a feature imported lazily (metrics) is a chunk of its own, loaded with its dependencies when used
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    ...(options.packages === 'external' ? { packages: 'external' as const } : { external: EXTERNAL }),
    // the CommonJS packages inside the bundle require Node's modules
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module';const require = __createRequire(import.meta.url);",
    },
    legalComments: 'none',
    // V8 keeps a module's source as a string for as long as the module lives (to compile functions at
    // their first call). Without whitespace and comments that string is 2 MB instead of 3, and it is
    // one byte per character: a single "…" in a comment made the 3 MB a 6-MB two-byte string (issue
    // 19: 8 MB of RSS at idle). Names stay: a stack trace names its functions, at line:column of the bundle.
    minifyWhitespace: true,
    logLevel: 'error',
    plugins: [
      {
        name: 'fastify-users-sources',
        setup(on) {
          // A library or service file that reads a file next to itself (the pages' assets) finds it
          // where it is in the repository, relative to the bundle: the checkout can move.
          on.onLoad({ filter: /\/(src|server)\/.*\.ts$/ }, async (args) => {
            const source = await readFile(args.path, 'utf8')
            if (!source.includes('import.meta.url')) return { contents: source, loader: 'ts' }
            const fromBundle = JSON.stringify(relative(outdir, args.path).split('\\').join('/'))
            const url = `new URL(${fromBundle}, import.meta.url).href`
            return { contents: source.replace(/\bimport\.meta\.url\b/g, url), loader: 'ts' }
          })
        },
      },
    ],
  })
}

/** npm start's bundle. */
export async function bundleService(outfile = SERVICE_BUNDLE): Promise<string> {
  await bundle({ entries: { [basename(outfile, '.mjs')]: 'server/main.ts' }, outdir: dirname(outfile) })
  return outfile
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now()
  const out = await bundleService()
  console.log(`bundled the service into ${relative(ROOT, out)} in ${Math.round(performance.now() - started)} ms`)
}
