import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import {
  type Argon2Params,
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlgorithm,
  BUILT_IN_LOCALES,
  DEFAULT_BCRYPT_ROUNDS,
  EMAIL_CHANGE_MODES,
  type EmailChangeMode,
  type HmacAlgorithm,
  MAX_PASSWORD_LENGTH,
  OWASP_ARGON2ID,
  type UserIdType,
} from 'fastify-users'
import { DEFAULT_TABLE_NAMES, type TableNames } from 'fastify-users/kysely'

/**
 * The reference service's configuration: parsed and checked once, at start, into a typed
 * object. Nothing else reads `process.env`.
 */
export interface Config {
  production: boolean
  host: string
  port: number
  databaseUrl: string
  databasePoolSize: number
  databaseTimeoutMs: number
  /** The type of user ids (USER_ID_TYPE): UUIDs, or integers as fastapi-users' IntegerIDMixin. */
  userIdType: UserIdType
  /** The user, access-token and OAuth-account tables' names (USER_TABLE, ACCESS_TOKEN_TABLE, OAUTH_ACCOUNT_TABLE). */
  tables: TableNames
  /** Where the main JWT auth router is mounted (LOGIN_URI_PREFIX, default /auth/jwt). */
  loginUriPrefix: string
  secret: string
  accessTokenLifetime: number
  resetPasswordTokenLifetime: number
  verificationTokenLifetime: number
  requireVerification: boolean
  refreshTokenLifetime: number
  /** Seconds a spent refresh token is answered with its successor (concurrent refreshes); 0: strict rotation. */
  refreshReuseInterval: number
  /** LOGIN_WITH_USERNAME: users may have a unique `username` and log in with it or their e-mail. */
  loginWithUsername: boolean
  /** At most this many concurrent sessions (refresh families, database and Redis sessions) per user; 0: no cap. */
  maxSessionsPerUser: number
  /** Enables the Redis backend (/auth/redis) when set: one server (REDIS_URL), through Sentinel, or a Cluster. */
  redis: RedisConfig | undefined
  /** Connect and command timeout of the Redis client (ms): Redis down answers 503 within it. */
  redisTimeoutMs: number
  cookieSecure: boolean
  /** Origins besides PUBLIC_URL's whose cookie-authenticated requests are not cross-site. */
  csrfTrustedOrigins: string[]
  /** Asymmetric access tokens: the signing key, then retired public keys still verified. */
  jwtKeys: { algorithm: AsymmetricAlgorithm; privateKey: string; publicKeys: string[] } | undefined
  /** The access tokens' HMAC algorithm when no key file is set (JWT_ALGORITHM: HS256, HS384 or HS512). */
  jwtHmacAlgorithm: HmacAlgorithm
  /** Serve the hosted pages (/sign-in, /verify, /reset-password, …). */
  pages: boolean
  /** Users may delete their own account (SELF_DELETE): DELETE /users/me with their password, and its button on /account. */
  selfDelete: boolean
  smtpUrl: string | undefined
  mailFrom: string
  /** The language of pages and mails when a request asks for none of ours, and of mails no request caused (DEFAULT_LOCALE). */
  defaultLocale: string
  publicUrl: string
  firstSuperuser: { email: string; password: string } | undefined
  logLevel: string
  /** Readable logs (pino-pretty): development, on a terminal. JSON lines otherwise. */
  prettyLogs: boolean
  /** Longest a request may take to arrive, headers and body (ms): a slower one is answered 408 and closed. */
  requestTimeoutMs: number
  /** Longest the request line and headers may take to arrive (ms), at most requestTimeoutMs. */
  headersTimeoutMs: number
  /** Largest request body in bytes; a larger one is refused with 413. */
  bodyLimit: number
  /** Longest password accepted, in code points (bounds the hashing work of a request). */
  maxPasswordLength: number
  /** Strict-Transport-Security max-age in seconds; 0 sends no HSTS header. */
  hstsMaxAge: number
  /** Benchmark only: serves a bare JSON route at GET /bench/ceiling (the bench's ceiling). */
  benchCeilingRoute: boolean
  /**
   * On SIGTERM, how long /ready answers 503 while the port still serves everything else, before
   * the listener closes and requests in flight finish (SHUTDOWN_DELAY, seconds; 5 in production, else 0):
   * time for a load balancer to see the 503 and stop sending requests here.
   */
  shutdownDelaySeconds: number
  /** Worker processes (node:cluster) sharing the port; 1 serves from this process. */
  webConcurrency: number
  /** New password hashes (PASSWORD_HASH): argon2id, or bcrypt for an old Python service to read during a migration. */
  passwordHash: PasswordHashConfig
  /** Password hashes computed at once per process; undefined: the process's share of the cores. */
  passwordHashConcurrency: number | undefined
  /** Rate limits and login lock-out (RATE_LIMIT, on by default); undefined when off. */
  rateLimit: RateLimitConfig | undefined
  /** Fastify's trustProxy: whose X-Forwarded-For sets the client address (TRUST_PROXY, off by default). */
  trustProxy: boolean | number | string[]
  /** Social login providers, from OAUTH_<NAME>_CLIENT_ID / _CLIENT_SECRET / _ISSUER (see oauthProviders). */
  oauthProviders: OAuthProviderConfig[]
  /** Link a provider account to the local user with its e-mail (both addresses verified). */
  oauthAssociateByEmail: boolean
  /** New users from a provider are verified when the provider says their e-mail is. */
  oauthIsVerifiedByDefault: boolean
  /** Social login creates users for addresses the provider does not vouch for (OAUTH_ALLOW_UNVERIFIED_EMAIL). */
  oauthAllowUnverifiedEmail: boolean
  /** A user's own new address (EMAIL_CHANGE): written at once (`immediate`, fastapi-users) or once confirmed by mail. */
  emailChange: EmailChangeMode
  /** Seconds an e-mail change link works (EMAIL_CHANGE_TOKEN_LIFETIME). */
  emailChangeTokenLifetime: number
  /**
   * Second factors (TWO_FACTOR, on by default: additive routes; a user without a factor signs in as in
   * fastapi-users): TOTP with recovery codes, `/login/2fa` on every backend, step-up. Undefined when off.
   */
  twoFactor: TwoFactorConfig | undefined
  /** WebAuthn passkeys (PASSKEYS, off by default): relying party and origin from PUBLIC_URL. */
  passkeys: PasskeysConfig | undefined
  /** Where security events go (AUDIT_LOG): the `auth_event` table, log lines, both, or nowhere. */
  auditLog: AuditLogMode
  /** Days events are kept in the table (AUDIT_RETENTION_DAYS); 0 keeps them forever. */
  auditRetentionDays: number
  /** Prometheus metrics at GET /metrics (METRICS, off by default); undefined when off. */
  metrics: MetricsConfig | undefined
}

