import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { createTestDatabase, type TestDatabase } from '../support/databases.js'

/**
 * The npm package as a user gets it: `npm pack` (which builds dist/), installed into a fresh project
 * beside fastify, pg and @fastify/jwt + @fastify/auth, compiled by the user's tsc (strict,
 * exactOptionalPropertyTypes, no skipLibCheck) and run on plain node, no loader.
 */
const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url).pathname
const versionOf = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')

// The consumer's own program: the README's example, @fastify/jwt and @fastify/auth in the same app.
const MAIN = `import fastifyAuth from '@fastify/auth'
import fastifyJwt from '@fastify/jwt'
import type { InjectOptions } from 'fastify'
import { buildExampleApp } from './library.js'

const [databaseUrl = 'sqlite::memory:'] = process.argv.slice(2)
const app = await buildExampleApp(databaseUrl, 'consumer-secret-0123456789abcdef0123456789')
await app.register(fastifyJwt, { secret: 'another-secret-for-fastify-jwt-0123456789' })
await app.register(fastifyAuth)
// request.user is @fastify/jwt's payload; fastify-users' user is request.currentUser
app.get('/service-token', async () => ({ token: app.jwt.sign({ service: 'billing' }) }))
app.get(
  '/service',
  { preHandler: app.auth([async (request) => void (await request.jwtVerify())]) },
  async (request) => ({ user: request.user }),
)
const first: string | null | undefined = app.hasRequestDecorator('currentUser') ? 'ok' : null

const results: unknown[] = [first]
const send = async (options: InjectOptions, withBody = true) => {
  const res = await app.inject(options)
  const body = res.json() as Record<string, unknown>
  results.push(withBody ? [res.statusCode, body] : [res.statusCode])
  return body
}
await send({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: 'analytical-engine', first_name: 'Ada' } })
const login = await send({
  method: 'POST',
  url: '/auth/jwt/login',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: 'username=ada%40example.com&password=analytical-engine',
})
await send({ method: 'GET', url: '/protected', headers: { authorization: \`Bearer \${String(login['access_token'])}\` } })
await send({ method: 'GET', url: '/protected' })
const service = await send({ method: 'GET', url: '/service-token' })
const serviceToken = String(service['token'])
results.pop()
await send({ method: 'GET', url: '/service', headers: { authorization: \`Bearer \${serviceToken}\` } })
await send({ method: 'GET', url: '/service', headers: { authorization: \`Bearer \${String(login['access_token'])}\` } }, false)
await send({ method: 'GET', url: '/protected', headers: { authorization: \`Bearer \${serviceToken}\` } })
await app.close()

// a driver that is not installed: a clear error naming the package
const { openDatabase } = await import('fastify-users/kysely')
try {
  openDatabase('mysql://root@127.0.0.1/none')
} catch (error) {
  results.push((error as Error).message)
}
const { smtpDelivery } = await import('fastify-users/mail')
try {
  smtpDelivery({ url: 'smtp://127.0.0.1:2525', from: 'app@example.com' })
} catch (error) {
  results.push((error as Error).message)
}
const { githubClient } = await import('fastify-users/oauth')
try {
  githubClient({ clientId: 'id', clientSecret: 'secret' })
} catch (error) {
  results.push((error as Error).message)
}
console.log(JSON.stringify(results))
`

const tsconfig = (module: string, moduleResolution: string, outDir: string) =>
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module,
      moduleResolution,
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      types: ['node'],
      outDir,
    },
    files: ['main.ts', 'library.ts', 'quick-start.ts'],
  })

