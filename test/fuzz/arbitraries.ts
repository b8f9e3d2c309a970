/**
 * Generators for the route fuzzer: whole HTTP requests (method, path, query, headers, body)
 * aimed at the reference service's routes, mostly malformed. Values that only exist at run
 * time (the fuzzing user's tokens, the victim's id) are placeholders like `%%fuzzer.jwt%%`,
 * and JWTs are described rather than signed, so a counterexample prints readably and replays.
 */
import fc from 'fast-check'

/** One route: its path template (`{id}` for parameters), its methods and, for bodies, the schema's fields. */
export interface RouteSpec {
  path: string
  methods: string[]
  body?: 'json' | 'form'
  fields?: Record<string, FieldType>
}

export type FieldType = 'string' | 'email' | 'boolean' | 'nullable-string' | 'password' | 'token' | 'unknown'

/** A JWT described, signed by the test at send time: HMAC with the service's secret or another key, or none. */
export interface JwtSpec {
  jwt: {
    header: Record<string, unknown>
    claims: Record<string, unknown>
    /** Raw JSON text appended to the payload: duplicate keys, `__proto__`, odd values. */
    extra: string[]
    key: 'secret' | 'wrong-key' | 'unsigned' | 'garbage-signature'
    /** The HMAC used to sign, whatever the header says. */
    hash: 'sha256' | 'sha384' | 'sha512'
  }
}

/** A header or query value: literal text, a placeholder-bearing text, or a JWT to sign. */
export type Value = string | JwtSpec

export type Body =
  | { kind: 'json-text'; text: string }
  | { kind: 'form'; text: string }
  | { kind: 'multipart'; boundary: string; parts: { name: string; value: string; filename?: string }[] }
  | { kind: 'bytes'; bytes: number[] }
  | { kind: 'big'; size: number; fill: string }

export interface FuzzRequest {
  method: string
  path: string
  query: Query
  headers: Record<string, Value>
  body?: Body
  /** The Content-Type sent with the body (absent: none). */
  contentType?: string
}

/** Placeholders the test resolves per batch. */
export const REF = {
  fuzzerId: '%%fuzzer.id%%',
  fuzzerEmail: '%%fuzzer.email%%',
  fuzzerJwt: '%%fuzzer.jwt%%',
  fuzzerCookie: '%%fuzzer.cookie%%',
  fuzzerRedis: '%%fuzzer.redis%%',
  fuzzerRefresh: '%%fuzzer.refresh%%',
  fuzzerSession: '%%fuzzer.session%%',
  victimId: '%%victim.id%%',
  victimEmail: '%%victim.email%%',
  victimSession: '%%victim.session%%',
  victimCookie: '%%victim.cookie-session-id%%',
  adminId: '%%admin.id%%',
  adminEmail: '%%admin.email%%',
} as const

// ---------------------------------------------------------------- strings

/** A lone surrogate, which UTF-8 cannot carry and JSON only as an escape. */
const loneSurrogate = fc.constantFrom('\ud800', '\udfff', '\udc00x', 'a\ud83d')

const special = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '__proto__',
  'constructor',
  'prototype',
  "'; DROP TABLE user; --",
  '" OR 1=1 --',
  '%00',
  '%',
  '%zz',
  '%E0%A4%A',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '\r\nX-Injected: 1',
  'ǅ̸̡̛̖̰͐', // combining marks
  '\u202e\u200b\ufeff',
  '😀👩‍👩‍👧',
  'İıſK', // case-folding oddities
)

/** Strings from every corner: ASCII, full Unicode, lone surrogates, specials, and long ones. */
export const weirdString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: special },
  { weight: 1, arbitrary: loneSurrogate },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'é', '😀', '\ud800', '%', '0'), fc.integer({ min: 256, max: 70_000 }))
      .map(([c, n]) => c.repeat(n)),
  },
)

const emailLocal = fc.stringMatching(/^[a-z0-9._+-]{1,20}$/)