export const AUDIT_LOG_MODES = ['database', 'log', 'both', 'off'] as const
export type AuditLogMode = (typeof AUDIT_LOG_MODES)[number]

/** AUDIT_LOG: database (default), log, both or off. */
function auditLogMode(raw: string | undefined, problems: string[]): AuditLogMode {
  const mode = raw?.toLowerCase() ?? 'database'
  if ((AUDIT_LOG_MODES as readonly string[]).includes(mode)) return mode as AuditLogMode
  problems.push(`AUDIT_LOG must be one of ${AUDIT_LOG_MODES.join(', ')} (got "${raw}")`)
  return 'database'
}

export interface MetricsConfig {
  /** METRICS_TOKEN: GET /metrics then needs `Authorization: Bearer <token>`; open to whoever reaches it when unset. */
  token: string | undefined
}

/** The shortest METRICS_TOKEN accepted: a bearer token is guessed only if it is short. */
const MIN_METRICS_TOKEN_LENGTH = 16

/**
 * METRICS=true serves GET /metrics; METRICS_TOKEN protects it. In production a service with metrics
 * and no token refuses to start: the figures tell an attacker how logins fail and when lock-outs
 * hit, and a port meant for a private scraper is too easily public.
 */
function metricsConfig(
  enabled: boolean,
  token: string | undefined,
  production: boolean,
  problems: string[],
): MetricsConfig | undefined {
  if (token !== undefined && token.length < MIN_METRICS_TOKEN_LENGTH)
    problems.push(`METRICS_TOKEN must be at least ${MIN_METRICS_TOKEN_LENGTH} characters`)
  if (!enabled) return undefined
  if (production && token === undefined)
    problems.push('METRICS=true needs METRICS_TOKEN in production (the scraper sends it as a bearer token)')
  return { token }
}

export interface TwoFactorConfig {
  /** Encrypts TOTP secrets at rest (TOTP_ENCRYPTION_KEY; default: derived from SECRET). */
  encryptionKey: string | undefined
  /** The issuer authenticator apps show (TOTP_ISSUER). */
  issuer: string
  /** How long a login through the second factor or a step-up counts as recent (STEP_UP_WINDOW, seconds). */
  stepUpWindowSeconds: number
  /** Ask for the second factor after a social login too (TWO_FACTOR_AFTER_OAUTH, default true). */
  afterOAuth: boolean
}

export interface PasskeysConfig {
  /** The relying party id: PUBLIC_URL's host name. */
  rpID: string
  /** PUBLIC_URL's origin. */
  origin: string
  /** The name authenticators show (PASSKEYS_RP_NAME). */
  rpName: string
  /** PASSKEYS_USER_VERIFICATION: required (PIN or biometrics every time) or preferred. */
  userVerification: 'required' | 'preferred'
}

/**
 * PASSKEYS=true: the relying party is PUBLIC_URL's host name, which WebAuthn accepts only as a domain
 * (no IP address) in a secure context (https, or http on localhost).
 */
function passkeysConfig(
  enabled: boolean,
  publicUrl: string | undefined,
  read: (name: string) => string | undefined,
  problems: string[],
): PasskeysConfig | undefined {
  if (!enabled || !publicUrl) return undefined
  const url = new URL(publicUrl)
  const host = url.hostname
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) {
    problems.push(`PASSKEYS needs PUBLIC_URL to name a host, not an IP address (got ${host})`)
    return undefined
  }
  const local = host === 'localhost' || host.endsWith('.localhost')
  if (url.protocol !== 'https:' && !local) {
    problems.push('PASSKEYS needs an https PUBLIC_URL (http only on localhost)')
    return undefined
  }
  const verification = (read('PASSKEYS_USER_VERIFICATION') ?? 'preferred').toLowerCase()
  if (verification !== 'required' && verification !== 'preferred')
    problems.push(`PASSKEYS_USER_VERIFICATION must be required or preferred (got "${verification}")`)
  return {
    rpID: host,
    origin: url.origin,
    rpName: read('PASSKEYS_RP_NAME') ?? 'fastify-users',
    userVerification: verification === 'required' ? 'required' : 'preferred',
  }
}

