import type { BaseUser } from './user'

/** A user row about to be inserted: everything but the id, which the store may generate. */
export type NewUser<U extends BaseUser> = Omit<U, 'id'> & { id?: string }

export type UserChanges<U extends BaseUser> = Partial<Omit<U, 'id'>>

/**
 * Where users live. `getByEmail` is case-insensitive. `create` and `update` throw
 * `DuplicateEmail` when the unique e-mail index refuses the row.
 */
export interface UserStore<U extends BaseUser> {
  get(id: string): Promise<U | null>
  getByEmail(email: string): Promise<U | null>
  create(data: NewUser<U>): Promise<U>
  /** Applies `changes`; with `ifPasswordIs`, only while the stored hash is still that one (else null). */
  update(user: U, changes: UserChanges<U>, options?: { ifPasswordIs?: string }): Promise<U | null>
  delete(user: U): Promise<void>
}

export class DuplicateEmail extends Error {
  constructor(options?: { cause?: unknown }) {
    super('a user with this e-mail already exists', options)
  }
}
