import { randomBytes } from 'node:crypto'
import { normalizeEmail } from './email.js'
import {
  OAuthAccountAlreadyLinked,
  OAuthEmailNotVerified,
  OAuthNotAvailableEmail,
  OAuthProviderError,
  OAuthUserAlreadyExists,
  UserAlreadyExists,
} from './errors.js'
import type { HookContext } from './hooks.js'
import type { UserId } from './ids.js'
import type { UserManager } from './manager.js'
import { codePoints, isStorableText } from './storable.js'
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
  /**
   * Whether the provider vouched for `account_email` (OIDC `email_verified`, GitHub's `verified`)
   * when the link was made or last used. Links made before migration 0006 read false.
   */
  email_verified: boolean
  user_id: UserId
}

/** Thrown by `OAuthAccountStore.add` when the provider account is already linked (the unique key). */
export class OAuthAccountExists extends Error {}

export type OAuthAccountData = Omit<OAuthAccount, 'id' | 'user_id'>

/** Where OAuth accounts live (fastapi-users' SQLAlchemyUserDatabase oauth methods). */
export interface OAuthAccountStore {
  find(oauthName: string, accountId: string): Promise<OAuthAccount | null>
  listForUser(userId: UserId): Promise<OAuthAccount[]>
  /** Throws OAuthAccountExists when (oauth_name, account_id) is linked already, to anyone. */
  add(userId: UserId, data: OAuthAccountData): Promise<OAuthAccount>
  update(account: OAuthAccount, data: Partial<OAuthAccountData>): Promise<OAuthAccount>
  remove(account: OAuthAccount): Promise<void>
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
  /**
   * Create a user for an address the provider does not vouch for. Default false: such a sign-up
   * is refused with OAUTH_NOT_AVAILABLE_EMAIL. When true the user is created unverified, and the
   * link is removed when the address's owner proves it by mail (see `dropUnvouchedLinks`).
   */
  allowUnverifiedEmail?: boolean
  /** Custom fields of a user the callback creates (e.g. set by an `oauthCallback` wrapper); never flags, e-mail or password. */
  fields?: Record<string, unknown>
  ctx?: HookContext
}

/** What `UserManager.oauthCallback` (fastapi-users' `oauth_callback`) is given. */
export interface OAuthCallbackInput {
  oauthName: string
  identity: OAuthIdentity
  accounts: OAuthAccountStore
  options: OAuthResolveOptions
}

/**
 * Wraps or replaces fastapi-users' `oauth_callback`: `next(input)` runs the default rules
 * (`resolveOAuthUser`); call it with changed input (`options.fields` for a new user's custom fields),
 * refuse by throwing an `AuthError` (answered 400 with its code), or return a user of your own finding.
 */
export type OAuthCallback<U extends BaseUser> = (
  input: OAuthCallbackInput,
  next: (input: OAuthCallbackInput) => Promise<U>,
) => Promise<U>

/** What `UserManager.oauthAssociateCallback` (fastapi-users' `oauth_associate_callback`) is given. */
export interface OAuthAssociateInput<U extends BaseUser> {
  user: U
  oauthName: string
  identity: OAuthIdentity
  accounts: OAuthAccountStore
  ctx?: HookContext
}

/** Wraps or replaces fastapi-users' `oauth_associate_callback`; `next(input)` links as `associateOAuthAccount`. */
export type OAuthAssociateCallback<U extends BaseUser> = (
  input: OAuthAssociateInput<U>,
  next: (input: OAuthAssociateInput<U>) => Promise<OAuthAccount>,
) => Promise<OAuthAccount>

/** The provider's e-mail in our canonical form, or OAUTH_NOT_AVAILABLE_EMAIL. */
export function oauthEmail(identity: OAuthIdentity): string {
  if (!identity.accountEmail) throw new OAuthNotAvailableEmail()
  const result = normalizeEmail(identity.accountEmail)
  if (!result.ok) throw new OAuthNotAvailableEmail()
  return result.email
}

/** The longest value each text column of `oauth_account` holds (fastapi-users' column sizes), in characters. */
const OAUTH_ACCOUNT_LIMITS = {
  oauth_name: 100,
  access_token: 1024,
  refresh_token: 1024,
  account_id: 320,
  account_email: 320,
}

/**
 * What the provider answered, as the row it becomes; a value no database could store (NUL, an unpaired
 * surrogate, longer than its column) is the provider's error, answered as such, never a 500.
 */
function accountData(oauthName: string, identity: OAuthIdentity, email: string): OAuthAccountData {
  const data = {
    oauth_name: oauthName,
    access_token: identity.accessToken,
    expires_at: identity.expiresAt,
    refresh_token: identity.refreshToken,
    account_id: identity.accountId,
    account_email: email,
    email_verified: identity.emailVerified,
  }
  for (const [column, limit] of Object.entries(OAUTH_ACCOUNT_LIMITS)) {
    const value = data[column as keyof typeof OAUTH_ACCOUNT_LIMITS]
    if (value !== null && (!isStorableText(value) || codePoints(value) > limit)) {
      throw new OAuthProviderError(`the provider's ${column} cannot be stored`)
    }
  }
  return data
}