/**
 * Where Redis is: one server (`REDIS_URL=redis://…` or `rediss://…`), or a primary that Sentinel
 * names (`REDIS_URL=redis+sentinel://[:password@]host:26379,host2:26379/mymaster[/db]`, or
 * REDIS_SENTINELS=host:26379,host2:26379 with REDIS_SENTINEL_NAME, REDIS_PASSWORD, REDIS_DB).
 * REDIS_SENTINEL_PASSWORD, when the sentinels themselves require one. Or a Redis Cluster
 * (`REDIS_CLUSTER_NODES=host:6379,host2:6379` with REDIS_PASSWORD, or
 * `REDIS_URL=redis+cluster://[:password@]host:6379,host2:6379`): some of its nodes, the client
 * discovers the others.
 */
export type RedisConfig =
  | { mode: 'standalone'; url: string }
  | { mode: 'cluster'; nodes: { host: string; port: number }[]; password: string | undefined }
  | {
      mode: 'sentinel'
      sentinels: { host: string; port: number }[]
      name: string
      password: string | undefined
      sentinelPassword: string | undefined
      db: number
    }

/** The scheme and parameters of new password hashes; others are re-hashed to them at the next login. */
export interface PasswordHashConfig {
  algorithm: 'argon2id' | 'bcrypt'
  argon2: Argon2Params
  bcryptRounds: number
}

/**
 * OWASP's argon2id floors, allowed in production: at least 7 MiB, and memory × passes at least
 * their lightest recommendation (7 MiB × 5 passes); bcrypt at least cost 10 (ASVS 2.4.4).
 */
const ARGON2_MIN_MEMORY = 7168
const ARGON2_MIN_WORK = 7168 * 5
const BCRYPT_MIN_ROUNDS_PRODUCTION = 10

function passwordHash(
  read: (name: string) => string | undefined,
  int: (name: string, fallback: number, min: number, max: number) => number,
  production: boolean,
  problems: string[],
): PasswordHashConfig {
  const raw = read('PASSWORD_HASH')?.toLowerCase() ?? 'argon2id'
  const algorithm = raw === 'argon2id' || raw === 'bcrypt' ? raw : 'argon2id'
  if (algorithm !== raw) problems.push(`PASSWORD_HASH must be argon2id or bcrypt (got "${raw}")`)
  const argon2 = {
    memoryCost: int('ARGON2_MEMORY_COST', OWASP_ARGON2ID.memoryCost, 8, 4_194_304),
    timeCost: int('ARGON2_TIME_COST', OWASP_ARGON2ID.timeCost, 1, 100),
    parallelism: int('ARGON2_PARALLELISM', OWASP_ARGON2ID.parallelism, 1, 255),
  }
  const bcryptRounds = int('BCRYPT_ROUNDS', DEFAULT_BCRYPT_ROUNDS, 4, 31)
  if (production && algorithm === 'argon2id') {
    if (argon2.memoryCost < ARGON2_MIN_MEMORY || argon2.memoryCost * argon2.timeCost < ARGON2_MIN_WORK)
      problems.push(
        `ARGON2_MEMORY_COST / ARGON2_TIME_COST are below OWASP's floor in production (at least ${ARGON2_MIN_MEMORY} KiB, and memory × passes at least ${ARGON2_MIN_WORK})`,
      )
  }
  if (production && algorithm === 'bcrypt' && bcryptRounds < BCRYPT_MIN_ROUNDS_PRODUCTION)
    problems.push(`BCRYPT_ROUNDS must be at least ${BCRYPT_MIN_ROUNDS_PRODUCTION} in production`)
  return { algorithm, argon2, bcryptRounds }
}

export interface RateLimitConfig {
  /** Requests per client address (IPv6 by /64) to each limited route, per window. */
  ipRequests: number
  ipWindowSeconds: number
  /** Requests naming one e-mail (register, forgot-password, request-verify-token), per window. */
  accountRequests: number
  accountWindowSeconds: number
  /** Failed logins per account answered at once, then 1 s, 2 s, 4 s… up to the cap between attempts. */
  loginFreeAttempts: number
  loginLockoutMaxSeconds: number
  /** Failed logins per client address, any account, per address window (short: it slows an address down). */
  loginIpFailures: number
  loginIpFailureWindowSeconds: number
  /** How long an account's failed logins are remembered (from the first). */
  loginFailureWindowSeconds: number
  /** The prefix of the counters' keys, in Redis (REDIS_URL) or the rate_limit table: instances that share it share their counters. */
  redisKeyPrefix: string
}

