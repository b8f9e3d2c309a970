import { emailIdentityKey, normalizeEmail } from './email.js'
import { AuthError } from './errors.js'
import type { UserStore } from './store.js'
import type { BaseUser } from './user.js'

/**
 * Login identifiers (issue #17): the fields a login's `username` may name. `email` is
 * fastapi-users' one and the default; an app adds its own unique fields (a `username`, say),
 * each compared as the e-mail is: by a key decided here, the same on every database.
 */
export const DEFAULT_LOGIN_IDENTIFIERS: readonly string[] = ['email']

/**
 * The identity of an identifier's value (a username): two values name one account exactly when
 * their keys are equal. Unicode's identifier folding (UAX #31's NFKC with full case mapping, as
 * RFC 8265's usernames): compatibility forms fold (full-width `Ａ` is `A`, the ligature `ﬁ` is
 * `fi`), then case (`Arthur` is `arthur`, `Ǆ` is `ǆ`), then NFKC again; `é` and `e`, `ß` and `ss`
 * stay apart, as in an address. Never a database's collation or lower(): stores compare the key
 * (or its digest) byte for byte.
 */
export function identifierKey(value: string): string {
  return value.trim().normalize('NFKC').toLowerCase().normalize('NFKC')
}

/**
 * The key of what a login's `username` names, whichever field it turns out to be: a valid
 * address's e-mail identity, any other text's identifier key. Rate limits count by it, so that
 * spellings of one name (its case, its width) share one allowance.
 */
export function loginNameKey(username: string): string {
  return normalizeEmail(username).ok ? emailIdentityKey(username) : identifierKey(username)
}

/** Where a write was refused decides the wire code: `REGISTER_…` or `UPDATE_USER_…`. */
export type IdentifierContext = 'REGISTER' | 'UPDATE_USER'

/**
 * Another user already has this value of a login identifier: `REGISTER_USERNAME_ALREADY_EXISTS`
 * at registration, `UPDATE_USER_USERNAME_ALREADY_EXISTS` on an update (for a field `username`).
 */
export class IdentifierAlreadyExists extends AuthError {
  readonly code: string
  constructor(
    readonly field: string,
    context: IdentifierContext,
  ) {
    const code = identifierExistsCode(field, context)
    super(code)
    this.code = code
  }
}

/** The wire code of a taken identifier value (`REGISTER_USERNAME_ALREADY_EXISTS`). */
export function identifierExistsCode(field: string, context: IdentifierContext): string {
  return `${context}_${field.toUpperCase()}_ALREADY_EXISTS`
}

/** The identifiers besides `email`: those a store keeps unique itself. */
export function extraIdentifiers(identifiers: readonly string[]): string[] {
  return identifiers.filter((field) => field !== 'email')
}

/**
 * Checks a list of login identifiers against the store that must keep them unique: a TypeError
 * (at construction) for a name no field can have or a field the store does not key.
 */
export function checkLoginIdentifiers(identifiers: readonly string[], keyed: readonly string[]): string[] {
  if (!Array.isArray(identifiers) || identifiers.length === 0)
    throw new TypeError('loginIdentifiers: at least one field (default ["email"])')
  for (const field of identifiers) {
    if (typeof field !== 'string' || !/^[a-z][a-z0-9_]{0,62}$/.test(field))
      throw new TypeError(`loginIdentifiers: "${String(field)}" is not a field name (lower case, digits, _)`)
    if (['id', 'hashed_password', 'password', 'is_active', 'is_superuser', 'is_verified'].includes(field))
      throw new TypeError(`loginIdentifiers: "${field}" cannot identify a user`)
    if (field !== 'email' && !keyed.includes(field))
      throw new TypeError(
        `loginIdentifiers: the user store does not keep "${field}" unique (give it the same loginIdentifiers)`,
      )
  }
  if (new Set(identifiers).size !== identifiers.length) throw new TypeError('loginIdentifiers: a field is listed twice')
  return [...identifiers]
}

/**
 * The user a login's `username` names: looked up by every identifier at once (so that a miss and
 * a hit take the same number of round trips), the first identifier in the list that finds one wins.
 */
export async function findByLoginName<U extends BaseUser>(
  store: UserStore<U>,
  identifiers: readonly string[],
  username: string,
): Promise<U | null> {
  const found = await Promise.all(
    identifiers.map((field) =>
      field === 'email' ? store.getByEmail(username) : (store.getByIdentifier?.(field, username) ?? null),
    ),
  )
  return found.find((user) => user !== null) ?? null
}

/**
 * Refuses values of extra identifiers that another user already has (`self` is the user being
 * updated, whose own values are no collision). The store's unique keys decide races; this check
 * gives the common case its clear answer before any password is hashed.
 */
export async function checkIdentifiersFree<U extends BaseUser>(
  store: UserStore<U>,
  identifiers: readonly string[],
  values: Record<string, unknown>,
  context: IdentifierContext,
  self?: U,
): Promise<void> {
  for (const field of extraIdentifiers(identifiers)) {
    const value = values[field]
    if (typeof value !== 'string') continue
    const owner = await store.getByIdentifier?.(field, value)
    if (owner && (self === undefined || owner.id !== self.id)) throw new IdentifierAlreadyExists(field, context)
  }
}
