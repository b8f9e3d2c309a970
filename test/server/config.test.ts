import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, DEVELOPMENT_SECRET, loadConfig } from '../../server/config.js'

test('defaults: SQLite under ./data, 127.0.0.1:8000, one-hour tokens, a development secret', () => {
  const config = loadConfig({})
  assert.equal(config.databaseUrl, 'sqlite:./data/fastify-users.sqlite')
  assert.deepEqual([config.host, config.port, config.publicUrl], ['127.0.0.1', 8000, 'http://127.0.0.1:8000'])
  assert.deepEqual(
    [config.accessTokenLifetime, config.resetPasswordTokenLifetime, config.verificationTokenLifetime],
    [3600, 3600, 3600],
  )
  assert.equal(config.secret, DEVELOPMENT_SECRET)
  assert.equal(config.smtpUrl, undefined)
})

test('production refuses a missing, default or short SECRET', () => {
  for (const [secret, message] of [
    [undefined, 'SECRET is required when NODE_ENV=production'],
    [DEVELOPMENT_SECRET, 'SECRET must not be the development default in production'],
    ['too-short', 'SECRET must be at least 32 characters in production'],
  ] as const) {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', SECRET: secret }),
      (error: ConfigError) => error instanceof ConfigError && error.problems.includes(message),
      String(secret),
    )
  }
  assert.equal(loadConfig({ NODE_ENV: 'production', SECRET: 'x'.repeat(32) }).production, true)
})

test('every bad variable is reported at once', () => {
  assert.throws(
    () =>
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'oracle://db',
        ACCESS_TOKEN_LIFETIME: '-1',
        SMTP_URL: 'http://mail',
        FIRST_SUPERUSER_EMAIL: 'admin@example.com',
        REQUIRE_VERIFICATION: 'maybe',
        LOG_LEVEL: 'loud',
      }),
    (error: ConfigError) => {
      assert.equal(error.problems.length, 7, error.message)
      return true
    },
  )
})