/**
 * fastapi-users' `oauth_callback`, with the linking rules tightened: an existing OAuth account
 * logs its user in (tokens updated); else a user with that e-mail is linked only when
 * associate-by-email is on and both addresses are verified (else OAUTH_USER_ALREADY_EXISTS);
 * else a user is created with a random password nobody knows, only when the provider vouches
 * for the address or `allowUnverifiedEmail` is on (else OAUTH_NOT_AVAILABLE_EMAIL).
 */
export async function resolveOAuthUser<U extends BaseUser>(
  manager: UserManager<U>,
  accounts: OAuthAccountStore,
  oauthName: string,
  identity: OAuthIdentity,
  options: OAuthResolveOptions = {},
  attempt = 0,
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
    try {
      await accounts.add(local.id, data)
    } catch (error) {
      // Linked meanwhile by a concurrent callback: to this very user, or to someone else.
      if (!(error instanceof OAuthAccountExists)) throw error
      const winner = await accounts.find(oauthName, identity.accountId)
      if (winner?.user_id !== local.id) throw new OAuthAccountAlreadyLinked()
    }
    return local
  }

  if (!identity.emailVerified && !options.allowUnverifiedEmail) throw new OAuthEmailNotVerified()
  let user: U
  try {
    user = await manager.create(
      {
        ...withoutReserved(options.fields),
        email,
        password: randomBytes(32).toString('base64url'),
        is_verified: Boolean(options.isVerifiedByDefault && identity.emailVerified),
      } as Parameters<UserManager<U>['create']>[0],
      { safe: false, ctx: options.ctx },
    )
  } catch (error) {
    if (!(error instanceof UserAlreadyExists)) throw error
    // A concurrent first sign-in with this provider account may have made the user: judged again, once.
    if (attempt === 0) return resolveOAuthUser(manager, accounts, oauthName, identity, options, attempt + 1)
    throw new OAuthUserAlreadyExists()
  }
  try {
    await accounts.add(user.id, data)
  } catch (error) {
    // A concurrent first sign-in with the same provider account won: this user goes, the winner's is used.
    if (!(error instanceof OAuthAccountExists) || attempt > 0) throw error
    await manager.delete(user, options.ctx)
    return resolveOAuthUser(manager, accounts, oauthName, identity, options, attempt + 1)
  }
  return user
}

const RESERVED_FIELDS = new Set([
  'id',
  'email',
  'password',
  'hashed_password',
  'is_active',
  'is_superuser',
  'is_verified',
])

function withoutReserved(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([name]) => !RESERVED_FIELDS.has(name)))
}

/**
 * fastapi-users' `oauth_associate_callback`: links the provider account to the signed-in user;
 * refused when it is already linked to someone else (also when another user's association
 * commits first: the unique key decides). Tokens are updated when it is the user's own.
 */
export async function associateOAuthAccount<U extends BaseUser>(
  user: U,
  accounts: OAuthAccountStore,
  oauthName: string,
  identity: OAuthIdentity,
): Promise<OAuthAccount> {
  const email = oauthEmail(identity)
  const data = accountData(oauthName, identity, email)
  const linkedTo = async (existing: OAuthAccount) => {
    if (existing.user_id !== user.id) throw new OAuthAccountAlreadyLinked()
    return accounts.update(existing, data)
  }
  const existing = await accounts.find(oauthName, identity.accountId)
  if (existing) return linkedTo(existing)
  try {
    return await accounts.add(user.id, data)
  } catch (error) {
    if (!(error instanceof OAuthAccountExists)) throw error
    const winner = await accounts.find(oauthName, identity.accountId)
    if (!winner) throw new OAuthAccountAlreadyLinked()
    return linkedTo(winner)
  }
}

/**
 * Whether a link vouches for the user's own address: the provider vouched for its e-mail and
 * that e-mail is the user's. Such a link could only have been made by the address's owner.
 */
export function vouchesForUser(account: OAuthAccount, user: Pick<BaseUser, 'email'>): boolean {
  return account.email_verified && account.account_email.toLowerCase() === user.email.toLowerCase()
}

/**
 * Called when the owner of a not yet verified address proves it by mail (verification, or a
 * password reset): every link that does not vouch for that address (`vouchesForUser`) is
 * removed, since whoever made the account before the proof may have made it. Returns how many.
 * Pre-account hijacking (Sudhodanan and Paverd, USENIX Security 2022) ends here.
 */
export async function dropUnvouchedLinks(accounts: OAuthAccountStore, user: BaseUser): Promise<number> {
  return (await removeUnvouchedLinks(accounts, user)).length
}

/** `dropUnvouchedLinks`, answering the links it removed (the audit log records one `oauth.unlinked` each). */
export async function removeUnvouchedLinks(accounts: OAuthAccountStore, user: BaseUser): Promise<OAuthAccount[]> {
  const removed: OAuthAccount[] = []
  for (const account of await accounts.listForUser(user.id)) {
    if (vouchesForUser(account, user)) continue
    await accounts.remove(account)
    removed.push(account)
  }
  return removed
}
