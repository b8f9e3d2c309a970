/**
 * Malformed HTTP over a real socket to a listening reference service: bad request lines,
 * huge headers, broken chunked encoding, smuggling-shaped framing, random bytes. Node and
 * Fastify must answer 4xx or close the connection, never 5xx, and the service keeps serving.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, type TestContext, test } from 'node:test'
import fc from 'fast-check'
import { client, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_601)
const RUNS = Number(process.env.FUZZ_RUNS ?? 30)
const USER = { email: 'raw@example.com', password: 'raw-password-123' }

/** Writes the bytes, half-closes, and returns everything the server sent before it closed (bounded wait). */
function exchange(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1')
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer and no close within 10 s for ${JSON.stringify(String(bytes).slice(0, 200))}`))
    }, 10_000)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', () => {}) // a reset is a close
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('latin1'))
    })
    socket.end(bytes)
  })
}

/** The status codes of every response in what the server sent. */
const statusesIn = (text: string) => [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]))

const MALFORMED: [string, string | Buffer][] = [
  ['garbage request line', 'GARBAGE\r\n\r\n'],
  ['no HTTP version', 'GET /users/me\r\n\r\n'],
  ['unknown HTTP version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
  ['lower-case version', 'GET / http/1.1\r\nHost: x\r\n\r\n'],
  ['NUL in the method', 'G\u0000ET / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['space in the target', 'GET /users /me HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['bare LF line endings', 'GET /users/me HTTP/1.1\nHost: x\n\n'],
  ['header without colon', 'GET / HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n'],
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n'],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n'],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'],
  ['huge header', `GET /users/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`],
  ['many headers', `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(5000)}\r\n`],
  ['very long URL', `GET /users/${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`],
  [
    'bad chunk size',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
  ],
  [
    'chunk longer than announced',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{"email":1}\r\n0\r\n\r\n',
  ],
  [
    'truncated chunked body',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"em',
  ],
  [
    'huge chunk size',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n{}\r\n',
  ],
  [
    'Content-Length with Transfer-Encoding',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /users/me HTTP/1.1\r\n\r\n',
  ],
  [
    'two Content-Lengths',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x',
  ],
  ['negative Content-Length', 'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}'],
  ['non-numeric Content-Length', 'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}'],
  [
    'Content-Length beyond the body',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}',
  ],
  [
    'Content-Length beyond the limit',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}',
  ],
  [
    'unknown Transfer-Encoding',
    'POST /auth/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, identity\r\n\r\n{}',
  ],
  ['absolute-form target', 'GET http://evil.example/users/me HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['CONNECT', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'],
  ['no Host, HTTP/1.1', 'GET /users/me HTTP/1.1\r\n\r\n'],
  ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  ['HTTP/1.0 keep-alive', 'GET /sign-in HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'],
  [
    'upgrade to h2c',
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
  ],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ['TLS ClientHello', Buffer.from('16030100a5010000a10303', 'hex')],
  ['percent-encoding error in the path', 'GET /users/%zz HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['encoded NUL in the path', 'GET /users/%00 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['UTF-8 bytes in the path', Buffer.from('GET /users/\u00e9\ud83d\ude00 HTTP/1.1\r\nHost: x\r\n\r\n', 'utf8')],
  [
    'invalid UTF-8 in a header',
    Buffer.concat([
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('\r\n\r\n'),
    ]),
  ],
  ['a valid request, then garbage', 'GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE GARBAGE\r\n\r\n'],
]

/** Odd but legal (or accepted by Node's parser): any answer below 500 will do. */
const TOLERATED = new Set([
  'HTTP/1.0 keep-alive',
  'upgrade to h2c',
  'two Hosts',
  'absolute-form target',
  'invalid UTF-8 in a header',
  'a valid request, then garbage',
])

for (const kind of databaseKinds())
  describe(`malformed HTTP on a socket (${kind})`, () => {
    let started: TestApp | null = null
    let port = 0

    before(async () => {
      started = await startTestApp(kind)
      if (!started) return
      await started.app.listen({ port: 0, host: '127.0.0.1' })
      port = (started.app.server.address() as { port: number }).port
      const res = await client(started.app).register(USER.email, USER.password)
      assert.equal(res.statusCode, 201, res.body)
    })
    after(async () => {
      await started?.close()
    })

    /** A normal client over the same socket layer: log in, then read /users/me. */
    async function stillServes() {
      const base = `http://127.0.0.1:${port}`
      const login = await fetch(`${base}/auth/jwt/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: USER.email, password: USER.password }),
      })
      assert.equal(login.status, 200)
      const { access_token } = (await login.json()) as { access_token: string }
      const me = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${access_token}` } })
      assert.deepEqual([me.status, ((await me.json()) as { email: string }).email], [200, USER.email])
    }

    for (const [name, bytes] of MALFORMED) {
      test(`${name}: 4xx or closed, then still serving`, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        const answer = await exchange(port, bytes)
        const statuses = statusesIn(answer)
        assert.ok(
          statuses.every((s) => s < 500),
          `answered ${statuses.join(', ')}: ${answer.slice(0, 300)}`,
        )
        // A malformed request is refused: 4xx or a bare close. HTTP allows the tolerated ones.
        if (!TOLERATED.has(name) && statuses.length > 0) assert.ok((statuses[0] as number) >= 400, answer.slice(0, 300))
        await stillServes()
      })
    }

    test('random request heads and bodies: never 5xx, still serving', async (t: TestContext) => {
      if (!started) return t.skip(`${kind} is not reachable locally`)
      let sent = 0
      const line = fc.oneof(
        fc.string({ unit: 'binary-ascii', maxLength: 80 }),
        fc.constantFrom(
          'GET / HTTP/1.1',
          'POST /auth/register HTTP/1.1',
          'Host: x',
          'Transfer-Encoding: chunked',
          'Content-Length: 5',
          'Content-Type: application/json',
          '0',
          '',
        ),
      )
      const head = fc.record({
        lines: fc.array(line, { maxLength: 8 }),
        eol: fc.constantFrom('\r\n', '\n', '\r'),
        body: fc.uint8Array({ maxLength: 64 }),
      })
      await fc.assert(
        fc.asyncProperty(head, async ({ lines, eol, body }) => {
          const bytes = Buffer.concat([Buffer.from(lines.join(eol) + eol + eol, 'latin1'), Buffer.from(body)])
          const answer = await exchange(port, bytes)
          sent++
          const statuses = statusesIn(answer)
          assert.ok(
            statuses.every((s) => s < 500),
            `answered ${statuses.join(', ')}: ${answer.slice(0, 300)}`,
          )
        }),
        { seed: SEED, numRuns: RUNS * 3, includeErrorInReport: true },
      )
      await stillServes()
      t.diagnostic(`raw requests fuzzed: ${sent + MALFORMED.length} (seed ${SEED})`)
    })
  })
