import { randomBytes } from 'node:crypto'
import { normalizeEmail } from './email.js'
import {
  OAuthAccountAlreadyLinked,
  OAuthNotAvailableEmail,
  OAuthUserAlreadyExists,
  UserAlreadyExists,
} from './errors.js'
import type { HookContext } from './hooks.js'
import type { UserManager } from './manager.js'
import type { BaseUser } from './user.js'

/** A row of `oauth_account`: one provider account linked to one user. */
export interface OAuthAccount {
  id: string
  oauth_name: string
  access_token: string
  /** Seconds since the epoch, or null when the provider gave no lifetime. */
  expires_at: number | null
  refresh_token: string | null
  /** The provider's stable subject (`sub`, GitHub's numeric id), never a username or e-mail. */
  account_id: string
  account_email: string
  user_id: string
}

export type OAuthAccountData = Omit<OAuthAccount, 'id' | 'user_id'>

/** Where OAuth accounts live (fastapi-users' SQLAlchemyUserDatabase oauth methods). */
export interface OAuthAccountStore {
  find(oauthName: string, accountId: string): Promise<OAuthAccount | null>
  listForUser(userId: string): Promise<OAuthAccount[]>
  add(userId: string, data: OAuthAccountData): Promise<OAuthAccount>
  update(account: OAuthAccount, data: Partial<OAuthAccountData>): Promise<OAuthAccount>
}

/** What a provider told us about the account after a successful authorization-code exchange. */
export interface OAuthIdentity {
  accountId: string
  /** The e-mail the provider gives, or null. */
  accountEmail: string | null
  /** Whether the provider asserts the address is verified (OIDC `email_verified`, GitHub's `verified`). */
  emailVerified: boolean
  accessToken: string
  expiresAt: number | null
  refreshToken: string | null
}

export interface OAuthResolveOptions {
  /**
   * Link the provider account to a local user with the same e-mail. Only ever done when the
   * provider asserts the address is verified AND the local user is verified. Default false.
   */
  associateByEmail?: boolean
  /** New users are verified when the provider asserts their e-mail is verified. Default false. */
  isVerifiedByDefault?: boolean
  ctx?: HookContext
}

/** The provider's e-mail in our canonical form, or OAUTH_NOT_AVAILABLE_EMAIL. */
export function oauthEmail(identity: OAuthIdentity): string {
  if (!identity.accountEmail) throw new OAuthNotAvailableEmail()
  const result = normalizeEmail(identity.accountEmail)
  if (!result.ok) throw new OAuthNotAvailableEmail()
  return result.email
}

function accountData(oauthName: string, identity: OAuthIdentity, email: string): OAuthAccountData {
  return {
    oauth_name: oauthName,
    access_token: identity.accessToken,
    expires_at: identity.expiresAt,
    refresh_token: identity.refreshToken,
    account_id: identity.accountId,
    account_email: email,
  }
}

/**
 * fastapi-users' `oauth_callback`, with the linking rule tightened: an existing OAuth account
 * logs its user in (tokens updated); else a user with that e-mail is linked only when
 * associate-by-email is on and both addresses are verified (else OAUTH_USER_ALREADY_EXISTS);
 * else a user is created with a random password nobody knows.
 */
export async function resolveOAuthUser<U extends BaseUser>(
  manager: UserManager<U>,
  accounts: OAuthAccountStore,
  oauthName: string,
  identity: OAuthIdentity,
  options: OAuthResolveOptions = {},
): Promise<U> {
  const email = oauthEmail(identity)
  const data = accountData(oauthName, identity, email)
  const existing = await accounts.find(oauthName, identity.accountId)
  if (existing) {
    const user = await manager.get(existing.user_id)
    if (user) {
      await accounts.update(existing, data)
      return user
    }
  }

  const local = await manager.getByEmail(email)
  if (local) {
    if (!options.associateByEmail || !identity.emailVerified || !local.is_verified) throw new OAuthUserAlreadyExists()
    await accounts.add(local.id, data)
    return local
  }

  let user: U
  try {
    user = await manager.create(
      {
        email,
        password: randomBytes(32).toString('base64url'),
        is_verified: Boolean(options.isVerifiedByDefault && identity.emailVerified),
      } as Parameters<UserManager<U>['create']>[0],
      { safe: false, ctx: options.ctx },
    )
  } catch (error) {
    if (error instanceof UserAlreadyExists) throw new OAuthUserAlreadyExists()
    throw error
  }
  await accounts.add(user.id, data)
  return user
}

/**
 * fastapi-users' `oauth_associate_callback`: links the provider account to the signed-in user;
 * refused when it is already linked to someone else. Tokens are updated when it is the user's own.
 */
export async function associateOAuthAccount<U extends BaseUser>(
  user: U,
  accounts: OAuthAccountStore,
  oauthName: string,
  identity: OAuthIdentity,
): Promise<OAuthAccount> {
  const email = oauthEmail(identity)
  const data = accountData(oauthName, identity, email)
  const existing = await accounts.find(oauthName, identity.accountId)
  if (existing) {
    if (existing.user_id !== user.id) throw new OAuthAccountAlreadyLinked()
    return accounts.update(existing, data)
  }
  return accounts.add(user.id, data)
}
