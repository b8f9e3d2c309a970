import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { OAuthInvalidState } from '../core/errors.js'
import { signJwt, verifyJwt } from '../core/tokens.js'

export const OAUTH_STATE_AUDIENCE = 'fastapi-users:oauth-state'
/** fastapi-users ≥ 15.0.2's cookie: binds the state to the browser that started the flow. */
export const OAUTH_CSRF_COOKIE = 'fastapiusersoauthcsrf'

/**
 * Remembers the states already used, so each is accepted once by the whole service: every
 * instance behind a load balancer must share it (redisStateStore: SET NX with a TTL;
 * createKyselyOAuthStateStore: the oauth_state table). memoryStateStore is for one process only.
 */
export interface OAuthStateStore {
  /** True the first time a state id is consumed before `expiresAt` (epoch seconds), false after. */
  consume(jti: string, expiresAt: number): Promise<boolean>
}

/** States consumed in this process's memory: right only when the service is one process (tests, a single instance). */
export function memoryStateStore(): OAuthStateStore {
  const used = new Map<string, number>()
  let calls = 0
  return {
    async consume(jti, expiresAt) {
      const now = Math.floor(Date.now() / 1000)
      if (++calls % 256 === 0) for (const [key, exp] of used) if (exp < now) used.delete(key)
      if (used.has(jti)) return false
      used.set(jti, expiresAt)
      return true
    },
  }
}

export interface StartedFlow {
  state: string
  /** The CSRF cookie's value (the state holds only its digest). */
  csrfToken: string
  codeChallenge: string
  nonce: string
}

export interface CheckedFlow {
  jti: string
  expiresAt: number
  codeVerifier: string
  nonce: string
}

const b64 = (buffer: Buffer) => buffer.toString('base64url')
const digest = (value: string) => b64(createHash('sha256').update(value).digest())

/**
 * The PKCE verifier and the OIDC nonce are derived from the secret, the state id and the CSRF
 * cookie: nothing to store, and nobody without the secret and the cookie can compute them
 * (the state itself travels in URLs).
 */
function derive(secret: string, purpose: string, jti: string, csrfToken: string): string {
  return b64(createHmac('sha256', secret).update(`${purpose}\0${jti}\0${csrfToken}`).digest())
}

/** A signed, short-lived state (aud fastapi-users:oauth-state) bound to a new CSRF cookie value. */
export async function startFlow(
  secret: string,
  binding: { provider: string; userId?: string },
  lifetimeSeconds: number,
): Promise<StartedFlow> {
  const csrfToken = b64(randomBytes(32))
  const jti = b64(randomBytes(16))
  const claims: Record<string, unknown> = {
    aud: OAUTH_STATE_AUDIENCE,
    jti,
    oauth_name: binding.provider,
    csrft: digest(csrfToken),
  }
  if (binding.userId) claims.sub = binding.userId
  const state = await signJwt(claims, { secret }, lifetimeSeconds)
  const codeVerifier = derive(secret, 'pkce', jti, csrfToken)
  return {
    state,
    csrfToken,
    codeChallenge: digest(codeVerifier),
    nonce: derive(secret, 'nonce', jti, csrfToken),
  }
}

/**
 * Checks a callback's state against the CSRF cookie (constant time), the provider and, for
 * association, the signed-in user. Every failure is OAUTH_INVALID_STATE. Does not consume it.
 */
export async function checkFlow(
  secret: string,
  state: unknown,
  csrfToken: string | undefined,
  binding: { provider: string; userId?: string },
): Promise<CheckedFlow> {
  if (typeof state !== 'string' || state.length === 0 || state.length > 4096) throw new OAuthInvalidState()
  const claims = await verifyJwt(state, { secret }, OAUTH_STATE_AUDIENCE)
  if (!claims || typeof claims.jti !== 'string' || typeof claims.csrft !== 'string' || typeof claims.exp !== 'number')
    throw new OAuthInvalidState()
  if (claims.oauth_name !== binding.provider) throw new OAuthInvalidState()
  if (binding.userId !== undefined && claims.sub !== binding.userId) throw new OAuthInvalidState()
  if (!csrfToken) throw new OAuthInvalidState()
  const expected = Buffer.from(claims.csrft)
  const given = Buffer.from(digest(csrfToken))
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new OAuthInvalidState()
  return {
    jti: claims.jti,
    expiresAt: claims.exp,
    codeVerifier: derive(secret, 'pkce', claims.jti, csrfToken),
    nonce: derive(secret, 'nonce', claims.jti, csrfToken),
  }
}