/** E-mail addresses: the known users' (in other spellings), valid, international, long and broken. */
export const email: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(REF.victimEmail, REF.adminEmail, REF.fuzzerEmail),
  fc
    .tuple(fc.constantFrom(REF.victimEmail, REF.adminEmail), fc.constantFrom(':upper', ' ', '.', '\u0000'))
    .map(([ref, how]) => (how === ' ' ? ` ${ref} ` : `${ref}${how}`)),
  emailLocal.map((l) => `${l}@example.com`),
  fc.tuple(emailLocal, fc.domain()).map(([l, d]) => `${l}@${d}`),
  fc.constantFrom(
    'a@b',
    '@example.com',
    'a@',
    'a@@example.com',
    'ü@exämple.com',
    'user@xn--exmple-cua.com',
    'δοκιμή@παράδειγμα.δοκιμή',
    'a@[127.0.0.1]',
    '"quoted local"@example.com',
    `${'a'.repeat(65)}@example.com`,
    `a@${'b'.repeat(300)}.com`,
    'a\ud800@example.com',
    'a\u0000@example.com',
    'a@example.com\n',
  ),
  weirdString,
)

// ---------------------------------------------------------------- JSON values

const number = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1, 2 ** 53 + 1, Number.MAX_VALUE, Number.MIN_VALUE),
)

/** A JSON value as text, including what JSON.stringify never writes (huge exponents, escapes of lone surrogates). */
export const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(
      'null',
      'true',
      'false',
      '1e400',
      '-1e400',
      '0.0000000000000000000001',
      '123456789012345678901234567890',
    ),
    number.map((n) => (Number.isFinite(n) ? JSON.stringify(n) : '0')),
    weirdString.map((s) => JSON.stringify(s)),
    loneSurrogate.map((s) => JSON.stringify(s)), // "\ud800": valid JSON text, ill-formed string
    email.map((s) => JSON.stringify(s)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(fc.oneof(weirdString, fc.constantFrom('__proto__', 'constructor', 'email')), tie('value')), {
        maxLength: 4,
      })
      .map(objectText),
  ),
})).value

