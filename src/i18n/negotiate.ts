/**
 * Which of the app's languages a request gets: an explicit choice (`?lang=`, then the `lang`
 * cookie) when it names one of them, else the best of `Accept-Language` by q-value, a regional
 * tag falling back to its language (`de-AT` → `de`), else none (the caller's default).
 */

/** The name of the cookie the pages' language selector sets. */
export const LOCALE_COOKIE = 'lang'

export interface LocaleSources {
  /** `?lang=` of the request. */
  query?: string | undefined
  /** The `lang` cookie's value. */
  cookie?: string | undefined
  /** The `Accept-Language` header. */
  acceptLanguage?: string | undefined
}

/** `available`'s code for a language tag (`de-AT` → `de`, `pt-BR` → `pt-br` or `pt`), if any. */
export function matchLocale(tag: string, available: readonly string[]): string | undefined {
  const wanted = tag.trim().toLowerCase().replace(/_/g, '-')
  if (!/^[a-z]{1,8}(-[a-z0-9]{1,8})*$/.test(wanted)) return undefined
  const exact = available.find((code) => code.toLowerCase() === wanted)
  if (exact) return exact
  const primary = wanted.split('-')[0]
  return available.find((code) => code.toLowerCase() === primary)
}

/** The tags of an `Accept-Language` header, best first (q=0 dropped; equal q-values keep their order). */
export function parseAcceptLanguage(header: string | undefined): string[] {
  if (!header) return []
  const ranges: { tag: string; q: number; index: number }[] = []
  for (const [index, part] of header.slice(0, 1000).split(',').entries()) {
    const [tag = '', ...params] = part.trim().split(';')
    let q = 1
    for (const param of params) {
      const [name, value] = param.trim().split('=')
      if (name?.trim() === 'q') q = /^\s*(0(\.\d{0,3})?|1(\.0{0,3})?)\s*$/.test(value ?? '') ? Number(value) : 0
    }
    if (tag.trim() && q > 0) ranges.push({ tag: tag.trim(), q, index })
  }
  return ranges.sort((a, b) => b.q - a.q || a.index - b.index).map((r) => r.tag)
}

/** The request's language among `available`, or undefined when it asked for none of them. */
export function negotiateLocale(sources: LocaleSources, available: readonly string[]): string | undefined {
  for (const explicit of [sources.query, sources.cookie]) {
    const chosen = explicit && matchLocale(explicit, available)
    if (chosen) return chosen
  }
  for (const tag of parseAcceptLanguage(sources.acceptLanguage)) {
    if (tag === '*') return undefined
    const match = matchLocale(tag, available)
    if (match) return match
  }
  return undefined
}

/** A cookie's value from a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq > 0 && pair.slice(0, eq).trim() === name) {
      const value = pair.slice(eq + 1).trim()
      try {
        return decodeURIComponent(value)
      } catch {
        return undefined
      }
    }
  }
  return undefined
}
