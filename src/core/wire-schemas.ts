import { Type } from 'typebox'

/**
 * The bodies on the wire that more than the routers need (the transports answer with them):
 * plain JSON Schemas, with FastAPI's component names as titles. No Fastify here.
 */

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

/** The body FastAPI answers with when the route returns nothing: `null`. */
export const Null = Type.Null()
