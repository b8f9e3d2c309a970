/**
 * Social-login test support: a real OpenID provider (oidc-provider) on loopback, a fake GitHub,
 * a browser with a cookie jar that drives the authorization-code flow over HTTP, and the
 * reference service listening on loopback with a provider configured.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseSetCookie } from 'cookie'
import Provider from 'oidc-provider'
import { startTestApp, type TestApp } from './app.js'
import type { DatabaseKind } from './databases.js'

import { freePort } from './ports.js'

export { freePort }

export interface TestAccount {
  email?: string
  email_verified?: boolean
}

export const OIDC_CLIENT = { id: 'fastify-users-test', secret: 'oidc-client-secret-0123456789abcdef' }

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export interface OidcProvider {
  issuer: string
  accounts: Map<string, TestAccount>
  /** Requests to the token endpoint (code exchanges) so far. */
  tokenRequests: number
  close(): Promise<void>
}

/**
 * oidc-provider with its development login and consent pages: any login name is accepted and
 * becomes the subject; its claims come from `accounts`.
 */
export async function startOidcProvider(redirectUris: string[]): Promise<OidcProvider> {
  const accounts = new Map<string, TestAccount>()
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end()
  const server = createServer((req, res) => handler(req, res))
  const issuer = await listen(server)
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: OIDC_CLIENT.id,
        client_secret: OIDC_CLIENT.secret,
        redirect_uris: redirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    cookies: { keys: ['oidc-provider-test-cookie-key'] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    async findAccount(_ctx, id) {
      const account = accounts.get(id)
      if (!account) return undefined
      return { accountId: id, claims: async () => ({ sub: id, ...account }) }
    },
  })
  provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error', error))
  const callback = provider.callback()
  handler = (req, res) => {
    if (req.url?.startsWith('/token')) oidc.tokenRequests++
    callback(req, res)
  }
  const oidc: OidcProvider = {
    issuer,
    accounts,
    tokenRequests: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  return oidc
}

/** A browser: one cookie jar per origin (paths ignored), redirects followed by hand. */
export class Browser {
  private readonly jar = new Map<string, Map<string, string>>()

  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(origin)?.get(name)
  }

  setCookie(origin: string, name: string, value: string | undefined) {
    const cookies = this.jar.get(origin) ?? new Map<string, string>()
    this.jar.set(origin, cookies)
    if (value === undefined) cookies.delete(name)
    else cookies.set(name, value)
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const { origin } = new URL(url)
    const headers = new Headers(init.headers)
    const cookies = [...(this.jar.get(origin) ?? new Map())].map(([k, v]) => `${k}=${v}`).join('; ')
    if (cookies) headers.set('cookie', cookies)
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const line of response.headers.getSetCookie()) {
      const cookie = parseSetCookie(line)
      const expired =
        cookie.maxAge !== undefined ? cookie.maxAge <= 0 : (cookie.expires?.getTime() ?? Infinity) < Date.now()
      this.setCookie(origin, cookie.name, expired ? undefined : cookie.value)
    }
    return response
  }

  /**
   * Follows the provider's redirects and submits its login (as `login`) and consent forms until
   * it sends the browser to `callbackPrefix`; returns that URL, not yet requested.
   */
  async authorizeAt(authorizationUrl: string, login: string, callbackPrefix: string): Promise<string> {
    let url = authorizationUrl
    let init: RequestInit = {}
    for (let step = 0; step < 20; step++) {
      const response = await this.fetch(url, init)
      init = {}
      const location = response.headers.get('location')
      if (location) {
        const next = new URL(location, url).toString()
        await response.body?.cancel()
        if (next.startsWith(callbackPrefix)) return next
        url = next
        continue
      }
      const html = await response.text()
      if (response.status !== 200) throw new Error(`provider answered ${response.status}: ${html.slice(0, 500)}`)
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]
      if (!action) throw new Error(`no form at ${url}: ${html.slice(0, 500)}`)
      const form = new URLSearchParams()
      for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
        form.set(name as string, value as string)
      }
      if (/name="login"/.test(html)) {
        form.set('login', login)
        form.set('password', 'any')
      }
      url = new URL(action.replace(/&amp;/g, '&'), url).toString()
      init = { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } }
    }
    throw new Error('the provider never redirected to the callback')
  }
}

export interface FakeGitHub {
  url: string
  users: Map<string, { id: number | string; login: string; email: string | null; emails: unknown[] }>
  /** Access tokens are padded to this many characters (GitHub's are 40; some providers' are kilobytes). */
  accessTokenLength: number
  /** Code exchanges refused (wrong secret, redirect_uri or PKCE verifier). */
  refused: string[]
  /** When set, the API (/user, /user/emails) answers 302 to this URL instead. */
  redirectApiTo: string | undefined
  close(): Promise<void>
}

/**
 * GitHub's endpoints as the OAuth flow uses them: /login/oauth/authorize approves at once for
 * the user named by the `login_as` cookie, /login/oauth/access_token checks the client, the
 * redirect_uri and the PKCE verifier, /user and /user/emails answer for the token.
 */
