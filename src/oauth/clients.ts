import type * as Oidc from 'openid-client'
import { OAuthProviderError, ServiceUnavailable } from '../core/errors.js'
import type { OAuthIdentity } from '../core/oauth.js'
import { requirePeer } from '../core/peer.js'

/** What the router asks the provider for; every value is the router's own, never the caller's. */
export interface AuthorizationRequest {
  redirectUri: string
  state: string
  /** PKCE S256 challenge of the code verifier. */
  codeChallenge: string
  nonce: string
  /** Extra scopes the caller asked for (added to the client's defaults). */
  scopes?: string[]
}

export interface CallbackRequest {
  /** The callback URL as the browser requested it: `redirectUri` plus the provider's query. */
  callbackUrl: URL
  redirectUri: string
  state: string
  codeVerifier: string
  nonce: string
}

/**
 * An OAuth 2.0 / OpenID Connect provider, as httpx-oauth's clients are to fastapi-users:
 * builds the authorization URL, then exchanges the code and says who the account is.
 */
export interface OAuthClient {
  /** The provider's name in routes (/auth/<name>) and in `oauth_account.oauth_name`. */
  readonly name: string
  authorizationUrl(request: AuthorizationRequest): Promise<string>
  /** Throws OAuthProviderError for a refused or invalid answer, ServiceUnavailable when unreachable. */
  callback(request: CallbackRequest): Promise<OAuthIdentity>
}

interface CommonOptions {
  clientId: string
  clientSecret: string
  /** Default scopes; the `scopes` query adds to them. */
  scopes?: string[]
  /**
   * Allow plain-http endpoints. Only for a provider on loopback (development, tests):
   * never in production.
   */
  allowInsecureRequests?: boolean
  /** Timeout of each request to the provider, in milliseconds. Default 10 s. */
  timeoutMs?: number
}

export interface OidcClientOptions extends CommonOptions {
  /** The route and account name, e.g. "keycloak". */
  name: string
  /** The issuer: its discovery document is `<issuer>/.well-known/openid-configuration`. */
  issuer: string
}

const DEFAULT_TIMEOUT_MS = 10_000

function checkName(name: string): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,99}$/.test(name)) {
    throw new TypeError(`OAuth client name "${name}" must be lowercase letters, digits, "-" or "_"`)
  }
  return name
}

function scopeList(defaults: string[], extra: string[] = [], required: string[] = []): string {
  return [...new Set([...required, ...defaults, ...extra])].join(' ')
}

function expiresAt(expiresIn: number | undefined): number | null {
  return typeof expiresIn === 'number' ? Math.floor(Date.now() / 1000) + expiresIn : null
}

const isTrue = (value: unknown) => value === true || value === 'true'

/** Protocol failures become 400 OAUTH_PROVIDER_ERROR; our own errors pass through. */
function providerError(error: unknown): never {
  if (error instanceof OAuthProviderError || error instanceof ServiceUnavailable) throw error
  throw new OAuthProviderError(error instanceof Error ? error.message : String(error), { cause: error })
}

/**
 * Any OpenID Connect provider by its issuer (Google, Microsoft, Keycloak, Auth0, Okta…), through
 * openid-client: discovery (the issuer is checked), authorization code + PKCE S256, nonce and
 * ID token validation, and UserInfo when the ID token carries no e-mail.
 */
export function oidcClient(options: OidcClientOptions): OAuthClient {
  const name = checkName(options.name)
  const timeout = Math.ceil((options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)
  const defaults = options.scopes ?? ['openid', 'email', 'profile']
  requirePeer('openid-client', 'oidcClient')
  let oidc: typeof Oidc
  let configuration: Promise<Oidc.Configuration> | undefined

  const configure = () => {
    configuration ??= openidClient()
      .then((module) => {
        oidc = module
        return oidc.discovery(
          new URL(options.issuer),
          options.clientId,
          options.clientSecret,
          oidc.ClientSecretPost(),
          {
            execute: options.allowInsecureRequests ? [oidc.allowInsecureRequests] : [],
            timeout,
          },
        )
      })
      .then((config) => {
        config.timeout = timeout
        return config
      })
      .catch((error) => {
        configuration = undefined // try again on the next request
        throw new ServiceUnavailable(`OpenID provider "${name}" discovery failed`, { cause: error })
      })
    return configuration
  }

  return {
    name,
    async authorizationUrl(request) {
      const config = await configure()
      return oidc
        .buildAuthorizationUrl(config, {
          response_type: 'code',
          redirect_uri: request.redirectUri,
          scope: scopeList(defaults, request.scopes, ['openid']),
          state: request.state,
          nonce: request.nonce,
          code_challenge: request.codeChallenge,
          code_challenge_method: 'S256',
        })
        .toString()
    },
    async callback(request) {
      const config = await configure()
      try {
        const tokens = await oidc.authorizationCodeGrant(
          config,
          request.callbackUrl,
          {
            pkceCodeVerifier: request.codeVerifier,
            expectedState: request.state,
            expectedNonce: request.nonce,
            idTokenExpected: true,
          },
          { redirect_uri: request.redirectUri },
        )
        const claims = tokens.claims()
        if (!claims?.sub) throw new OAuthProviderError('the ID token has no subject')
        let email = claims.email
        let verified = claims.email_verified
        if (typeof email !== 'string') {
          const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)
          email = info.email
          verified = info.email_verified
        }
        return {
          accountId: claims.sub,
          accountEmail: typeof email === 'string' ? email : null,
          emailVerified: isTrue(verified),
          accessToken: tokens.access_token,
          expiresAt: expiresAt(tokens.expiresIn()),
          refreshToken: tokens.refresh_token ?? null,
        }
      } catch (error) {
        return providerError(error)
      }
    },
  }
}

