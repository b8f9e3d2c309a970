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
 * LOGIN_WITH_USERNAME=true: an optional `username` of 3–32 letters A–Z (either case), digits, `.`, `_`
 * and `-`, written at registration, by its user and by superusers, in every answer. It is a login
 * identifier: unique by its identifier key (`Arthur`, `arthur` and `ＡＲＴＨＵＲ` are one), and the
 * login form's `username` names the e-mail or it.
 */
export const usernameFields = defineUserFields({
  username: {
    schema: Type.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9._-]+$' }),
    nullable: true,
    write: { register: true, self: true, admin: true },
    column: 'varchar(255)',
  },
})

/** The service's custom fields: `first_name`, and `username` with LOGIN_WITH_USERNAME. */
export function serviceUserFields(loginWithUsername: boolean) {
  return loginWithUsername ? { ...userFields, ...usernameFields } : userFields
}

/** The login identifiers: the e-mail, and the username with LOGIN_WITH_USERNAME (undefined: the library's default). */
export function loginIdentifiers(loginWithUsername: boolean): string[] | undefined {
  return loginWithUsername ? ['email', 'username'] : undefined
}

/**
 * Typed with UUID ids and without the optional `username`, as the examples that share this TypeScript
 * program declare it (with LOGIN_WITH_USERNAME, users carry `username` at run time); with
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