/** TRUST_PROXY: true/false, a number of proxy hops, or a comma-separated list of proxy addresses or CIDR ranges. */
function trustProxy(raw: string | undefined, problems: string[]): Config['trustProxy'] {
  if (raw === undefined) return false
  const lower = raw.toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true
  if (['0', 'false', 'no', 'off'].includes(lower)) return false
  if (/^\d+$/.test(raw)) return Number(raw)
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
  const valid = (entry: string) => {
    const [address = '', bits, extra] = entry.split('/')
    const version = isIP(address)
    if (extra !== undefined || version === 0) return false
    if (bits === undefined) return true
    const max = version === 4 ? 32 : 128
    return /^\d+$/.test(bits) && Number(bits) <= max
  }
  const invalid = entries.filter((e) => !valid(e))
  if (invalid.length > 0 || entries.length === 0) {
    problems.push(`TRUST_PROXY must be true, false, a hop count or proxy addresses/CIDRs (got "${raw}")`)
    return false
  }
  return entries
}

export interface OAuthProviderConfig {
  /** Lowercase; the routes are /auth/<name> and /auth/associate/<name>. */
  name: string
  kind: 'oidc' | 'github'
  clientId: string
  clientSecret: string
  /** OpenID Connect: the issuer (Google's for GOOGLE). */
  issuer?: string
  /** GitHub: its web and API base URLs (defaults github.com, api.github.com). */
  baseUrl?: string
  apiUrl?: string
  scopes?: string[]
  /** Plain http, allowed only for a provider on loopback (development, tests). */
  allowInsecureRequests: boolean
}

/** `host:port,host:port` (port default 26379, Sentinel's, or 6379 for cluster nodes); bracketed IPv6 hosts allowed. */
function sentinelAddresses(
  variable: string,
  raw: string,
  problems: string[],
  what: { noun: string; port: number } = { noun: 'sentinels', port: 26379 },
): { host: string; port: number }[] {
  const addresses = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry)
      const port = Number(match?.[2] ?? what.port)
      if (!match || port < 1 || port > 65535) return undefined
      return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port }
    })
  if (addresses.length === 0 || addresses.some((a) => a === undefined)) {
    problems.push(`${variable} must list ${what.noun} as host:port,host:port (got "${raw}")`)
    return []
  }
  return addresses as { host: string; port: number }[]
}

const CLUSTER_NODES = { noun: 'cluster nodes', port: 6379 }

/**
 * REDIS_URL (one server, redis+sentinel:// or redis+cluster://), REDIS_SENTINELS with
 * REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES.
 */
function redisConfig(read: (name: string) => string | undefined, problems: string[]): RedisConfig | undefined {
  const url = read('REDIS_URL')
  const sentinels = read('REDIS_SENTINELS')
  const clusterNodes = read('REDIS_CLUSTER_NODES')
  const sentinelPassword = read('REDIS_SENTINEL_PASSWORD')
  if ([url, sentinels, clusterNodes].filter((v) => v !== undefined).length > 1) {
    problems.push('REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES exclude each other: name Redis once')
    return undefined
  }
  if (clusterNodes !== undefined) {
    return {
      mode: 'cluster',
      nodes: sentinelAddresses('REDIS_CLUSTER_NODES', clusterNodes, problems, CLUSTER_NODES),
      password: read('REDIS_PASSWORD'),
    }
  }
  if (sentinels !== undefined) {
    const name = read('REDIS_SENTINEL_NAME')
    if (name === undefined)
      problems.push("REDIS_SENTINEL_NAME (the monitored primary's name) is required with REDIS_SENTINELS")
    const db = Number(read('REDIS_DB') ?? 0)
    if (!Number.isInteger(db) || db < 0 || db > 15) problems.push('REDIS_DB must be a whole number from 0 to 15')
    return {
      mode: 'sentinel',
      sentinels: sentinelAddresses('REDIS_SENTINELS', sentinels, problems),
      name: name ?? '',
      password: read('REDIS_PASSWORD'),
      sentinelPassword,
      db,
    }
  }
  if (url === undefined) return undefined
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase()
  if (scheme === 'redis' || scheme === 'rediss') return { mode: 'standalone', url }
  if (scheme === 'redis+cluster') {
    const cluster = /^redis\+cluster:\/\/(?:([^@/]*)@)?([^/]+)\/?$/i.exec(url)
    if (!cluster) {
      problems.push('REDIS_URL must be redis+cluster://[:password@]host:port,host:port (no database: Cluster has one)')
      return undefined
    }
    const [, auth, hosts = ''] = cluster
    const password = auth === undefined ? undefined : decodeURIComponent(auth.slice(auth.indexOf(':') + 1))
    return {
      mode: 'cluster',
      nodes: sentinelAddresses('REDIS_URL', hosts, problems, CLUSTER_NODES),
      password: password || read('REDIS_PASSWORD'),
    }
  }
  const sentinel = /^redis\+sentinel:\/\/(?:([^@/]*)@)?([^/]+)\/([^/]+)(?:\/(\d+))?\/?$/i.exec(url)
  if (scheme !== 'redis+sentinel' || !sentinel) {
    problems.push(
      'REDIS_URL must be redis://host:port[/db], rediss://…, redis+sentinel://host:port,host:port/name[/db] or redis+cluster://host:port,host:port',
    )
    return undefined
  }
  const [, auth, hosts = '', name = '', db = '0'] = sentinel
  const password = auth === undefined ? undefined : decodeURIComponent(auth.slice(auth.indexOf(':') + 1))
  if (Number(db) > 15) problems.push('REDIS_URL: the database number must be from 0 to 15')
  return {
    mode: 'sentinel',
    sentinels: sentinelAddresses('REDIS_URL', hosts, problems),
    name: decodeURIComponent(name),
    password: password || undefined,
    sentinelPassword,
    db: Number(db),
  }
}

