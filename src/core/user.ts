import type { Static, TSchema } from 'typebox'
import type { IdOf, UserId, UserIdType } from './ids.js'

/** The columns every fastify-users user has: the table fastapi-users-db-sqlalchemy creates. */
export interface BaseUser {
  /** A UUID string, or a number for an integer model (`UserOf<F, 'integer'>`). */
  id: UserId
  email: string
  hashed_password: string
  is_active: boolean
  is_superuser: boolean
  is_verified: boolean
}

/** SQL column types a custom field can have; the migration of the field uses it. */
export type ColumnType = 'text' | 'varchar(255)' | 'boolean' | 'integer' | 'double precision'

/**
 * Where clients may write a custom field; each route's request schema has exactly the fields
 * writable there, and a field sent where it is not writable is silently ignored (as pydantic ignores
 * a key its `UserCreate`/`UserUpdate` lacks). The server itself (`manager.create`/`update`, the CLI,
 * hooks) writes every field.
 */
export interface FieldWrite {
  /** In the registration body (`POST /auth/register`): `true` when it may be sent, `'required'` when it must. Default false. */
  register?: boolean | 'required'
  /** By the user's own update (`PATCH /users/me`). Default false. */
  self?: boolean
  /** By a superuser's update (`PATCH /users/{id}`). Default true, but false for a hidden field. */
  admin?: boolean
}

/**
 * Who reads a custom field: `'public'` (the default) puts it in UserRead, so in every answer that
 * returns a user; `'hidden'` keeps it on the server: in `request.currentUser`, the hooks' users and
 * the store, never in an answer.
 */
export type FieldRead = 'public' | 'hidden'

/**
 * A custom user field (a `first_name`, say), declared once: it becomes a column, a property of
 * `request.currentUser`, of the hooks' users and, as its `write` and `read` settings allow, of
 * UserRead/UserCreate/UserUpdate and of the OpenAPI docs.
 *
 * The defaults are safe: a field nobody declared writable is written by a superuser only, never by
 * its own user. `write: { register: true, self: true }` is what fastapi-users does for a field in
 * `UserCreate` and `UserUpdate`; leave `self` out for a `role`, `plan` or `tenant_id`.
 */
export interface FieldSpec<S extends TSchema = TSchema> {
  schema: S
  /** The column accepts NULL and UserRead/UserUpdate accept null. Default false. */
  nullable?: boolean
  /**
   * `'required'`: registration must send it (the same as `write: { register: 'required' }`). Default
   * `'optional'`, which does not make the field writable at registration: `write.register` does.
   */
  onCreate?: 'required' | 'optional'
  /** Where clients may write it. Default `{ admin: true }` (`{}` for a hidden field). */
  write?: FieldWrite
  /** In UserRead (`'public'`, the default) or server-only (`'hidden'`). */
  read?: FieldRead
  /** The SQL type used when the column is created. Default: text for strings, else from the schema type. */
  column?: ColumnType
}

export type UserFields = Record<string, FieldSpec>

/** A route that writes users: registration, the user's own update, a superuser's update. */
export type WritePlace = 'register' | 'self' | 'admin'

/** A field's settings with the defaults applied (see FieldSpec). */
export interface FieldAccess {
  register: false | 'optional' | 'required'
  self: boolean
  admin: boolean
  read: FieldRead
}

/** Where this field may be written and read; a TypeError for settings that contradict each other. */
export function fieldAccess(name: string, spec: FieldSpec): FieldAccess {
  const write = spec.write ?? {}
  const read = spec.read ?? 'public'
  if (read !== 'public' && read !== 'hidden') throw new TypeError(`field ${name}: read must be 'public' or 'hidden'`)
  if (spec.onCreate === 'required' && write.register === false)
    throw new TypeError(`field ${name}: onCreate 'required' contradicts write.register false`)
  const required = spec.onCreate === 'required' || write.register === 'required'
  return {
    register: required ? 'required' : write.register ? 'optional' : false,
    self: write.self === true,
    admin: write.admin ?? read === 'public',
    read,
  }
}

