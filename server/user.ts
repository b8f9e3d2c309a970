import { defineUserFields, InvalidPasswordError, type UserOf } from 'fastify-users'
import { Type } from 'typebox'

/**
 * The reference app's user: fastapi-users' base user plus a nullable `first_name`, required at
 * registration, changed by its user and by superusers, in every answer (the original app's UserCreate,
 * UserUpdate and UserRead all have it).
 */
export const userFields = defineUserFields({
  first_name: {
    schema: Type.String(),
    nullable: true,
    write: { register: 'required', self: true, admin: true },
    column: 'text',
  },
})

/**
 * Typed with UUID ids, as the examples that share this TypeScript program declare it; with
 * USER_ID_TYPE=integer the ids are numbers at run time (the service only logs and serialises them).
 */
export type User = UserOf<typeof userFields>

declare module 'fastify-users' {
  interface Register {
    user: User
  }
}

/** The original app's rules: at least 8 characters, and not containing the e-mail. */
export function validatePassword(password: string, user: { email: string }): void {
  if ([...password].length < 8) throw new InvalidPasswordError('Password should be at least 8 characters')
  if (password.includes(user.email)) throw new InvalidPasswordError('Password should not contain e-mail')
}

/** The access token's custom claims: the user's first name and a role. */
export function accessTokenClaims(user: User) {
  return { first_name: user.first_name, role: user.is_superuser ? 'admin' : 'user' }
}
