import type { FastifyInstance } from 'fastify'
import type { AuthenticationBackend, FastifyUsers } from 'fastify-users'
import { createKyselyOAuthAccountStore, createKyselyOAuthStateStore, type Database } from 'fastify-users/kysely'
import {
  githubClient,
  type OAuthAccountStore,
  type OAuthClient,
  type OAuthStateStore,
  oidcClient,
} from 'fastify-users/oauth'
import { redisStateStore } from 'fastify-users/redis'
import type { RedisClient } from './backends.js'
import type { Config, OAuthProviderConfig } from './config.js'
import type { User } from './user.js'

export function oauthAccountStore(database: Database): OAuthAccountStore {
  return createKyselyOAuthAccountStore(database)
}

/** Consumed OAuth states, shared by every instance: in Redis when REDIS_URL is set, else in the database. */
export function oauthStateStore(database: Database, redis: RedisClient | undefined): OAuthStateStore {
  return redis ? redisStateStore(redis) : createKyselyOAuthStateStore(database)
}

export function oauthClient(provider: OAuthProviderConfig): OAuthClient {
  const common = {
    name: provider.name,
    clientId: provider.clientId,
    clientSecret: provider.clientSecret,
    scopes: provider.scopes,
    allowInsecureRequests: provider.allowInsecureRequests,
  }
  if (provider.kind === 'github') return githubClient({ ...common, baseUrl: provider.baseUrl, apiUrl: provider.apiUrl })
  return oidcClient({ ...common, issuer: provider.issuer as string })
}

/**
 * Social login: for each configured provider, /auth/<name> (login through `backend`) and
 * /auth/associate/<name> (a signed-in user links an account). Callback URLs are PUBLIC_URL's.
 */
export async function registerOAuthRouters(
  app: FastifyInstance,
  users: FastifyUsers<User>,
  backend: AuthenticationBackend<User>,
  config: Config,
): Promise<void> {
  for (const provider of config.oauthProviders) {
    const client = oauthClient(provider)
    const common = {
      stateSecret: config.secret,
      csrfCookieSecure: config.cookieSecure,
      requiresVerification: config.requireVerification,
    }
    const login = `/auth/${provider.name}`
    const associate = `/auth/associate/${provider.name}`
    await app.register(
      users.oauthRouter(client, backend, {
        ...common,
        redirectUrl: `${config.publicUrl}${login}/callback`,
        associateByEmail: config.oauthAssociateByEmail,
        isVerifiedByDefault: config.oauthIsVerifiedByDefault,
        allowUnverifiedEmail: config.oauthAllowUnverifiedEmail,
      }),
      { prefix: login },
    )
    await app.register(
      users.oauthAssociateRouter(client, { ...common, redirectUrl: `${config.publicUrl}${associate}/callback` }),
      { prefix: associate },
    )
  }
}
