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
 * A custom user field (a `first_name`, say), declared once: it becomes a column, a property
 * of UserRead/UserCreate/UserUpdate, of `request.currentUser`, of the hooks' users and of the OpenAPI docs.
 */
export interface FieldSpec<S extends TSchema = TSchema> {
  schema: S
  /** The column accepts NULL and UserRead/UserUpdate accept null. Default false. */
  nullable?: boolean
  /** Must registration send it? Default 'optional' (it is then null, or the column's default). */
  onCreate?: 'required' | 'optional'
  /** The SQL type used when the column is created. Default: text for strings, else from the schema type. */
  column?: ColumnType
}

export type UserFields = Record<string, FieldSpec>

type FieldValue<F extends FieldSpec> = Static<F['schema']> | (F['nullable'] extends true ? null : never)
type RequiredOnCreate<F extends UserFields> = {
  [K in keyof F]: F[K]['onCreate'] extends 'required' ? K : never
}[keyof F]

export type FieldValues<F extends UserFields> = { -readonly [K in keyof F]: FieldValue<F[K]> }

/** The app's user: the base columns, with ids of its id type (default 'uuid'), and its custom fields. */
export type UserOf<F extends UserFields, T extends UserIdType = 'uuid'> = Omit<BaseUser, 'id'> & {
  id: IdOf<T>
} & FieldValues<F>

/** What registration takes (UserCreate). Flags are honoured only by unsafe (superuser/CLI) creation. */
export type UserCreateOf<F extends UserFields> = {
  email: string
  password: string
  is_active?: boolean
  is_superuser?: boolean
  is_verified?: boolean
} & { [K in RequiredOnCreate<F>]: Static<F[K]['schema']> } & {
  [K in Exclude<keyof F, RequiredOnCreate<F>>]?: FieldValue<F[K]>
}

/** What PATCH takes (UserUpdate). `password: null` is accepted and ignored, as in fastapi-users. */
export type UserUpdateOf<F extends UserFields> = {
  email?: string
  password?: string | null
  is_active?: boolean
  is_superuser?: boolean
  is_verified?: boolean
} & { [K in keyof F]?: FieldValue<F[K]> }

/** The flags only a superuser (or the server itself) may set. */
export const PROTECTED_FIELDS = ['is_active', 'is_superuser', 'is_verified'] as const

/** Declares the app's custom fields, keeping their literal settings for the types derived from them. */
export function defineUserFields<const F extends UserFields>(fields: F): F {
  return fields
}