/** The names of the custom fields clients may write at that place. */
export function writableFieldNames(fields: UserFields, place: WritePlace): string[] {
  return Object.entries(fields)
    .filter(([name, spec]) => fieldAccess(name, spec)[place] !== false)
    .map(([name]) => name)
}

/**
 * The client's input without the custom fields it may not write at that place (the base fields
 * are left to the manager's own rules). The routers' schemas already drop them; this says it again
 * where the input reaches the manager.
 */
export function writableInput<T extends object>(input: T, fields: UserFields, place: WritePlace): T {
  const writable = new Set(writableFieldNames(fields, place))
  const result: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    if (!(key in fields) || writable.has(key)) result[key] = value
  }
  return result as T
}

type FieldValue<F extends FieldSpec> = Static<F['schema']> | (F['nullable'] extends true ? null : never)

type RequiredAtRegister<F extends FieldSpec> = F['onCreate'] extends 'required'
  ? true
  : F['write'] extends { register: 'required' }
    ? true
    : false
type WritableAt<F extends FieldSpec, P extends WritePlace> = P extends 'register'
  ? RequiredAtRegister<F> extends true
    ? true
    : F['write'] extends { register: true }
      ? true
      : false
  : P extends 'self'
    ? F['write'] extends { self: true }
      ? true
      : false
    : F['write'] extends { admin: false }
      ? false
      : F['write'] extends { admin: true }
        ? true
        : F['read'] extends 'hidden'
          ? false
          : true

type RequiredOnCreate<F extends UserFields> = {
  [K in keyof F]: RequiredAtRegister<F[K]> extends true ? K : never
}[keyof F]
type WritableFields<F extends UserFields, P extends WritePlace> = {
  [K in keyof F]: WritableAt<F[K], P> extends true ? K : never
}[keyof F]
type PublicFields<F extends UserFields> = {
  [K in keyof F]: F[K]['read'] extends 'hidden' ? never : K
}[keyof F]

export type FieldValues<F extends UserFields> = { -readonly [K in keyof F]: FieldValue<F[K]> }

/** The app's user: the base columns, with ids of its id type (default 'uuid'), and its custom fields, hidden ones included. */
export type UserOf<F extends UserFields, T extends UserIdType = 'uuid'> = Omit<BaseUser, 'id'> & {
  id: IdOf<T>
} & FieldValues<F>

/** What answers show of a user (UserRead): no password hash, no hidden field. */
export type UserReadOf<F extends UserFields> = Omit<BaseUser, 'hashed_password'> & {
  -readonly [K in PublicFields<F>]: FieldValue<F[K]>
}

/** What registration takes (UserCreate). Flags are honoured only by unsafe (superuser/CLI) creation. */
export type UserCreateOf<F extends UserFields> = {
  email: string
  password: string
  is_active?: boolean
  is_superuser?: boolean
  is_verified?: boolean
} & { [K in RequiredOnCreate<F>]: Static<F[K]['schema']> } & {
  [K in Exclude<WritableFields<F, 'register'>, RequiredOnCreate<F>>]?: FieldValue<F[K]>
}

/** What the user's own PATCH takes (UserUpdate). `password: null` is accepted and ignored, as in fastapi-users. */
export type UserUpdateOf<F extends UserFields> = {
  email?: string
  password?: string | null
  is_active?: boolean
  is_superuser?: boolean
  is_verified?: boolean
} & { [K in WritableFields<F, 'self'>]?: FieldValue<F[K]> }

/** What a superuser's PATCH takes (UserUpdateAdmin, the same as UserUpdate when no field differs). */
export type UserUpdateAdminOf<F extends UserFields> = Omit<UserUpdateOf<F>, WritableFields<F, 'self'>> & {
  [K in WritableFields<F, 'admin'>]?: FieldValue<F[K]>
}

/** The flags only a superuser (or the server itself) may set. */
export const PROTECTED_FIELDS = ['is_active', 'is_superuser', 'is_verified'] as const

/** Declares the app's custom fields, keeping their literal settings for the types derived from them. */
export function defineUserFields<const F extends UserFields>(fields: F): F {
  for (const [name, spec] of Object.entries(fields)) fieldAccess(name, spec) // contradictions fail here, at start
  return fields
}