test('PUBLIC_URL loses its trailing slash; postgres and mysql URLs are taken', () => {
  const config = loadConfig({ PUBLIC_URL: 'https://app.example.com/', DATABASE_URL: 'postgres://u@h/db' })
  assert.equal(config.publicUrl, 'https://app.example.com')
  assert.equal(loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1/test' }).databaseUrl, 'mysql://root@127.0.0.1/test')
})

test('PASSWORD_HASH: argon2id with OWASP parameters by default, bcrypt cost 12 on demand, floors in production', () => {
  assert.deepEqual(loadConfig({}).passwordHash, {
    algorithm: 'argon2id',
    argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
    bcryptRounds: 12,
  })
  assert.deepEqual(loadConfig({ PASSWORD_HASH: 'bcrypt', BCRYPT_ROUNDS: '13' }).passwordHash.bcryptRounds, 13)
  const production = { NODE_ENV: 'production', SECRET: 'x'.repeat(32) }
  const refused = (env: Record<string, string>, message: RegExp) =>
    assert.throws(
      () => loadConfig(env),
      (error: ConfigError) => error instanceof ConfigError && error.problems.some((p) => message.test(p)),
      JSON.stringify(env),
    )
  refused({ PASSWORD_HASH: 'md5' }, /^PASSWORD_HASH must be argon2id or bcrypt/)
  refused({ BCRYPT_ROUNDS: '3' }, /^BCRYPT_ROUNDS must be a whole number from 4 to 31/)
  refused({ ...production, ARGON2_MEMORY_COST: '8192', ARGON2_TIME_COST: '1' }, /below OWASP's floor/)
  refused({ ...production, PASSWORD_HASH: 'bcrypt', BCRYPT_ROUNDS: '9' }, /^BCRYPT_ROUNDS must be at least 10/)
  // below the floors is allowed outside production (tests), and OWASP's other equivalents are allowed in it
  assert.equal(loadConfig({ ARGON2_MEMORY_COST: '8192', ARGON2_TIME_COST: '1' }).passwordHash.argon2.memoryCost, 8192)
  assert.equal(loadConfig({ ...production, ARGON2_MEMORY_COST: '47104', ARGON2_TIME_COST: '1' }).production, true)
})

test('the user model: USER_ID_TYPE, the three table names and LOGIN_URI_PREFIX, with fastapi-users’ defaults', () => {
  const defaults = loadConfig({})
  assert.deepEqual(
    [defaults.userIdType, defaults.tables, defaults.loginUriPrefix],
    ['uuid', { user: 'user', accessToken: 'accesstoken', oauthAccount: 'oauth_account' }, '/auth/jwt'],
  )
  const named = loadConfig({
    USER_ID_TYPE: 'integer',
    USER_TABLE: 'demo_users',
    ACCESS_TOKEN_TABLE: 'access_tokens',
    OAUTH_ACCOUNT_TABLE: 'oauth_accounts',
    LOGIN_URI_PREFIX: '/api/auth/jwt',
  })
  assert.deepEqual(
    [named.userIdType, named.tables, named.loginUriPrefix],
    ['integer', { user: 'demo_users', accessToken: 'access_tokens', oauthAccount: 'oauth_accounts' }, '/api/auth/jwt'],
  )
})

test('bad user-model settings are named: id type, table syntax, our own tables, clashes, the prefix’s slashes', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env)
      return []
    } catch (error) {
      return (error as ConfigError).problems
    }
  }
  assert.deepEqual(problems({ USER_ID_TYPE: 'int' }), ['USER_ID_TYPE must be uuid or integer (got "int")'])
  for (const name of ['users; drop table x', '1users', 'dash-ed', 'x'.repeat(49), '"user"']) {
    const [problem] = problems({ USER_TABLE: name })
    assert.match(String(problem), /^USER_TABLE must be a table name/, name)
  }
  assert.match(String(problems({ ACCESS_TOKEN_TABLE: 'refresh_token' })[0]), /one of fastify-users' own tables/)
  assert.match(String(problems({ OAUTH_ACCOUNT_TABLE: 'Email_Identity' })[0]), /one of fastify-users' own tables/)
  assert.deepEqual(problems({ USER_TABLE: 'accounts', ACCESS_TOKEN_TABLE: 'accounts' }), [
    'USER_TABLE, ACCESS_TOKEN_TABLE and OAUTH_ACCOUNT_TABLE must name three different tables',
  ])
  assert.deepEqual(problems({ USER_TABLE: 'accesstoken' }), [
    'USER_TABLE, ACCESS_TOKEN_TABLE and OAUTH_ACCOUNT_TABLE must name three different tables',
  ])
  for (const prefix of ['auth/jwt', '/auth/jwt/', '/', '/auth//jwt', '/auth jwt']) {
    const [problem] = problems({ LOGIN_URI_PREFIX: prefix })
    assert.match(String(problem), /^LOGIN_URI_PREFIX must be a path like \/auth\/jwt/, prefix)
  }
})

test('REFRESH_REUSE_INTERVAL: 10 s by default, 0 (strict rotation) to 300', () => {
  assert.equal(loadConfig({}).refreshReuseInterval, 10)
  assert.equal(loadConfig({ REFRESH_REUSE_INTERVAL: '0' }).refreshReuseInterval, 0)
  assert.equal(loadConfig({ REFRESH_REUSE_INTERVAL: '300' }).refreshReuseInterval, 300)
  for (const bad of ['-1', '301', '2.5', 'ten']) {
    assert.throws(
      () => loadConfig({ REFRESH_REUSE_INTERVAL: bad }),
      (error: ConfigError) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.startsWith('REFRESH_REUSE_INTERVAL must be a whole number from 0 to 300')),
      bad,
    )
  }
})