const RESERVED_OAUTH_NAMES = new Set(['associate', 'jwt', 'cookie', 'redis', 'register', 'verify'])
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * One provider per OAUTH_<NAME>_CLIENT_ID: GITHUB and GOOGLE are presets, any other name is
 * OpenID Connect and needs OAUTH_<NAME>_ISSUER. Optional: _CLIENT_SECRET's sibling _SCOPES
 * (space-separated), and for GitHub _BASE_URL and _API_URL.
 */
function oauthProviders(
  env: Env,
  read: (name: string) => string | undefined,
  problems: string[],
): OAuthProviderConfig[] {
  const providers: OAuthProviderConfig[] = []
  const endpoint = (variable: string, value: string): boolean => {
    try {
      const url = new URL(value)
      if (url.protocol === 'https:') return false
      if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return true
    } catch {}
    problems.push(`${variable} must be an https URL (http only on loopback)`)
    return false
  }
  for (const key of Object.keys(env).sort()) {
    const match = /^OAUTH_([A-Z0-9_]+)_CLIENT_ID$/.exec(key)
    if (!match || read(key) === undefined) continue
    const prefix = `OAUTH_${match[1]}`
    const name = (match[1] as string).toLowerCase()
    if (RESERVED_OAUTH_NAMES.has(name)) {
      problems.push(`${key}: "${name}" is a reserved route name`)
      continue
    }
    const clientSecret = read(`${prefix}_CLIENT_SECRET`)
    if (clientSecret === undefined) problems.push(`${prefix}_CLIENT_SECRET is required with ${key}`)
    const scopes = read(`${prefix}_SCOPES`)
      ?.split(/[\s,]+/)
      .filter(Boolean)
    const common = { name, clientId: read(key) as string, clientSecret: clientSecret ?? '', scopes }
    if (name === 'github') {
      const baseUrl = read(`${prefix}_BASE_URL`) ?? 'https://github.com'
      const apiUrl = read(`${prefix}_API_URL`) ?? 'https://api.github.com'
      const insecure = [endpoint(`${prefix}_BASE_URL`, baseUrl), endpoint(`${prefix}_API_URL`, apiUrl)].some(Boolean)
      providers.push({ ...common, kind: 'github', baseUrl, apiUrl, allowInsecureRequests: insecure })
      continue
    }
    const issuer = read(`${prefix}_ISSUER`) ?? (name === 'google' ? 'https://accounts.google.com' : undefined)
    if (issuer === undefined) {
      problems.push(`${prefix}_ISSUER is required with ${key} (the OpenID Connect issuer URL)`)
      continue
    }
    providers.push({ ...common, kind: 'oidc', issuer, allowInsecureRequests: endpoint(`${prefix}_ISSUER`, issuer) })
  }
  return providers
}

/** Tables of ours an app's table cannot be named after. */
const OWN_TABLES = [
  'refresh_token',
  'email_identity',
  'oauth_state',
  'rate_limit',
  'session_info',
  'auth_event',
  'kysely_migration',
  'kysely_migration_lock',
]
const TABLE_VARIABLES = {
  user: 'USER_TABLE',
  accessToken: 'ACCESS_TOKEN_TABLE',
  oauthAccount: 'OAUTH_ACCOUNT_TABLE',
} as const

/** USER_TABLE, ACCESS_TOKEN_TABLE, OAUTH_ACCOUNT_TABLE: SQL identifiers, distinct, none of them one of ours. */
export function tableNames(read: (name: string) => string | undefined, problems: string[]): TableNames {
  const tables = { ...DEFAULT_TABLE_NAMES }
  for (const [key, variable] of Object.entries(TABLE_VARIABLES) as [keyof TableNames, string][]) {
    const raw = read(variable)
    if (raw === undefined) continue
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,47}$/.test(raw)) {
      problems.push(
        `${variable} must be a table name: letters, digits and _, not starting with a digit, at most 48 (got "${raw}")`,
      )
    } else if (OWN_TABLES.includes(raw.toLowerCase())) {
      problems.push(`${variable}: "${raw}" is one of fastify-users' own tables (${OWN_TABLES.slice(0, 4).join(', ')})`)
    } else tables[key] = raw
  }
  const names = Object.values(tables).map((t) => t.toLowerCase())
  if (new Set(names).size !== names.length)
    problems.push('USER_TABLE, ACCESS_TOKEN_TABLE and OAUTH_ACCOUNT_TABLE must name three different tables')
  return tables
}

/** USER_ID_TYPE: uuid (default) or integer. */
function emailChangeMode(raw: string | undefined, problems: string[]): EmailChangeMode {
  const mode = raw?.toLowerCase() ?? 'immediate'
  if ((EMAIL_CHANGE_MODES as readonly string[]).includes(mode)) return mode as EmailChangeMode
  problems.push(`EMAIL_CHANGE must be one of ${EMAIL_CHANGE_MODES.join(', ')} (got "${raw}")`)
  return 'immediate'
}

