import { type TSchema, Type } from 'typebox'
import type { UserIdType } from '../core/ids.js'
import { storableLimitOf } from '../core/storable.js'
import type { FieldSpec, UserFields } from '../core/user.js'

/** A string that must be a valid e-mail address; validation also normalises it (see validation.ts). */
export const EmailString = () => Type.String({ format: 'email', 'x-email': true })

/** `type: [T, "null"]`: one Ajv error, as pydantic reports for Optional fields, and valid OpenAPI 3.1. */
export function nullable(schema: TSchema): TSchema {
  const { type, ...rest } = schema as { type?: unknown }
  if (typeof type !== 'string') return Type.Union([schema, Type.Null()])
  return { ...rest, type: [type, 'null'] } as unknown as TSchema
}

export interface UserSchemas {
  UserRead: TSchema
  UserCreate: TSchema
  UserUpdate: TSchema
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
 * UserRead, UserCreate and UserUpdate: fastapi-users' base schemas plus the app's custom fields.
 * Ids are UUID strings, or JSON numbers for an integer model (as pydantic's `int`).
 */
export function userSchemas(fields: UserFields = {}, idType: UserIdType = 'uuid'): UserSchemas {
  const read: Record<string, TSchema> = {}
  const create: Record<string, TSchema> = {}
  const update: Record<string, TSchema> = {}
  for (const [name, spec] of Object.entries(fields)) {
    read[name] = spec.nullable ? nullable(spec.schema) : spec.schema
    const stored = storable(spec)
    const value = spec.nullable ? nullable(stored) : stored
    create[name] = spec.onCreate === 'required' ? stored : Type.Optional(value)
    update[name] = Type.Optional(value)
  }
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
    UserCreate: Type.Object(
      {
        email: EmailString(),
        password: Type.String(),
        is_active: Type.Optional(Type.Boolean({ default: true })),
        is_superuser: Type.Optional(Type.Boolean({ default: false })),
        is_verified: Type.Optional(Type.Boolean({ default: false })),
        ...create,
      },
      { title: 'UserCreate' },
    ),
    UserUpdate: Type.Object(
      {
        password: Type.Optional(nullable(Type.String())),
        email: Type.Optional(EmailString()),
        is_active: Type.Optional(Type.Boolean()),
        is_superuser: Type.Optional(Type.Boolean()),
        is_verified: Type.Optional(Type.Boolean()),
        ...update,
      },
      { title: 'UserUpdate' },
    ),
  }
}

export const ErrorModel = Type.Object(
  {
    detail: Type.Union([Type.String(), Type.Record(Type.String(), Type.String())]),
  },
  { title: 'ErrorModel' },
)

const ValidationError = Type.Object(
  {
    loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
    msg: Type.String(),
    type: Type.String(),
    input: Type.Optional(Type.Unknown()),
  },
  { title: 'ValidationError', additionalProperties: true },
)

export const HTTPValidationError = Type.Object(
  { detail: Type.Array(ValidationError) },
  { title: 'HTTPValidationError' },
)

export const BearerResponse = Type.Object(
  { access_token: Type.String(), token_type: Type.String(), refresh_token: Type.Optional(Type.String()) },
  { title: 'BearerResponse' },
)

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

export const Null = Type.Null()

/** The body FastAPI answers with when the route returns nothing: `null`. */
export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(codes.map((code) => [code, code === 422 ? HTTPValidationError : ErrorModel]))