export async function startFakeGitHub(client: { id: string; secret: string }): Promise<FakeGitHub> {
  const users = new Map<string, { id: number | string; login: string; email: string | null; emails: unknown[] }>()
  const codes = new Map<string, { login: string; challenge: string; redirectUri: string }>()
  const tokens = new Map<string, string>()
  const refused: string[] = []
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body))
    }
    if (url.pathname === '/login/oauth/authorize') {
      const login = /login_as=([^;]+)/.exec(req.headers.cookie ?? '')?.[1] ?? ''
      const q = url.searchParams
      if (q.get('client_id') !== client.id || q.get('code_challenge_method') !== 'S256') return send(400, {})
      const code = randomBytes(10).toString('hex')
      codes.set(code, { login, challenge: q.get('code_challenge') ?? '', redirectUri: q.get('redirect_uri') ?? '' })
      const target = new URL(q.get('redirect_uri') ?? '')
      target.searchParams.set('code', code)
      target.searchParams.set('state', q.get('state') ?? '')
      res.writeHead(302, { location: target.toString() })
      return res.end()
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let raw = ''
      for await (const chunk of req) raw += chunk
      const form = new URLSearchParams(raw)
      const grant = codes.get(form.get('code') ?? '')
      codes.delete(form.get('code') ?? '')
      const verifier = form.get('code_verifier') ?? ''
      const challenge = createHash('sha256').update(verifier).digest('base64url')
      const problem = !grant
        ? 'bad code'
        : form.get('client_id') !== client.id || form.get('client_secret') !== client.secret
          ? 'bad client'
          : form.get('redirect_uri') !== grant.redirectUri
            ? 'bad redirect_uri'
            : challenge !== grant.challenge
              ? 'bad code_verifier'
              : undefined
      if (problem || !grant) {
        refused.push(problem ?? 'bad code')
        // GitHub answers 200 with an error body.
        return send(200, { error: 'bad_verification_code', error_description: problem })
      }
      const token = `gho_${randomBytes(16).toString('hex')}`.padEnd(fake.accessTokenLength, 'x')
      tokens.set(token, grant.login)
      return send(200, { access_token: token, token_type: 'bearer', scope: 'user:email' })
    }
    const login = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    const user = login === undefined ? undefined : users.get(login)
    if (!user) return send(401, { message: 'Bad credentials' })
    if (fake.redirectApiTo) return send(302, {}, { location: fake.redirectApiTo })
    if (url.pathname === '/user') return send(200, { id: user.id, login: user.login, email: user.email })
    if (url.pathname === '/user/emails') return send(200, user.emails)
    return send(404, { message: 'Not Found' })
  })
  const url = await listen(server)
  const fake: FakeGitHub = {
    url,
    users,
    refused,
    redirectApiTo: undefined,
    accessTokenLength: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  return fake
}

/** The reference service on loopback (a real port: the provider redirects the browser to it). */
export async function startListeningApp(
  kind: DatabaseKind,
  port: number,
  env: Record<string, string>,
  options: Parameters<typeof startTestApp>[2] = {},
): Promise<(TestApp & { url: string }) | null> {
  const url = `http://127.0.0.1:${port}`
  const started = await startTestApp(kind, { PORT: String(port), PUBLIC_URL: url, ...env }, options)
  if (!started) return null
  await started.app.listen({ port, host: '127.0.0.1' })
  return { ...started, url }
}

/**
 * The OpenID flow driven like a browser against the service at `base` (its provider named `test`):
 * provider accounts, /authorize through the provider's pages, the callback, whole sign-ins.
 */
export function oidcFlows(base: string, provider: OidcProvider) {
  let counter = 0
  const bearer = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {})
  const flows = {
    /** A provider account named `<tag>-<n>` (its subject), with these claims. */
    account(tag: string, claims: TestAccount = {}) {
      const sub = `${tag}-${++counter}-${randomBytes(3).toString('hex')}`
      provider.accounts.set(sub, { email: `${sub}@example.com`, email_verified: true, ...claims })
      return { sub, email: (claims.email ?? `${sub}@example.com`) as string }
    },
    /** /authorize, then the provider's login and consent: the callback URL the browser is sent to. */
    async authorize(browser: Browser, login: string, options: { prefix?: string; token?: string } = {}) {
      const prefix = options.prefix ?? '/auth/test'
      const res = await browser.fetch(`${base}${prefix}/authorize`, { headers: bearer(options.token) })
      if (res.status !== 200) throw new Error(`authorize answered ${res.status}: ${await res.text()}`)
      const { authorization_url } = (await res.json()) as { authorization_url: string }
      const callback = await browser.authorizeAt(authorization_url, login, `${base}${prefix}/callback`)
      return { authorizationUrl: authorization_url, callback }
    },
    /** GET in that browser: [status, parsed JSON body or ''] */
    async get(browser: Browser, url: string, token?: string): Promise<[number, unknown]> {
      const res = await browser.fetch(url, { headers: bearer(token) })
      const text = await res.text()
      return [res.status, text === '' ? '' : JSON.parse(text)]
    },
    /** The whole sign-in flow in a fresh browser: [status, body]. */
    async signIn(login: string): Promise<[number, unknown]> {
      const browser = new Browser()
      const { callback } = await flows.authorize(browser, login)
      return flows.get(browser, callback)
    },
  }
  return flows
}