test('MAX_SESSIONS_PER_USER: off (0) by default, 0 to 10000; session_info is one of our tables', () => {
  assert.equal(loadConfig({}).maxSessionsPerUser, 0)
  assert.equal(loadConfig({ MAX_SESSIONS_PER_USER: '5' }).maxSessionsPerUser, 5)
  for (const bad of ['-1', '10001', '2.5', 'five']) {
    assert.throws(
      () => loadConfig({ MAX_SESSIONS_PER_USER: bad }),
      (error: ConfigError) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.startsWith('MAX_SESSIONS_PER_USER must be a whole number from 0 to 10000')),
      bad,
    )
  }
  assert.throws(
    () => loadConfig({ ACCESS_TOKEN_TABLE: 'session_info' }),
    (error: ConfigError) =>
      error instanceof ConfigError && /one of fastify-users' own tables/.test(error.problems[0] ?? ''),
  )
})

test('PASSKEYS: off by default; the relying party from PUBLIC_URL, https or localhost, never an IP address', () => {
  assert.equal(loadConfig({}).passkeys, undefined)
  assert.deepEqual(loadConfig({ PASSKEYS: 'true', PUBLIC_URL: 'https://app.example.com/' }).passkeys, {
    rpID: 'app.example.com',
    origin: 'https://app.example.com',
    rpName: 'fastify-users',
    userVerification: 'preferred',
  })
  assert.deepEqual(
    loadConfig({
      PASSKEYS: 'true',
      PUBLIC_URL: 'http://localhost:8000',
      PASSKEYS_RP_NAME: 'Camelot',
      PASSKEYS_USER_VERIFICATION: 'required',
    }).passkeys,
    { rpID: 'localhost', origin: 'http://localhost:8000', rpName: 'Camelot', userVerification: 'required' },
  )
  for (const [env, message] of [
    [{}, 'PASSKEYS needs PUBLIC_URL to name a host, not an IP address (got 127.0.0.1)'],
    [{ PUBLIC_URL: 'https://[::1]:8000' }, 'PASSKEYS needs PUBLIC_URL to name a host, not an IP address (got [::1])'],
    [{ PUBLIC_URL: 'http://app.example.com' }, 'PASSKEYS needs an https PUBLIC_URL (http only on localhost)'],
    [
      { PUBLIC_URL: 'https://app.example.com', PASSKEYS_USER_VERIFICATION: 'always' },
      'PASSKEYS_USER_VERIFICATION must be required or preferred (got "always")',
    ],
  ] as const) {
    assert.throws(
      () => loadConfig({ PASSKEYS: 'true', ...env }),
      (error: ConfigError) => error instanceof ConfigError && error.problems.includes(message),
      message,
    )
  }
})

test('AUDIT_LOG: database by default, log, both or off; AUDIT_RETENTION_DAYS 90 by default, 0 keeps all', () => {
  assert.deepEqual([loadConfig({}).auditLog, loadConfig({}).auditRetentionDays], ['database', 90])
  for (const mode of ['database', 'log', 'both', 'off', 'LOG']) {
    assert.equal(loadConfig({ AUDIT_LOG: mode }).auditLog, mode.toLowerCase())
  }
  assert.equal(loadConfig({ AUDIT_RETENTION_DAYS: '0' }).auditRetentionDays, 0)
  assert.throws(
    () => loadConfig({ AUDIT_LOG: 'table', AUDIT_RETENTION_DAYS: '-1' }),
    (error: ConfigError) =>
      error instanceof ConfigError &&
      error.problems.includes('AUDIT_LOG must be one of database, log, both, off (got "table")') &&
      error.problems.some((p) => p.startsWith('AUDIT_RETENTION_DAYS must be a whole number from 0 to 36500')),
  )
  assert.throws(
    () => loadConfig({ USER_TABLE: 'auth_event' }),
    (error: ConfigError) =>
      error instanceof ConfigError && /one of fastify-users' own tables/.test(error.problems[0] ?? ''),
  )
})
