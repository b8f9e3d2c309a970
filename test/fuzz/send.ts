/**
 * Turns a generated request into `inject` options: placeholders replaced with the batch's real
 * ids and tokens, JWTs signed by hand (any header, any HMAC, duplicate keys), header values
 * reduced to the bytes HTTP can carry.
 */
import { createHmac } from 'node:crypto'
import type { InjectOptions } from 'fastify'
import type { Body, FuzzRequest, JwtSpec, Query, Value } from './arbitraries.js'

/** The run-time values behind the placeholders (`%%victim.id%%` → `victim.id`). */
export type Refs = Record<string, string>

const PLACEHOLDER = /%%([a-z.-]+)%%(?::(plain|upper|hex|braces|urn|space|trunc|extra))?/g

/** Placeholders replaced; a `:spelling` suffix writes an id another way (as Python's uuid.UUID would read it, or not). */
export function resolve(text: string, refs: Refs): string {
  return text.replace(PLACEHOLDER, (_all, name: string, how: string | undefined) => {
    const value = refs[name] ?? ''
    switch (how) {
      case 'upper':
        return value.toUpperCase()
      case 'hex':
        return value.replaceAll('-', '')
      case 'braces':
        return `{${value}}`
      case 'urn':
        return `urn:uuid:${value}`
      case 'space':
        return ` ${value} `
      case 'trunc':
        return value.slice(0, -1)
      case 'extra':
        return `${value}0`
      default:
        return value
    }
  })
}

function resolveDeep(value: unknown, refs: Refs, now: number): unknown {
  if (typeof value === 'string') {
    if (value === 'past') return now - 3600
    if (value === 'future') return now + 3600
    if (value === 'now') return now
    return resolve(value, refs)
  }
  if (Array.isArray(value)) return value.map((v) => resolveDeep(v, refs, now))
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveDeep(v, refs, now)]))
  }
  return value
}

const b64 = (text: string) => Buffer.from(text).toString('base64url')

/** A JWT as described: header and payload as given (plus raw extra members), signed with the chosen key. */
export function signJwt(spec: JwtSpec, refs: Refs, secret: string): string {
  const { header, claims, extra, key, hash } = spec.jwt
  const now = Math.floor(Date.now() / 1000)
  const payloadObject = JSON.stringify(resolveDeep(claims, refs, now))
  const payload =
    extra.length === 0
      ? payloadObject
      : `${payloadObject.slice(0, -1)}${payloadObject === '{}' ? '' : ','}${extra.join(',')}}`
  const signingInput = `${b64(JSON.stringify(header))}.${b64(payload)}`
  if (key === 'unsigned') return `${signingInput}.`
  if (key === 'garbage-signature') return `${signingInput}.${b64('not a signature')}`
  const signature = createHmac(hash, key === 'secret' ? secret : 'another-secret-entirely-0123456789')
    .update(signingInput)
    .digest('base64url')
  return `${signingInput}.${signature}`
}

function textOf(value: Value, refs: Refs, secret: string): string {
  return typeof value === 'string' ? resolve(value, refs) : signJwt(value, refs, secret)
}

/** What an HTTP/1.1 header can carry: no CR, LF or NUL; UTF-8 arrives as Latin-1 bytes, as Node reads it. */
function headerValue(text: string): string {
  return Buffer.from(text.replace(/[\r\n]/g, '').replaceAll(String.fromCharCode(0), ''), 'utf8').toString('latin1')
}

function queryString(query: Query, refs: Refs, secret: string): string {
  const parts = query.pairs.map(([k, v]) => {
    const value = textOf(v, refs, secret)
    return query.encode ? `${encodeURIComponent(k)}=${percentEncode(value)}` : `${k}=${value}`
  })
  if (query.raw) parts.push(query.raw)
  return parts.length ? `?${parts.join('&')}` : ''
}

function percentEncode(value: string): string {
  return [...Buffer.from(value)]
    .map((b) =>
      /[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`,
    )
    .join('')
}

/** Bytes on the wire for the URL: anything outside printable ASCII percent-encoded, as a client library would. */
function urlBytes(text: string): string {
  return [...Buffer.from(text)]
    .map((b) => (b > 0x20 && b < 0x7f ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`))
    .join('')
}

function payloadOf(body: Body, refs: Refs): string | Buffer {
  switch (body.kind) {
    case 'json-text':
    case 'form':
      return resolve(body.text, refs)
    case 'bytes':
      return Buffer.from(body.bytes)
    case 'big':
      return Buffer.alloc(body.size, body.fill)
    case 'multipart': {
      const lines = body.parts.map((part) => {
        const file = part.filename === undefined ? '' : `; filename="${part.filename}"`
        return `--${body.boundary}\r\nContent-Disposition: form-data; name="${part.name}"${file}\r\n\r\n${resolve(part.value, refs)}\r\n`
      })
      return `${lines.join('')}--${body.boundary}--\r\n`
    }
  }
}

/** The `inject` options for one generated request. */
export function toInject(request: FuzzRequest, refs: Refs, secret: string): InjectOptions {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) headers[name] = headerValue(textOf(value, refs, secret))
  let contentType = request.contentType
  if (request.body?.kind === 'multipart' && contentType === undefined) {
    contentType = `multipart/form-data; boundary=${request.body.boundary}`
  }
  if (contentType !== undefined) headers['content-type'] = headerValue(contentType)
  const url = urlBytes(resolve(request.path, refs)) + urlBytes(queryString(request.query, refs, secret))
  return {
    method: request.method as InjectOptions['method'],
    url,
    headers,
    ...(request.body ? { payload: payloadOf(request.body, refs) } : {}),
  }
}