export function userIdType(raw: string | undefined, problems: string[]): UserIdType {
  if (raw === undefined) return 'uuid'
  if (raw === 'uuid' || raw === 'integer') return raw
  problems.push(`USER_ID_TYPE must be uuid or integer (got "${raw}")`)
  return 'uuid'
}

/** LOGIN_URI_PREFIX: a path such as /auth/jwt, starting with / and without a trailing one. */
function loginUriPrefix(raw: string | undefined, problems: string[]): string {
  if (raw === undefined) return '/auth/jwt'
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(raw)) {
    problems.push(
      `LOGIN_URI_PREFIX must be a path like /auth/jwt: starting with /, no trailing /, no empty segment (got "${raw}")`,
    )
    return '/auth/jwt'
  }
  return raw
}

export const DEVELOPMENT_SECRET = 'fastify-users-development-secret-change-me'
const MIN_SECRET_LENGTH = 32
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
}

type Env = Record<string, string | undefined>

const HMAC_ALGORITHMS: readonly string[] = ['HS256', 'HS384', 'HS512']
/** The curve each ECDSA algorithm signs on (node's names). */
const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }
const MIN_RSA_BITS = 2048

function curveOf(key: KeyObject): string | undefined {
  return key.asymmetricKeyDetails?.namedCurve
}

/** The algorithm a key signs with when JWT_ALGORITHM does not say: RS256, ES256/384/512 by curve, EdDSA. */
function defaultAlgorithm(key: KeyObject): AsymmetricAlgorithm | undefined {
  const type = key.asymmetricKeyType
  if (type === 'rsa' || type === 'rsa-pss') return type === 'rsa' ? 'RS256' : 'PS256'
  if (type === 'ed25519') return 'EdDSA'
  if (type === 'ec')
    return Object.entries(EC_CURVES).find(([, curve]) => curve === curveOf(key))?.[0] as AsymmetricAlgorithm
  return undefined
}

/** Why `key` cannot sign or verify `algorithm`, or undefined when it can. */
function keyMismatch(key: KeyObject, algorithm: AsymmetricAlgorithm): string | undefined {
  const type = key.asymmetricKeyType
  if (/^(RS|PS)/.test(algorithm)) {
    if (type !== 'rsa' && !(type === 'rsa-pss' && algorithm.startsWith('PS'))) return `${algorithm} needs an RSA key`
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS)
      return `RSA keys must have at least ${MIN_RSA_BITS} bits`
    return undefined
  }
  if (algorithm === 'EdDSA') return type === 'ed25519' ? undefined : 'EdDSA needs an Ed25519 key'
  const curve = EC_CURVES[algorithm]
  return type === 'ec' && curveOf(key) === curve ? undefined : `${algorithm} needs an EC key on ${curve}`
}

/**
 * PEM files for asymmetric JWTs. The algorithm is JWT_ALGORITHM's (checked against the keys), or
 * follows from the signing key's type: RSA → RS256, EC → ES256/384/512 by its curve, Ed25519 → EdDSA.
 */
function jwtKeys(
  privateFile: string | undefined,
  publicFiles: string | undefined,
  requested: string | undefined,
  problems: string[],
): Config['jwtKeys'] {
  if (!privateFile) {
    if (publicFiles) problems.push('JWT_PUBLIC_KEY_FILES needs JWT_PRIVATE_KEY_FILE')
    return undefined
  }
  try {
    const privateKey = readFileSync(privateFile, 'utf8')
    const signing = createPrivateKey(privateKey)
    if (requested !== undefined && !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(requested)) {
      problems.push(
        `JWT_ALGORITHM must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')} with JWT_PRIVATE_KEY_FILE (got "${requested}")`,
      )
      return undefined
    }
    const algorithm = (requested as AsymmetricAlgorithm | undefined) ?? defaultAlgorithm(signing)
    if (!algorithm) {
      problems.push(
        `JWT_PRIVATE_KEY_FILE must hold an RSA, EC (P-256, P-384, P-521) or Ed25519 private key (got ${signing.asymmetricKeyType || 'none'})`,
      )
      return undefined
    }
    const mismatch = keyMismatch(signing, algorithm)
    if (mismatch) {
      problems.push(`JWT_PRIVATE_KEY_FILE: ${mismatch}`)
      return undefined
    }
    const publicKeys = (publicFiles ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => readFileSync(f, 'utf8'))
    for (const pem of publicKeys) {
      if (keyMismatch(createPublicKey(pem), algorithm)) {
        problems.push(`JWT_PUBLIC_KEY_FILES: every key must be of the signing key's type (${algorithm})`)
        return undefined
      }
    }
    return { algorithm, privateKey, publicKeys }
  } catch (error) {
    problems.push(`JWT_PRIVATE_KEY_FILE / JWT_PUBLIC_KEY_FILES: ${(error as Error).message}`)
    return undefined
  }
}

