/**
 * The built-in catalogues and what an app does with its own: a partial override laid over a built-in
 * language, or a new language that must be complete (checked at start, a TypeError naming every key
 * it misses).
 */
import { de } from './de.js'
import { en, type Messages } from './en.js'
import { es } from './es.js'
import { fr } from './fr.js'

export type { Messages } from './en.js'

/** The languages the pages and mails speak out of the box, English first (the source and fallback). */
export const BUILT_IN_LOCALES = ['en', 'de', 'fr', 'es'] as const

export const catalogues: Readonly<Record<string, Messages>> = { en, de, fr, es }

/** Any subset of a catalogue's shape: a rewording, or a complete new language. */
export type DeepPartial<T> = T extends string ? string : { [K in keyof T]?: DeepPartial<T[K]> }

/** `base` with `override` laid over it, key by key (neither is changed). */
export function mergeDeep<T>(base: T, override: unknown): T {
  if (override === undefined) return base
  if (typeof override !== 'object' || override === null) return override as T
  if (typeof base !== 'object' || base === null) return override as T
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const [key, value] of Object.entries(override)) out[key] = mergeDeep(out[key], value)
  return out as T
}

/** The dotted paths of every text of `reference` that `candidate` lacks or leaves empty. */
export function missingKeys(reference: unknown, candidate: unknown, path = ''): string[] {
  if (typeof reference === 'string') return typeof candidate === 'string' && candidate !== '' ? [] : [path]
  const missing: string[] = []
  const given = typeof candidate === 'object' && candidate !== null ? (candidate as Record<string, unknown>) : {}
  for (const [key, value] of Object.entries(reference as Record<string, unknown>)) {
    missing.push(...missingKeys(value, given[key], path ? `${path}.${key}` : key))
  }
  return missing
}

/**
 * One catalogue part (`pages` or `mail`) for every language: the built-in ones with the app's
 * overrides, and the app's new languages, refused with a TypeError when one misses a text.
 */
export function languageTable<T>(
  part: (messages: Messages) => T,
  locales: Record<string, DeepPartial<T> | undefined> | undefined,
  owner: string,
): Map<string, T> {
  const table = new Map<string, T>()
  for (const [code, messages] of Object.entries(catalogues)) table.set(code, part(messages))
  for (const [rawCode, texts] of Object.entries(locales ?? {})) {
    const code = rawCode.toLowerCase()
    if (!/^[a-z]{2,3}(-[a-z0-9]{2,8})*$/.test(code))
      throw new TypeError(`${owner}: "${rawCode}" is not a language code (e.g. "it" or "pt-br")`)
    const built = table.get(code)
    if (built) {
      table.set(code, mergeDeep(built, texts))
      continue
    }
    const missing = missingKeys(part(en), texts)
    if (missing.length)
      throw new TypeError(`${owner}: the "${rawCode}" catalogue is incomplete; it misses: ${missing.join(', ')}`)
    table.set(code, texts as T)
  }
  return table
}

/** `{name}` placeholders filled in; unknown names stay as they are. */
export function format(template: string, values: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    values[name] === undefined ? whole : String(values[name]),
  )
}