function objectText(entries: [string, string][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`
}

/** A value for one field of a schema: often the right type, often not. */
function fieldValue(type: FieldType): fc.Arbitrary<string> {
  const right: Record<FieldType, fc.Arbitrary<string>> = {
    string: weirdString.map((s) => JSON.stringify(s)),
    email: email.map((s) => JSON.stringify(s)),
    boolean: fc.boolean().map(String),
    'nullable-string': fc.option(weirdString, { nil: null }).map((s) => JSON.stringify(s)),
    password: fc
      .oneof(fc.constant('fuzzer-password-123'), fc.string({ minLength: 8, maxLength: 30 }), weirdString)
      .map((s) => JSON.stringify(s)),
    token: fc.oneof(jwt, tokenGarbage).map((t) => JSON.stringify(t)),
    unknown: jsonText,
  }
  return fc.oneof({ weight: 3, arbitrary: right[type] }, { weight: 1, arbitrary: fc.constant('null') }, jsonText)
}

/** JSON text shaped like the schema's object: its fields (some missing, wrongly typed), extra and duplicate keys. */
function shapedJson(fields: Record<string, FieldType>): fc.Arbitrary<string> {
  const names = Object.keys(fields)
  const known = fc.constantFrom(...names).chain((name) => fieldValue(fields[name] as FieldType).map((v) => [name, v]))
  const extra = fc.tuple(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'id',
      'hashed_password',
      'is_superuser',
      'is_active',
      'is_verified',
      'first_name',
      'email',
    ),
    fc.oneof(jsonText, fc.constantFrom('true', '{"is_superuser":true}', '{"prototype":{"is_superuser":true}}')),
  )
  const entries = fc.array(fc.oneof({ weight: 4, arbitrary: known }, { weight: 1, arbitrary: extra }), {
    maxLength: names.length + 3,
  })
  return fc.oneof(
    { weight: 6, arbitrary: entries.map((e) => objectText(e as [string, string][])) },
    { weight: 1, arbitrary: jsonText },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":}', '[', '{"email":"a"', 'nul', '\u0000', '{}}') },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('[', '{"a":'), fc.integer({ min: 500, max: 20_000 }))
        .map(([open, n]) => open.repeat(n) + (open === '[' ? ']'.repeat(n) : `1${'}'.repeat(n)}`)),
    },
  )
}

// ---------------------------------------------------------------- tokens

const base64url = fc.string({
  unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
  maxLength: 60,
})

const uuid = fc.uuid()

/** The spellings Python's uuid.UUID accepts, and a few it does not. */
function spell(id: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(id, fc.constantFrom('plain', 'upper', 'hex', 'braces', 'urn', 'space', 'trunc', 'extra'))
    .map(([value, how]) => `${value}${how === 'plain' ? '' : `:${how}`}`)
}

const subject = fc.oneof(
  { weight: 3, arbitrary: fc.constant(REF.fuzzerId) },
  { weight: 2, arbitrary: uuid },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.integer(),
      fc.constant(null),
      fc.array(fc.constant(REF.fuzzerId), { maxLength: 2 }),
      weirdString,
    ),
  },
)

const audience = fc.oneof(
  fc.constantFrom('fastapi-users:auth', 'fastapi-users:reset', 'fastapi-users:verify', 'other'),
  fc.constantFrom(['fastapi-users:auth'], ['fastapi-users:auth', 'x'], [], [1]),
  fc.constant(undefined),
)

const time = fc.oneof(
  fc.constantFrom('past', 'future', 'now'),
  fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 5 }), fc.constant(null), fc.constant(2 ** 60)),
)

/** JWT claims: mostly plausible for the fuzzing user or nobody, with odd types and extra claims. */
const claims = fc.record(
  {
    sub: subject,
    aud: audience,
    exp: time,
    nbf: time,
    iat: time,
    pfp: fc.oneof(base64url, fc.integer(), fc.constant(null)),
    password_fgpt: fc.oneof(fc.constant('hmac-sha256:x'), base64url, fc.constant('$argon2id$v=19$m=1,t=1,p=1$x$y')),
    email: email,
    first_name: weirdString,
  },
  { requiredKeys: [] },
)

const jwtHeader = fc.record(
  {
    alg: fc.constantFrom('HS256', 'HS384', 'HS512', 'none', 'RS256', 'ES256', 'EdDSA', 'hs256', ''),
    typ: fc.constantFrom('JWT', 'at+jwt', 'jwt', 'x'),
    kid: fc.oneof(weirdString, fc.constant('../../dev/null'), fc.integer()),
    crit: fc.oneof(
      fc.constant(['exp']),
      fc.constant(['b64']),
      fc.constant([]),
      fc.constant('b64'),
      fc.array(weirdString, { maxLength: 2 }),
    ),
    b64: fc.boolean(),
    jku: fc.constantFrom('http://127.0.0.1:1/jwks.json', 'file:///etc/passwd'),
    jwk: fc.constant({ kty: 'oct', k: 'AAAA' }),
    zip: fc.constantFrom('DEF', 'x'),
  },
  { requiredKeys: ['alg'] },
)

/**
 * Tokens that could pass as the victim's if the service trusted the wrong thing: real-secret
 * signatures whose fingerprint (`pfp`, `password_fgpt`) is not the victim's, or whose e-mail
 * names the victim while the subject does not. No signature with the secret and the victim's
 * subject is ever valid as it stands, unlike a token the service itself would issue.
 */
const forgedForVictim: fc.Arbitrary<JwtSpec> = fc
  .oneof(
    fc.record({
      sub: spell(fc.constantFrom(REF.victimId, REF.adminId)),
      aud: fc.constant('fastapi-users:auth'),
      pfp: fc.oneof(
        base64url.filter((s) => s.length > 0),
        fc.integer(),
        fc.constant(null),
        fc.constant({}),
      ),
    }),
    fc.record({
      sub: spell(fc.constantFrom(REF.victimId, REF.adminId)),
      aud: fc.constant('fastapi-users:reset'),
      password_fgpt: fc.oneof(
        fc.constant('hmac-sha256:x'),
        base64url,
        fc.constant(1),
        fc.constant('$argon2id$v=19$m=1,t=1,p=1$x$y'),
      ),
    }),
    fc.record({
      sub: fc.oneof(fc.constant(REF.fuzzerId), uuid, fc.constant(null)),
      aud: fc.constant('fastapi-users:verify'),
      email: fc.constantFrom(REF.victimEmail, REF.adminEmail),
    }),
  )
  .map((c) => ({
    jwt: {
      header: { alg: 'HS256', typ: 'JWT' },
      claims: c,
      extra: [],
      key: 'secret' as const,
      hash: 'sha256' as const,
    },
  }))

/** JWTs described: random headers and claims, signed with the secret, another key, or not at all. */
export const jwt: fc.Arbitrary<JwtSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        header: jwtHeader,
        claims,
        extra: fc.array(
          fc.oneof(
            fc.constantFrom('"__proto__":{"is_superuser":true}', '"sub":"x"', '"constructor":{"prototype":{"a":1}}'),
            fc.tuple(weirdString, jsonText).map(([k, v]) => `${JSON.stringify(k)}:${v}`),
          ),
          { maxLength: 2 },
        ),
        key: fc.constantFrom('secret', 'secret', 'wrong-key', 'unsigned', 'garbage-signature'),
        hash: fc.constantFrom('sha256', 'sha256', 'sha384', 'sha512'),
      })
      .map((jwt) => ({ jwt }) as JwtSpec),
  },
  { weight: 1, arbitrary: forgedForVictim },
)

/** Token-shaped garbage: JWT-looking segments, the known tokens cut or extended, random text. */
export const tokenGarbage: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(base64url, base64url, base64url).map((s) => s.join('.')),
  fc.array(base64url, { maxLength: 6 }).map((s) => s.join('.')),
  fc
    .tuple(
      fc.constantFrom(REF.fuzzerJwt, REF.fuzzerCookie, REF.fuzzerRedis, REF.fuzzerRefresh),
      fc.constantFrom('', 'x', '.', '==', ' ', '\u0000'),
    )
    .map(([t, s]) => `${t}${s}`),
  fc.constantFrom('eyJ', 'eyJhbGciOiJub25lIn0..', 'a.b.c', '...', 'e30.e30.', 'e30.e30.e30'),
  weirdString,
)

/** What a credential may be: the fuzzing user's real tokens most often, so authorised routes are fuzzed too. */
const credential: fc.Arbitrary<Value> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(REF.fuzzerJwt, REF.fuzzerRedis) },
  { weight: 3, arbitrary: jwt },
  { weight: 2, arbitrary: tokenGarbage },
)

const authorization: fc.Arbitrary<Value> = fc.oneof(
  { weight: 6, arbitrary: credential.map((c) => (typeof c === 'string' ? `Bearer ${c}` : c)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token', 'JWT', '', 'Bearer ', 'Digest'),
        credential,
      )
      .map(([scheme, c]) => (typeof c === 'string' ? `${scheme} ${c}` : c)),
  },
  { weight: 1, arbitrary: weirdString },
)

/** Cookie headers: the fuzzing user's session cookie most often, and broken ones. */
const cookie: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(`fastapiusersauth=${REF.fuzzerCookie}`) },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.constantFrom('fastapiusersauth', 'fastapiusersrefresh', 'fastapiusersoauthcsrf', 'x', '__proto__', ''),
          fc.oneof(
            tokenGarbage,
            fc.constantFrom(REF.fuzzerCookie, REF.fuzzerRefresh, '%E0%A4%A', '"quoted"', '%', 'a;b', ''),
          ),
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('; ')),
  },
  { weight: 1, arbitrary: fc.constantFrom('=;;=', ';', 'fastapiusersauth', '=fastapiusersauth', 'a=b=c;;;d') },
)

const origin = fc.oneof(
  fc.constantFrom(
    'http://localhost:80',
    'http://127.0.0.1:8000',
    'https://evil.example',
    'null',
    '',
    'not a url',
    'http://[::1',
    'file://',
  ),
  fc.webUrl().map((u) => new URL(u).origin),
  weirdString,
)

const contentTypes = {
  json: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'application/json;;;',
    'application/vnd.api+json',
  ),
  form: fc.constantFrom(
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-16',
    'application/x-www-form-urlencoded; charset=x-unknown',
  ),
  other: fc.constantFrom(
    'text/plain',
    'text/html',
    'application/octet-stream',
    'multipart/form-data',
    'multipart/form-data; boundary=',
    'multipart/mixed; boundary=x',
    '',
    ';',
    '*/*',
    'application/',
    'garbage',
    'application/json\u0000',
  ),
}

const headers: fc.Arbitrary<Record<string, Value>> = fc.record(
  {
    authorization,
    cookie,
    origin,
    'sec-fetch-site': fc.constantFrom('same-origin', 'same-site', 'cross-site', 'none', '', 'x'),
    host: fc.constantFrom('localhost', 'localhost:80', 'evil.example', '[::1]:1', '', 'a b'),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', '', 'x'),
    'accept-language': fc.constantFrom('fr', 'de-DE,de;q=0.9', '*', ';q=x'),
    'if-none-match': fc.constantFrom('*', '"x"', 'W/"y"'),
    'x-forwarded-for': fc.constantFrom('1.2.3.4', 'x', '::1, 127.0.0.1'),
    'x-forwarded-proto': fc.constantFrom('https', 'gopher'),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', 'x'),
  },
  { requiredKeys: [] },
)

// ---------------------------------------------------------------- query strings, paths, bodies

const queryPair = fc.tuple(
  fc.constantFrom(
    'token',
    'token',
    'code',
    'state',
    'error',
    'scopes',
    'notice',
    'access_token',
    '__proto__',
    'constructor[prototype][x]',
    'a[]',
    '',
  ),
  fc.oneof(
    tokenGarbage,
    jwt,
    fc.constantFrom('%zz', '%', '%E0%A4%A', '%00', 'a%2Fb', 'x=y', '', 'openid email', 'registered'),
  ),
)

/** A query string: repeated keys, bad percent-encoding, values raw or encoded; JWTs are signed at send time. */
export interface Query {
  pairs: [string, Value][]
  raw: string
  encode: boolean
}

const query: fc.Arbitrary<Query> = fc.record({
  pairs: fc.array(queryPair, { maxLength: 4 }),
  raw: fc.oneof(
    { weight: 5, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constantFrom('&&', '=', '?', '#frag', '%', 'a=%ZZ&a=1&a') },
  ),
  encode: fc.boolean(),
})

/** A path parameter: ids, traversals, encoded slashes, very long ones. */
const pathParam: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: spell(fc.constantFrom(REF.victimId, REF.adminId, REF.fuzzerId)) },
  { weight: 2, arbitrary: fc.oneof(uuid, weirdString.map(safeEncode)) },
  { weight: 2, arbitrary: fc.constantFrom(REF.victimSession, REF.fuzzerSession, REF.victimCookie) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '%2F',
      '..%2F..%2Fme',
      '%2e%2e',
      'me',
      'me%2Fsessions',
      '%',
      '%zz',
      '%C0%AF',
      '%00',
      'a/b',
      '',
      '%2520',
      'pages.js',
      'pages.css',
      '..',
      '.',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 101, max: 20_000 }).map((n) => 'a'.repeat(n)) },
)

const formText: fc.Arbitrary<string> = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.constantFrom(
          'username',
          'password',
          'grant_type',
          'scope',
          'client_id',
          'client_secret',
          '__proto__',
          'username[]',
          '',
        ),
        fc.oneof(email, fc.constantFrom('fuzzer-password-123', 'password', '', 'x'), weirdString),
      ),
      { maxLength: 8 },
    )
    .chain((pairs) =>
      fc
        .boolean()
        .map((encode) =>
          pairs.map(([k, v]) => (encode ? `${encodeURIComponent(k)}=${safeEncode(v)}` : `${k}=${v}`)).join('&'),
        ),
    ),
  fc.constantFrom(
    '%',
    '=&=&',
    'username=%zz&password=%',
    `username=${REF.fuzzerEmail}&password=fuzzer-password-123`,
    '&&&&',
  ),
)

/** Percent-encoding that never throws: lone surrogates go out as the UTF-8 bytes Node would send. */
export function safeEncode(value: string): string {
  try {
    return encodeURIComponent(value)
  } catch {
    return [...Buffer.from(value)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
  }
}

const multipart: fc.Arbitrary<Body> = fc.record({
  kind: fc.constant('multipart' as const),
  boundary: fc.constantFrom('fuzzboundary', 'x', '-----', 'a b'),
  parts: fc.array(
    fc.record(
      {
        name: fc.oneof(fc.constantFrom('username', 'password', 'grant_type', '__proto__', ''), weirdString),
        value: fc.oneof(email, fc.constant(REF.fuzzerEmail), fc.constant('fuzzer-password-123'), weirdString),
        filename: fc.constantFrom('a.txt', '../x', ''),
      },
      { requiredKeys: ['name', 'value'] },
    ),
    { maxLength: 25 },
  ),
})

const bytes: fc.Arbitrary<Body> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'bytes' as const, bytes: [...b] })),
  fc
    .constantFrom(
      [0xff, 0xfe, 0x7b, 0x00], // BOM + UTF-16
      [0xef, 0xbb, 0xbf, 0x7b, 0x7d], // UTF-8 BOM + {}
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d], // invalid UTF-8 in a string
      [0x1f, 0x8b, 0x08, 0x00], // a gzip header
    )
    .map((b) => ({ kind: 'bytes' as const, bytes: [...b] })),
)

const big: fc.Arbitrary<Body> = fc.record({
  kind: fc.constant('big' as const),
  size: fc.constantFrom(1024 * 1024 - 1, 1024 * 1024 + 1, 3 * 1024 * 1024),
  fill: fc.constantFrom('a', '['),
})

function bodyFor(route: RouteSpec): fc.Arbitrary<{ body?: Body; contentType?: string }> {
  const fields = route.fields && Object.keys(route.fields).length > 0 ? route.fields : { email: 'email' as const }
  const json = shapedJson(fields).map((text) => ({ kind: 'json-text', text }) as Body)
  const formBody = formText.map((text) => ({ kind: 'form', text }) as Body)
  const withType = (body: fc.Arbitrary<Body>, types: fc.Arbitrary<string | undefined>) =>
    fc.tuple(body, types).map(([b, contentType]) => ({ body: b, contentType }))
  const anyType = fc.oneof(contentTypes.json, contentTypes.form, contentTypes.other, fc.constant(undefined))
  const preferred =
    route.body === 'form'
      ? fc.oneof(
          { weight: 4, arbitrary: withType(formBody, fc.oneof(contentTypes.form, fc.constant(undefined))) },
          { weight: 3, arbitrary: withType(multipart, fc.constant(undefined)) },
        )
      : withType(
          json,
          fc.oneof({ weight: 3, arbitrary: contentTypes.json }, { weight: 1, arbitrary: fc.constant(undefined) }),
        )
  return fc.oneof(
    { weight: 6, arbitrary: preferred },
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: withType(fc.oneof(json, formBody, multipart), anyType) },
    { weight: 1, arbitrary: withType(bytes, anyType) },
    { weight: 1, arbitrary: withType(big, fc.oneof(contentTypes.json, contentTypes.form)) },
  )
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'SEARCH']

/** A request to one of the routes: mostly its own method, sometimes any other; parameters, query, headers, body. */
export function requestTo(routes: RouteSpec[]): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom(...routes).chain((route) =>
    fc
      .record({
        method: fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom(...route.methods) },
          { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
        ),
        params: fc.array(pathParam, { minLength: 2, maxLength: 2 }),
        suffix: fc.oneof(
          { weight: 8, arbitrary: fc.constant('') },
          { weight: 1, arbitrary: fc.constantFrom('/', '//', '/x', '%20', ';x', '/.') },
        ),
        query,
        headers,
        payload: bodyFor(route),
      })
      .map(({ method, params, suffix, query, headers, payload }) => {
        let i = 0
        const path = route.path.replace(/\{[^}]+\}/g, () => params[i++] as string) + suffix
        const sendsBody = !['GET', 'HEAD'].includes(method)
        return {
          method,
          path,
          query,
          headers,
          ...(sendsBody ? payload : {}),
        } as FuzzRequest
      }),
  )
}