describe('the npm package', () => {
  let dir: string
  let consumer: string
  let files: string[] = []
  let postgres: TestDatabase | null = null

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fastify-users-package-'))
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
    })
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as {
      filename: string
      size: number
      files: { path: string }[]
    }[]
    assert.ok(packed)
    files = packed.files.map((f) => f.path)
    console.log(`tarball: ${packed.filename} ${packed.size} bytes, ${files.length} files`)

    consumer = join(dir, 'consumer')
    cpSync(join(ROOT, 'examples/library.ts'), join(consumer, 'library.ts'))
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
    writeFileSync(join(consumer, 'main.ts'), MAIN)
    // the README's quick start compiles too (it listens on a port, so it is not run)
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const quickStart = /Quick start \(PostgreSQL[^\n]*\n+```ts\n([\s\S]*?)```/.exec(readme)?.[1]
    assert.ok(quickStart, "README's quick start")
    writeFileSync(join(consumer, 'quick-start.ts'), `${quickStart}export {}\n`)
    writeFileSync(join(consumer, 'tsconfig.nodenext.json'), tsconfig('NodeNext', 'NodeNext', 'out'))
    writeFileSync(join(consumer, 'tsconfig.bundler.json'), tsconfig('ESNext', 'Bundler', 'out-bundler'))
    // From the npm cache where it can (the repository's own install filled it); the same versions as
    // the repository tests with. Scripts off: better-sqlite3 would compile for minutes, its build is copied.
    const wanted = ['fastify', 'pg', 'better-sqlite3', 'typebox', '@fastify/jwt', '@fastify/auth', '@types/node']
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        join(dir, packed.filename),
        ...wanted.map((name) => `${name}@${versionOf(name)}`),
      ],
      { cwd: consumer, maxBuffer: 64 * 1024 * 1024 },
    )
    cpSync(join(ROOT, 'node_modules/better-sqlite3/build'), join(consumer, 'node_modules/better-sqlite3/build'), {
      recursive: true,
    })
    postgres = await createTestDatabase('postgres')
  })

  after(async () => {
    await postgres?.drop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('the tarball holds the compiled package, no sources, tests, benchmarks or fixtures', () => {
    for (const wanted of [
      'package.json',
      'README.md',
      'bin/fastify-users.mjs',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/kysely.js',
      'dist/src/kysely.d.ts',
      'dist/src/pages/assets/pages.css',
      'dist/src/cli/index.js',
    ])
      assert.ok(files.includes(wanted), `${wanted} is in the tarball`)
    const unwanted = files.filter((f) => !/^(dist\/|bin\/|package\.json$|README\.md$|LICENSE)/.test(f))
    assert.deepEqual(unwanted, [])
    // the reference service is the repository's, not the package's
    assert.deepEqual(
      files.filter((f) => f.startsWith('dist/server/')),
      [],
    )
    assert.deepEqual(
      files.filter(
        (f) => /(^|\/)(test|bench|fixtures|examples)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      ),
      [],
    )
  })

  test('installs none of the optional drivers, Redis, mail or OAuth packages, nor tsx', async () => {
    const { stdout } = await run('npm', ['ls', '--all', '--parseable'], { cwd: consumer, maxBuffer: 16 * 1024 * 1024 })
    const installed = new Set(stdout.split('\n').map((line) => line.replace(/^.*node_modules\//, '')))
    for (const absent of ['mysql2', 'ioredis', 'nodemailer', 'openid-client', 'tsx', 'esbuild', 'helmet'])
      assert.ok(!installed.has(absent), `${absent} is not installed`)
  })

  for (const [name, config] of [
    ['NodeNext', 'tsconfig.nodenext.json'],
    ['Bundler', 'tsconfig.bundler.json'],
  ] as const) {
    test(`a program with @fastify/jwt and @fastify/auth compiles under ${name}, strict, exactOptionalPropertyTypes, no skipLibCheck`, async () => {
      await run(process.execPath, [TSC, '-p', config], { cwd: consumer }).catch((error) => {
        assert.fail(`tsc -p ${config}:\n${error.stdout}${error.stderr}`)
      })
    })
  }

  const expected = (first: string) => [
    'ok',
    [
      201,
      {
        id: first,
        email: 'ada@example.com',
        is_active: true,
        is_superuser: false,
        is_verified: false,
        first_name: 'Ada',
      },
    ],
    [200, { access_token: 'TOKEN', token_type: 'bearer' }],
    [200, { message: 'Hello Ada' }],
    [401, { detail: 'Unauthorized' }],
    [200, { user: { service: 'billing', iat: 'IAT' } }],
    [401],
    [401, { detail: 'Unauthorized' }],
    'mysql:// needs the `mysql2` package: npm install mysql2',
    'SMTP mail needs the `nodemailer` package: npm install nodemailer',
    'githubClient needs the `openid-client` package: npm install openid-client',
  ]

  for (const kind of ['sqlite', 'postgres'] as const) {
    test(`runs on plain node on ${kind}: register, login, a protected route, and @fastify/jwt's own route`, async (t) => {
      const url = kind === 'sqlite' ? `sqlite:${join(dir, 'app.sqlite')}` : postgres?.url
      if (!url) return t.skip('no PostgreSQL here')
      if (!existsSync(join(consumer, 'out/main.js')))
        await run(process.execPath, [TSC, '-p', 'tsconfig.nodenext.json'], { cwd: consumer })
      const { stdout } = await run(process.execPath, ['out/main.js', url], { cwd: consumer })
      const results = JSON.parse(stdout) as unknown[]
      const registered = (results[1] as [number, { id: string }])[1]
      const login = (results[2] as [number, { access_token: string }])[1]
      assert.match(login.access_token, /^ey/)
      login.access_token = 'TOKEN'
      const service = (results[5] as [number, { user: { iat: unknown } }])[1]
      assert.equal(typeof service.user.iat, 'number')
      service.user.iat = 'IAT'
      assert.deepEqual(results, expected(registered.id))
    })
  }

  test('the bin runs the compiled CLI on plain node', async () => {
    const { stdout } = await run(process.execPath, ['node_modules/.bin/fastify-users', 'migrate'], {
      cwd: consumer,
      env: { PATH: process.env.PATH, DATABASE_URL: `sqlite:${join(dir, 'cli.sqlite')}` },
    })
    assert.match(stdout, /migrat/i)
  })
})
