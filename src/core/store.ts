import type { UserId, UserIdType } from './ids.js'
import type { BaseUser } from './user.js'

/** A user row about to be inserted: everything but the id, which the store may generate. */
export type NewUser<U extends BaseUser> = Omit<U, 'id'> & { id?: U['id'] }

export type UserChanges<U extends BaseUser> = Partial<Omit<U, 'id'>>

/**
 * Where users live. `getByEmail` finds the user whose address has the argument's
 * `emailIdentityKey` (core/email.ts), compared in code or byte for byte, never by a collation;
 * `create` and `update` throw `DuplicateEmail` when another user already has that identity.
 */
export interface UserStore<U extends BaseUser> {
  /** The type of the ids it stores (default 'uuid'): how the manager parses ids and the routes describe them. */
  readonly idType?: UserIdType
  /** The user with this (parsed) id, or null. */
  get(id: UserId): Promise<U | null>
  getByEmail(email: string): Promise<U | null>
  create(data: NewUser<U>): Promise<U>
  /** Writes only the fields in `changes`; null when a condition no longer holds (nothing is written). */
  update(user: U, changes: UserChanges<U>, options?: UpdateConditions<U>): Promise<U | null>
  delete(user: U): Promise<void>
  /**
   * One page of users, filtered and ordered (`GET /users`). Optional: a store without it serves
   * every route but the superusers' user list.
   */
  list?(query: UserListQuery): Promise<UserPage<U>>
  /**
   * The login identifiers besides `email` whose values this store keeps unique (`identifierKey`,
   * core/identifiers.ts): `create` and `update` throw `DuplicateIdentifier` when another user has the value.
   */
  readonly loginIdentifiers?: readonly string[]
  /** The user whose `field` (one of `loginIdentifiers`) has the value's `identifierKey`, or null. */
  getByIdentifier?(field: string, value: string): Promise<U | null>
}

/** How users may be ordered: by address (by code point, not a locale) or by id; `-` for descending. */
export const USER_ORDERS = ['email', '-email', 'id', '-id'] as const
export type UserOrder = (typeof USER_ORDERS)[number]

/**
 * What `UserStore.list` returns: `email` matches a substring of the address, letters A–Z in either
 * case and every other character (`%`, `_`, `\` included) as it is; the flags match exactly.
 */
export interface UserListQuery {
  limit: number
  offset: number
  email?: string
  is_active?: boolean
  is_verified?: boolean
  is_superuser?: boolean
  orderBy: UserOrder
}

/** A page of users and how many match in all. */
export interface UserPage<U extends BaseUser> {
  items: U[]
  total: number
}

/** Compare-and-set: an update applies only while the stored row still holds these values. */
export interface UpdateConditions<U extends BaseUser> {
  /** The stored password hash is still this one. */
  ifPasswordIs?: string
  /** The stored row still has these values (e.g. the e-mail a decision was based on). */
  ifStill?: UserChanges<U>
}

export class DuplicateEmail extends Error {
  constructor(options?: { cause?: unknown }) {
    super('a user with this e-mail already exists', options)
  }
}

/** Another user already has this value of a login identifier (`field`). */
export class DuplicateIdentifier extends Error {
  constructor(
    readonly field: string,
    options?: { cause?: unknown },
  ) {
    super(`a user with this ${field} already exists`, options)
  }
}

/**
 * A row refers to a user that no longer exists: it was deleted while the request that writes the
 * row (a login's tokens) was under way. The request ends as if it had come after the deletion.
 */
export class UserGone extends Error {
  constructor(options?: { cause?: unknown }) {
    super('the user was deleted meanwhile', options)
  }
}
