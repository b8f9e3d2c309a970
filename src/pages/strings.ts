/**
 * Every word the hosted pages show: the `pages` part of a language's catalogue (src/i18n/en.ts is
 * the source, de/fr/es its translations). Plain data, so a translation is one object of the same
 * shape; `{name}` placeholders are filled in by the pages.
 */
import { type DeepPartial, mergeDeep } from '../i18n/catalogue.js'
import { en } from '../i18n/en.js'

export { format } from '../i18n/catalogue.js'

/** The English texts of the pages. */
export const pageStrings = en.pages

export type PageStrings = typeof pageStrings

/**
 * A partial translation or rewording: any subset of `pageStrings`' shape; your own fields' labels
 * and your own error codes' words may be added beside ours.
 */
export type PageStringsOverride = DeepPartial<PageStrings> & {
  fieldLabels?: Record<string, string>
  errors?: Record<string, string>
}

/** `pageStrings` with `override` laid over it, key by key. */
export function mergeStrings(base: PageStrings, override: PageStringsOverride | undefined): PageStrings {
  return mergeDeep(base, override)
}

/** The wording that changes when users may sign in with a username as well as an e-mail address. */
export function usernameWording(strings: PageStrings): PageStringsOverride {
  return { errors: { LOGIN_BAD_CREDENTIALS: strings.signIn.badCredentialsWithUsername } }
}