/** JWT_ALGORITHM without a key file: the HMAC algorithm of SECRET-signed tokens (HS256 as fastapi-users). */
function jwtHmacAlgorithm(requested: string | undefined, hasKeys: boolean, problems: string[]): HmacAlgorithm {
  if (requested === undefined || hasKeys) return 'HS256'
  if (HMAC_ALGORITHMS.includes(requested)) return requested as HmacAlgorithm
  problems.push(
    (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(requested)
      ? `JWT_ALGORITHM=${requested} needs JWT_PRIVATE_KEY_FILE`
      : `JWT_ALGORITHM must be one of ${[...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS].join(', ')} (got "${requested}")`,
  )
  return 'HS256'
}

/**
 * Reads the environment; throws one ConfigError listing every bad variable. `terminal` says
 * whether stdout is a terminal (main.ts knows): development logs are then readable.
 */
export function loadConfig(env: Env, terminal: { stdoutIsTTY?: boolean } = {}): Config {
  const problems: string[] = []
  const read = (name: string) => {
    const value = env[name]?.trim()
    return value === '' ? undefined : value
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name)
    if (raw === undefined) return fallback
    const value = Number(raw)
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`)
      return fallback
    }
    return value
  }
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = read(name)?.toLowerCase()
    if (raw === undefined) return fallback
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true
    if (['0', 'false', 'no', 'off'].includes(raw)) return false
    problems.push(`${name} must be true or false (got "${raw}")`)
    return fallback
  }
  const url = (name: string, fallback: string | undefined, schemes: string[]): string | undefined => {
    const raw = read(name) ?? fallback
    if (raw === undefined) return undefined
    const scheme = raw.slice(0, raw.indexOf(':')).toLowerCase()
    if (!schemes.includes(scheme)) problems.push(`${name} must start with ${schemes.map((s) => `${s}:`).join(', ')}`)
    return raw
  }

  const origins = (name: string): string[] => {
    const values = (read(name) ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean)
    return values.flatMap((value) => {
      try {
        const { origin, protocol } = new URL(value)
        if (origin !== 'null' && (protocol === 'https:' || protocol === 'http:')) return [origin]
      } catch {}
      problems.push(`${name}: "${value}" is not an origin like https://app.example.com`)
      return []
    })
  }

  const production = read('NODE_ENV') === 'production'
  const host = read('HOST') ?? '127.0.0.1'
  const port = int('PORT', 8000, 0, 65535)

  const secret = read('SECRET') ?? (production ? undefined : DEVELOPMENT_SECRET)
  if (secret === undefined) problems.push('SECRET is required when NODE_ENV=production')
  else if (production && secret === DEVELOPMENT_SECRET)
    problems.push('SECRET must not be the development default in production')
  else if (production && secret.length < MIN_SECRET_LENGTH) {
    problems.push(`SECRET must be at least ${MIN_SECRET_LENGTH} characters in production`)
  }

  const email = read('FIRST_SUPERUSER_EMAIL')
  const password = read('FIRST_SUPERUSER_PASSWORD')
  if ((email === undefined) !== (password === undefined)) {
    problems.push('FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD go together')
  }

  const defaultLocale = (read('DEFAULT_LOCALE') ?? 'en').toLowerCase()
  if (!(BUILT_IN_LOCALES as readonly string[]).includes(defaultLocale))
    problems.push(`DEFAULT_LOCALE must be one of ${BUILT_IN_LOCALES.join(', ')}`)

  const logLevel = read('LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`)

  const publicUrl = url('PUBLIC_URL', `http://${host.includes(':') ? `[${host}]` : host}:${port}`, ['http', 'https'])

  const config: Config = {
    production,
    host,
    port,
    databaseUrl:
      url('DATABASE_URL', 'sqlite:./data/fastify-users.sqlite', [
        'sqlite',
        'postgres',
        'postgresql',
        'mysql',
        'mariadb',
      ]) ?? '',
    databasePoolSize: int('DATABASE_POOL_SIZE', 10, 1, 1000),
    databaseTimeoutMs: int('DATABASE_TIMEOUT_MS', 5000, 100, 600_000),
    userIdType: userIdType(read('USER_ID_TYPE'), problems),
    tables: tableNames(read, problems),
    loginUriPrefix: loginUriPrefix(read('LOGIN_URI_PREFIX'), problems),
    secret: secret ?? '',
    accessTokenLifetime: int('ACCESS_TOKEN_LIFETIME', 3600, 1, 31_536_000),
    resetPasswordTokenLifetime: int('RESET_PASSWORD_TOKEN_LIFETIME', 3600, 1, 31_536_000),
    verificationTokenLifetime: int('VERIFICATION_TOKEN_LIFETIME', 3600, 1, 31_536_000),
    requireVerification: bool('REQUIRE_VERIFICATION', false),
    refreshTokenLifetime: int('REFRESH_TOKEN_LIFETIME', 30 * 24 * 3600, 60, 31_536_000),
    refreshReuseInterval: int('REFRESH_REUSE_INTERVAL', 10, 0, 300),
    loginWithUsername: bool('LOGIN_WITH_USERNAME', false),
    maxSessionsPerUser: int('MAX_SESSIONS_PER_USER', 0, 0, 10_000),
    redis: redisConfig(read, problems),
    redisTimeoutMs: int('REDIS_TIMEOUT_MS', 2000, 100, 600_000),
    cookieSecure: bool('COOKIE_SECURE', true),
    csrfTrustedOrigins: origins('CSRF_TRUSTED_ORIGINS'),
    jwtKeys: jwtKeys(read('JWT_PRIVATE_KEY_FILE'), read('JWT_PUBLIC_KEY_FILES'), read('JWT_ALGORITHM'), problems),
    jwtHmacAlgorithm: jwtHmacAlgorithm(read('JWT_ALGORITHM'), read('JWT_PRIVATE_KEY_FILE') !== undefined, problems),
    pages: bool('PAGES', true),
    selfDelete: bool('SELF_DELETE', false),
    auditLog: auditLogMode(read('AUDIT_LOG'), problems),
    auditRetentionDays: int('AUDIT_RETENTION_DAYS', 90, 0, 36_500),
    smtpUrl: url('SMTP_URL', undefined, ['smtp', 'smtps']),
    mailFrom: read('MAIL_FROM') ?? 'fastify-users <no-reply@example.com>',
    defaultLocale,
    publicUrl: (publicUrl ?? '').replace(/\/+$/, ''),
    firstSuperuser: email && password ? { email, password } : undefined,
    logLevel,
    prettyLogs: !production && terminal.stdoutIsTTY === true,
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    headersTimeoutMs: int('HEADERS_TIMEOUT_MS', 10_000, 100, 3_600_000),
    bodyLimit: int('BODY_LIMIT', 1024 * 1024, 1024, 100 * 1024 * 1024),
    maxPasswordLength: int('MAX_PASSWORD_LENGTH', MAX_PASSWORD_LENGTH, 8, 65_536),
    hstsMaxAge: int('HSTS_MAX_AGE', production ? 31_536_000 : 0, 0, 63_072_000),
    benchCeilingRoute: bool('BENCH_CEILING_ROUTE', false),
    shutdownDelaySeconds: int('SHUTDOWN_DELAY', production ? 5 : 0, 0, 3600),
    webConcurrency: int('WEB_CONCURRENCY', 1, 1, 256),
    passwordHash: passwordHash(read, int, production, problems),
    passwordHashConcurrency:
      read('PASSWORD_HASH_CONCURRENCY') === undefined ? undefined : int('PASSWORD_HASH_CONCURRENCY', 1, 1, 256),
    rateLimit: bool('RATE_LIMIT', true)
      ? {
          ipRequests: int('RATE_LIMIT_IP_REQUESTS', 30, 1, 1_000_000),
          ipWindowSeconds: int('RATE_LIMIT_IP_WINDOW', 60, 1, 86_400),
          accountRequests: int('RATE_LIMIT_ACCOUNT_REQUESTS', 5, 1, 1_000_000),
          accountWindowSeconds: int('RATE_LIMIT_ACCOUNT_WINDOW', 3600, 1, 86_400),
          loginFreeAttempts: int('LOGIN_FREE_ATTEMPTS', 5, 1, 1000),
          loginLockoutMaxSeconds: int('LOGIN_LOCKOUT_MAX', 900, 1, 86_400),
          loginIpFailures: int('LOGIN_IP_FAILURES', 100, 1, 1_000_000),
          loginIpFailureWindowSeconds: int('LOGIN_IP_FAILURE_WINDOW', 900, 1, 3600),
          loginFailureWindowSeconds: int('LOGIN_FAILURE_WINDOW', 86_400, 1, 604_800),
          redisKeyPrefix: read('RATE_LIMIT_REDIS_PREFIX') ?? 'fastify-users:rate-limit',
        }
      : undefined,
    trustProxy: trustProxy(read('TRUST_PROXY'), problems),
    oauthProviders: oauthProviders(env, read, problems),
    oauthAssociateByEmail: bool('OAUTH_ASSOCIATE_BY_EMAIL', false),
    oauthIsVerifiedByDefault: bool('OAUTH_IS_VERIFIED_BY_DEFAULT', false),
    oauthAllowUnverifiedEmail: bool('OAUTH_ALLOW_UNVERIFIED_EMAIL', false),
    emailChange: emailChangeMode(read('EMAIL_CHANGE'), problems),
    emailChangeTokenLifetime: int('EMAIL_CHANGE_TOKEN_LIFETIME', 3600, 1, 31_536_000),
    twoFactor: bool('TWO_FACTOR', true)
      ? {
          encryptionKey: totpEncryptionKey(read('TOTP_ENCRYPTION_KEY'), problems),
          issuer: read('TOTP_ISSUER') ?? 'fastify-users',
          stepUpWindowSeconds: int('STEP_UP_WINDOW', 300, 30, 86_400),
          afterOAuth: bool('TWO_FACTOR_AFTER_OAUTH', true),
        }
      : undefined,
    passkeys: passkeysConfig(bool('PASSKEYS', false), publicUrl, read, problems),
    metrics: metricsConfig(bool('METRICS', false), read('METRICS_TOKEN'), production, problems),
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs)
    problems.push('HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS')
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/** TOTP_ENCRYPTION_KEY: at least 32 characters when set (it is an AES-256 key's source). */
function totpEncryptionKey(raw: string | undefined, problems: string[]): string | undefined {
  if (raw !== undefined && raw.length < 32) problems.push('TOTP_ENCRYPTION_KEY must be at least 32 characters')
  return raw
}
