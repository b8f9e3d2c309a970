import { type DeepPartial, format, languageTable, type Messages } from '../i18n/catalogue.js'
import { en } from '../i18n/en.js'

export interface MailContent {
  subject: string
  text: string
  html: string
}

export interface MailUser {
  email: string
  first_name?: string | null
}

/** Every text of the mails, in one language (a catalogue's `mail` part, e.g. `src/i18n/en.ts`). */
export type MailStrings = Messages['mail']

export interface MailTemplatesOptions {
  /**
   * Texts by language code: a partial rewording laid over a built-in language (`de: { welcome: { subject: 'Hallo!' } }`),
   * or a complete new language (`it: {...every key of the English mail catalogue}`): one missing a text is a TypeError.
   */
  locales?: Record<string, DeepPartial<MailStrings>>
  /** The language of mails whose request asked for none we speak (and of mails no request caused). Default `en`. */
  defaultLocale?: string
}

/** The English texts of the mails. The hosted pages take the titles of the pages a mail link opens from them. */
export const strings: MailStrings = en.mail

/** A second-factor change, as `onFactorChange` reports it. */
export interface SecondFactorChange {
  method: string
  change: 'added' | 'removed'
  by: 'user' | 'admin'
}

/**
 * The mails, in each language: every function takes the language last (a hook's `ctx.locale`); an
 * unknown or absent one gives `defaultLocale`.
 */
export function mailTemplates(options: MailTemplatesOptions = {}) {
  const table = languageTable((m) => m.mail, options.locales, 'mailTemplates')
  const defaultLocale = (options.defaultLocale ?? 'en').toLowerCase()
  if (!table.has(defaultLocale))
    throw new TypeError(
      `mailTemplates: defaultLocale "${options.defaultLocale}" is not one of ${[...table.keys()].join(', ')}`,
    )
  const words = (locale: string | undefined) => {
    const code = locale?.toLowerCase()
    return code && table.has(code)
      ? { code, s: table.get(code) as MailStrings }
      : { code: defaultLocale, s: table.get(defaultLocale) as MailStrings }
  }
  return {
    /** The language codes these templates speak. */
    locales: [...table.keys()],
    defaultLocale,

    welcome(user: MailUser, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      return build(code, s, user, s.welcome, joinUrl(publicUrl, '/'), [])
    },

    verify(user: MailUser, token: string, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      const link = joinUrl(publicUrl, `/verify?token=${encodeURIComponent(token)}`)
      return build(code, s, user, s.verify, link, [s.expires, s.ignore])
    },

    resetPassword(user: MailUser, token: string, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      const link = joinUrl(publicUrl, `/reset-password?token=${encodeURIComponent(token)}`)
      return build(code, s, user, s.reset, link, [s.expires, s.ignore])
    },

    /** To the user, after a password change or reset. */
    passwordChanged(user: MailUser, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      return build(code, s, user, s.passwordChanged, joinUrl(publicUrl, '/'), [s.notYou])
    },

    /** To the address the user had, after an e-mail change: the owner hears of it even if the account was taken. */
    emailChanged(user: MailUser, newEmail: string, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      const texts = { ...s.emailChanged, body: format(s.emailChanged.body, { email: newEmail }) }
      return build(code, s, user, texts, joinUrl(publicUrl, '/'), [s.notYou])
    },

    /**
     * To the new address a user asked for (EMAIL_CHANGE=confirm): the link to /confirm-email-change. Greets
     * by first name, else by the new address: whoever holds that mailbox does not learn the old one.
     */
    emailChange(user: MailUser, newEmail: string, token: string, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      const link = joinUrl(publicUrl, `/confirm-email-change?token=${encodeURIComponent(token)}`)
      const texts = { ...s.emailChange, body: format(s.emailChange.body, { email: newEmail }) }
      const to = { email: newEmail, first_name: user.first_name }
      return build(code, s, to, texts, link, [s.expires, s.ignore])
    },

    /** To the address of an account just deleted (by its owner or a superuser): the last mail it gets from us. */
    accountDeleted(user: MailUser, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      return build(code, s, user, s.accountDeleted, joinUrl(publicUrl, '/'), [s.accountDeleted.notYou])
    },

    /** To the user, when a second factor is added to or removed from the account. */
    secondFactorChanged(user: MailUser, change: SecondFactorChange, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      const method = (s.methods as Record<string, string>)[change.method] ?? change.method
      const texts =
        change.change === 'added'
          ? { ...s.secondFactorAdded, body: format(s.secondFactorAdded.body, { method }) }
          : {
              ...s.secondFactorRemoved,
              body: format(change.by === 'admin' ? s.secondFactorRemoved.bodyByAdmin : s.secondFactorRemoved.body, {
                method,
              }),
            }
      return build(code, s, user, texts, joinUrl(publicUrl, '/'), [s.notYou])
    },

    /** To the user, after a passkey is added to the account. */
    passkeyAdded(user: MailUser, passkeyName: string, publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      const texts = { ...s.passkeyAdded, body: format(s.passkeyAdded.body, { name: passkeyName }) }
      return build(code, s, user, texts, joinUrl(publicUrl, '/account'), [s.notYou])
    },

    /** To the user, after passkeys are removed (by the user, or by a superuser). */
    passkeysRemoved(user: MailUser, passkeyNames: string[], publicUrl: string, locale?: string): MailContent {
      const { code, s } = words(locale)
      const names = passkeyNames.map((n) => `"${n}"`).join(', ')
      const texts = { ...s.passkeysRemoved, body: format(s.passkeysRemoved.body, { names }) }
      return build(code, s, user, texts, joinUrl(publicUrl, '/account'), [s.notYou])
    },
  }
}

export type MailTemplates = ReturnType<typeof mailTemplates>

const builtIn = mailTemplates()
export const welcomeMail = builtIn.welcome
export const verifyMail = builtIn.verify
export const resetPasswordMail = builtIn.resetPassword
export const passwordChangedMail = builtIn.passwordChanged
export const emailChangedMail = builtIn.emailChanged
export const emailChangeMail = builtIn.emailChange
export const accountDeletedMail = builtIn.accountDeleted
export const secondFactorChangedMail = builtIn.secondFactorChanged
export const passkeyAddedMail = builtIn.passkeyAdded
export const passkeysRemovedMail = builtIn.passkeysRemoved

function build(
  lang: string,
  s: MailStrings,
  user: MailUser,
  words: { subject: string; body: string; action: string },
  link: string,
  notes: string[],
): MailContent {
  const greeting = format(s.greeting, { name: user.first_name || user.email })
  const text = `${[greeting, words.body, link, ...notes, s.signature].join('\n\n')}\n`
  const html = `<!doctype html>
<html lang="${escapeHtml(lang)}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(words.subject)}</title></head>
<body style="margin:0;padding:24px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1f2933;background:#ffffff">
<main style="max-width:560px;margin:0 auto">
<p>${escapeHtml(greeting)}</p>
<p>${escapeHtml(words.body)}</p>
<p><a href="${escapeHtml(link)}" style="display:inline-block;padding:10px 18px;background:#1d4ed8;color:#ffffff;text-decoration:none;border-radius:4px">${escapeHtml(words.action)}</a></p>
<p style="font-size:14px;color:#52606d">${escapeHtml(link)}</p>
${notes.map((n) => `<p style="font-size:14px;color:#52606d">${escapeHtml(n)}</p>`).join('\n')}
<p>${escapeHtml(s.signature)}</p>
</main>
</body>
</html>
`
  return { subject: words.subject, text, html }
}

function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}
