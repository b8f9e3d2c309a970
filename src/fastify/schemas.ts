import { type TSchema, Type } from 'typebox'
import type { UserIdType } from '../core/ids.js'
import { storableLimitOf } from '../core/storable.js'
import { type FieldSpec, fieldAccess, type UserFields } from '../core/user.js'
import { BearerResponse, ErrorModel, HTTPValidationError, Null } from '../core/wire-schemas.js'

export { BearerResponse, ErrorModel, HTTPValidationError, Null }

/** A string that must be a valid e-mail address; validation also normalises it (see validation.ts). */
export const EmailString = () => Type.String({ format: 'email', 'x-email': true })

/** `type: [T, "null"]`: one Ajv error, as pydantic reports for Optional fields, and valid OpenAPI 3.1. */
export function nullable(schema: TSchema): TSchema {
  const { type, ...rest } = schema as { type?: unknown }
  if (typeof type !== 'string') return Type.Union([schema, Type.Null()])
  return { ...rest, type: [type, 'null'] } as unknown as TSchema
}

export interface UserSchemas {
  /** Every answer that returns a user: the public fields. */
  UserRead: TSchema
  /** The registration body: the fields writable at registration. */
  UserCreate: TSchema
  /** `POST /users`: a superuser's new user, with the custom fields a superuser may write. */
  UserCreateAdmin: TSchema
  /** `PATCH /users/me`: the fields the user may write. */
  UserUpdate: TSchema
  /** `PATCH /users/{id}`: the fields a superuser may write; UserUpdate itself when they are the same. */
  UserUpdateAdmin: TSchema
}

/**
 * A custom field's schema as clients write it: a string field also says (`x-storable`, checked by
 * validation.ts) that it holds no NUL or unpaired surrogate and fits its column on every database.
 */
function storable(spec: FieldSpec): TSchema {
  if ((spec.schema as { type?: unknown }).type !== 'string') return spec.schema
  return { ...spec.schema, 'x-storable': storableLimitOf(spec.column ?? 'text') ?? {} } as TSchema
}

/**
 * UserRead, UserCreate, UserUpdate and UserUpdateAdmin: fastapi-users' base schemas plus the app's
 * custom fields, each where its `read` and `write` settings allow (core/user.ts, FieldSpec).
 * Ids are UUID strings, or JSON numbers for an integer model (as pydantic's `int`).
 */
export function userSchemas(fields: UserFields = {}, idType: UserIdType = 'uuid'): UserSchemas {
  const read: Record<string, TSchema> = {}
  const create: Record<string, TSchema> = {}
  const self: Record<string, TSchema> = {}
  const admin: Record<string, TSchema> = {}
  const adminCreate: Record<string, TSchema> = {}
  for (const [name, spec] of Object.entries(fields)) {
    const access = fieldAccess(name, spec)
    if (access.read === 'public') read[name] = spec.nullable ? nullable(spec.schema) : spec.schema
    const stored = storable(spec)
    const value = spec.nullable ? nullable(stored) : stored
    if (access.register) create[name] = access.register === 'required' ? stored : Type.Optional(value)
    if (access.self) self[name] = Type.Optional(value)
    if (access.admin) admin[name] = Type.Optional(value)
    if (access.register === 'required') adminCreate[name] = stored
    else if (access.admin || access.register) adminCreate[name] = Type.Optional(value)
  }
  const UserUpdate = userUpdate('UserUpdate', self)
  const sameFields = Object.keys(self).join() === Object.keys(admin).join()
  return {
    UserRead: Type.Object(
      {
        id: idType === 'integer' ? Type.Integer() : Type.String({ format: 'uuid' }),
        email: Type.String({ format: 'email' }),
        is_active: Type.Boolean({ default: true }),
        is_superuser: Type.Boolean({ default: false }),
        is_verified: Type.Boolean({ default: false }),
        ...read,
      },
      { title: 'UserRead' },
    ),
    UserCreate: userCreate('UserCreate', create),
    UserCreateAdmin: userCreate('UserCreateAdmin', adminCreate),
    UserUpdate,
    UserUpdateAdmin: sameFields ? UserUpdate : userUpdate('UserUpdateAdmin', admin),
  }
}

function userCreate(title: string, custom: Record<string, TSchema>): TSchema {
  return Type.Object(
    {
      email: EmailString(),
      password: Type.String(),
      is_active: Type.Optional(Type.Boolean({ default: true })),
      is_superuser: Type.Optional(Type.Boolean({ default: false })),
      is_verified: Type.Optional(Type.Boolean({ default: false })),
      ...custom,
    },
    { title },
  )
}

function userUpdate(title: string, custom: Record<string, TSchema>): TSchema {
  return Type.Object(
    {
      password: Type.Optional(nullable(Type.String())),
      email: Type.Optional(EmailString()),
      is_active: Type.Optional(Type.Boolean()),
      is_superuser: Type.Optional(Type.Boolean()),
      is_verified: Type.Optional(Type.Boolean()),
      ...custom,
    },
    { title },
  )
}

/** Examples of the request and answer bodies, for the OpenAPI document. */
export const EMAIL_EXAMPLE = { email: 'king.arthur@camelot.bt' }
export const REGISTER_EXAMPLE = { email: 'king.arthur@camelot.bt', password: 'guinevere' }
export const USER_EXAMPLE = {
  id: '4bd2c5e0-3c6b-4cb4-a2b8-1a0b8e7f6f9e',
  email: 'king.arthur@camelot.bt',
  is_active: true,
  is_superuser: false,
  is_verified: false,
}

export const EmailBody = (title: string) => Type.Object({ email: EmailString() }, { title })
export const TokenBody = (title: string) => Type.Object({ token: Type.String() }, { title })
export const ResetPasswordBody = Type.Object(
  { token: Type.String(), password: Type.String() },
  { title: 'Body_reset_reset_password_auth_reset_password_post' },
)

/** OAuth2PasswordRequestForm: what the login route reads from the form. */
export const LoginForm = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ pattern: '^password$' })),
    username: Type.String(),
    password: Type.String(),
    scope: Type.Optional(Type.String({ default: '' })),
    client_id: Type.Optional(Type.String()),
    client_secret: Type.Optional(Type.String({ format: 'password' })),
  },
  { title: 'Body_auth_jwt_login_auth_jwt_login_post' },
)