export interface GoogleClientOptions extends CommonOptions {
  /** Default "google". */
  name?: string
}

/** Google: OpenID Connect with Google's issuer. */
export function googleClient(options: GoogleClientOptions): OAuthClient {
  return oidcClient({ ...options, name: options.name ?? 'google', issuer: 'https://accounts.google.com' })
}

export interface GitHubClientOptions extends CommonOptions {
  /** Default "github". */
  name?: string
  /** Where /login/oauth/authorize and /login/oauth/access_token live. Default https://github.com. */
  baseUrl?: string
  /** The REST API (/user, /user/emails). Default https://api.github.com. */
  apiUrl?: string
}

interface GitHubEmail {
  email?: unknown
  primary?: unknown
  verified?: unknown
}

/**
 * GitHub: OAuth 2.0 without OpenID Connect (authorization code + PKCE S256 through
 * openid-client), then the account from its API: the numeric id as the account id, and the
 * primary e-mail with its `verified` flag from /user/emails.
 */
export function githubClient(options: GitHubClientOptions): OAuthClient {
  const name = checkName(options.name ?? 'github')
  const baseUrl = (options.baseUrl ?? 'https://github.com').replace(/\/+$/, '')
  const apiUrl = (options.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '')
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const defaults = options.scopes ?? ['user:email']
  requirePeer('openid-client', 'githubClient')
  let oidc: typeof Oidc
  let configuration: Promise<Oidc.Configuration> | undefined
  const configure = () => {
    configuration ??= openidClient().then((module) => {
      oidc = module
      const config = new oidc.Configuration(
        {
          issuer: baseUrl,
          authorization_endpoint: `${baseUrl}/login/oauth/authorize`,
          token_endpoint: `${baseUrl}/login/oauth/access_token`,
        },
        options.clientId,
        options.clientSecret,
        oidc.ClientSecretPost(),
      )
      config.timeout = Math.ceil(timeoutMs / 1000)
      if (options.allowInsecureRequests) oidc.allowInsecureRequests(config)
      return config
    })
    return configuration
  }

  const api = async (path: string, token: string): Promise<{ status: number; body: unknown }> => {
    let response: Response
    try {
      response = await fetch(`${apiUrl}${path}`, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/vnd.github+json',
          'user-agent': 'fastify-users',
          'x-github-api-version': '2022-11-28',
        },
        redirect: 'error', // never follow a redirect, wherever it points
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (error) {
      throw new ServiceUnavailable(`GitHub API unreachable: ${path}`, { cause: error })
    }
    return { status: response.status, body: response.ok ? await response.json().catch(() => null) : null }
  }

  return {
    name,
    async authorizationUrl(request) {
      const config = await configure()
      return oidc
        .buildAuthorizationUrl(config, {
          response_type: 'code',
          redirect_uri: request.redirectUri,
          scope: scopeList(defaults, request.scopes),
          state: request.state,
          code_challenge: request.codeChallenge,
          code_challenge_method: 'S256',
        })
        .toString()
    },
    async callback(request) {
      const config = await configure()
      let tokens: Awaited<ReturnType<typeof Oidc.authorizationCodeGrant>>
      try {
        tokens = await oidc.authorizationCodeGrant(
          config,
          request.callbackUrl,
          { pkceCodeVerifier: request.codeVerifier, expectedState: request.state },
          { redirect_uri: request.redirectUri },
        )
      } catch (error) {
        return providerError(error)
      }
      const profile = await api('/user', tokens.access_token)
      const id = (profile.body as { id?: unknown } | null)?.id
      if (profile.status !== 200 || (typeof id !== 'number' && typeof id !== 'string')) {
        throw new OAuthProviderError(`GitHub /user answered ${profile.status}`)
      }
      let email: string | null = null
      let verified = false
      const emails = await api('/user/emails', tokens.access_token)
      if (emails.status === 200 && Array.isArray(emails.body)) {
        const list = emails.body as GitHubEmail[]
        const primary = list.find((e) => e.primary === true) ?? list.find((e) => e.verified === true) ?? list[0]
        if (primary && typeof primary.email === 'string') {
          email = primary.email
          verified = primary.verified === true
        }
      }
      if (email === null) {
        const public_ = (profile.body as { email?: unknown }).email
        if (typeof public_ === 'string') email = public_ // a public address GitHub does not vouch for
      }
      return {
        accountId: String(id),
        accountEmail: email,
        emailVerified: verified,
        accessToken: tokens.access_token,
        expiresAt: expiresAt(tokens.expiresIn()),
        refreshToken: tokens.refresh_token ?? null,
      }
    },
  }
}

/** openid-client (an ES module, an optional peer dependency), imported when social login is first used. */
function openidClient(): Promise<typeof Oidc> {
  return import('openid-client')
}
