import type { FastifyReply, FastifyRequest, onRouteHookHandler } from 'fastify'
import { type TObject, type TSchema, Type } from 'typebox'
import type { OAuthAccount, OAuthAccountStore } from '../core/oauth.js'
import type { UserSchemas } from './schemas.js'

/**
 * fastapi-users' `BaseOAuthAccountMixin` on UserRead: `oauth_accounts`, the user's linked provider accounts.
 * `providerTokens` (default false) also shows each account's `access_token` and `refresh_token`, as
 * fastapi-users serialises them: that is its exact shape, but it hands the provider's credentials to
 * every client that reads the user (a browser's script, a superuser's admin tool). Left out, a client
 * still sees which providers are linked, under which account and address.
 */
export interface ReadOAuthAccountsOptions {
  providerTokens?: boolean
}

/** fastapi-users' BaseOAuthAccount, in its field order; without the provider tokens unless asked. */
export function oauthAccountReadSchema({ providerTokens = false }: ReadOAuthAccountsOptions = {}): TObject {
  const tokens = (schema: Record<string, TSchema>) => (providerTokens ? schema : {})
  return Type.Object(
    {
      id: Type.String(),
      oauth_name: Type.String(),
      ...tokens({ access_token: Type.String() }),
      expires_at: Type.Union([Type.Integer(), Type.Null()]),
      ...tokens({ refresh_token: Type.Union([Type.String(), Type.Null()]) }),
      account_id: Type.String(),
      account_email: Type.String(),
    },
    { title: providerTokens ? 'OAuthAccountRead' : 'OAuthAccountReadWithoutTokens' },
  )
}

/** UserRead with `oauth_accounts` (always present where the schema is answered: see `readOAuthAccountsHook`). */
export function withOAuthAccounts(schemas: UserSchemas, options: ReadOAuthAccountsOptions): UserSchemas {
  const read = schemas.UserRead as TObject
  const UserRead = Type.Object(
    { ...read.properties, oauth_accounts: Type.Array(oauthAccountReadSchema(options)) },
    { title: 'UserRead' },
  )
  return { ...schemas, UserRead }
}

function present(account: OAuthAccount, providerTokens: boolean) {
  const { id, oauth_name, access_token, expires_at, refresh_token, account_id, account_email } = account
  return providerTokens
    ? { id, oauth_name, access_token, expires_at, refresh_token, account_id, account_email }
    : { id, oauth_name, expires_at, account_id, account_email }
}

/**
 * An onRoute hook that gives every route answering UserRead (register, verify, /users/me, /users/{id},
 * the association callback) a preSerialization step adding the user's `oauth_accounts`.
 */
export function readOAuthAccountsHook(
  schemas: UserSchemas,
  accounts: OAuthAccountStore,
  { providerTokens = false }: ReadOAuthAccountsOptions,
): onRouteHookHandler {
  const isUserRead = (schema: unknown) =>
    schema === schemas.UserRead || (schema as { title?: unknown } | undefined)?.title === 'UserRead'
  // the superusers' user list (GET /users): UserRead items
  const isUserList = (schema: unknown) => (schema as { title?: unknown } | undefined)?.title === 'UserList'
  const withAccounts = async (user: { id?: unknown } | null) => {
    if (!user || typeof user !== 'object' || user.id === undefined) return user
    const linked = await accounts.listForUser(String(user.id))
    return { ...user, oauth_accounts: linked.map((account) => present(account, providerTokens)) }
  }
  const addAccounts = async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const schema = (reply.routeOptions.schema?.response as Record<string, unknown> | undefined)?.[reply.statusCode]
    if (isUserRead(schema)) return withAccounts(payload as { id?: unknown } | null)
    if (!isUserList(schema)) return payload
    const page = payload as { items: { id?: unknown }[] }
    return { ...page, items: await Promise.all(page.items.map(withAccounts)) }
  }
  return (route) => {
    const responses = Object.values((route.schema?.response as Record<string, unknown> | undefined) ?? {})
    if (!responses.some((schema) => isUserRead(schema) || isUserList(schema))) return
    const existing = route.preSerialization
    route.preSerialization = [...(existing ? [existing].flat() : []), addAccounts] as typeof route.preSerialization
  }
}
