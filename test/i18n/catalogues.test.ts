import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import Fastify from 'fastify'
import { AUTH_EVENT_TYPES } from '../../src/core/audit.js'
import { BUILT_IN_LOCALES, catalogues, missingKeys } from '../../src/i18n/catalogue.js'
import { en } from '../../src/i18n/en.js'
import { mailTemplates } from '../../src/mail/templates.js'
import { hostedPages, pageStrings } from '../../src/pages.js'

/** Every text of a catalogue, by dotted path. */
function texts(value: unknown, path = ''): Map<string, string> {
  const out = new Map<string, string>()
  if (typeof value === 'string') return out.set(path, value)
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    for (const [p, t] of texts(inner, path ? `${path}.${key}` : key)) out.set(p, t)
  }
  return out
}
const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

describe('the catalogues', () => {
  const source = texts(en)

  test('the built-in languages are en, de, fr, es', () => {
    assert.deepEqual([...BUILT_IN_LOCALES], ['en', 'de', 'fr', 'es'])
    assert.deepEqual(Object.keys(catalogues).sort(), ['de', 'en', 'es', 'fr'])
  })

  for (const code of BUILT_IN_LOCALES) {
    test(`${code}: every key of en, none empty, the same placeholders, no extra key`, () => {
      const translated = texts(catalogues[code])
      assert.deepEqual([...translated.keys()].sort(), [...source.keys()].sort())
      for (const [path, english] of source) {
        const text = translated.get(path) ?? ''
        assert.notEqual(text.trim(), '', `${code}: ${path} is empty`)
        assert.deepEqual(placeholders(text), placeholders(english), `${code}: ${path} placeholders`)
      }
      assert.equal(catalogues[code]?.pages.lang, code)
    })

    test(`${code}: every audit event type has a label`, () => {
      const labels = catalogues[code]?.pages.activity.types as Record<string, string>
      for (const type of AUTH_EVENT_TYPES) assert.ok(labels[type]?.trim(), `${code}: no label for ${type}`)
      assert.deepEqual(Object.keys(labels).sort(), [...AUTH_EVENT_TYPES].sort())
    })
  }

  test('a translation really is one: most texts differ from English', () => {
    for (const code of ['de', 'fr', 'es'] as const) {
      const translated = texts(catalogues[code])
      const same = [...source].filter(([path, english]) => translated.get(path) === english).map(([p]) => p)
      assert.ok(same.length < 20, `${code}: ${same.length} texts left in English: ${same.join(', ')}`)
    }
  })

  test('missingKeys names each absent or empty text by its path', () => {
    assert.deepEqual(missingKeys({ a: 'x', b: { c: 'y', d: 'z' } }, { a: 'X', b: { c: '' } }), ['b.c', 'b.d'])
    assert.deepEqual(missingKeys(en, en), [])
  })
})

describe('languages of an app', () => {
  const italianPages = {
    ...pageStrings,
    lang: 'it',
    languageName: 'Italiano',
    signIn: { ...pageStrings.signIn, title: 'Accedi' },
  }

  test('a new page language missing keys is refused with the list', async () => {
    const { signIn, errors, ...incomplete } = italianPages
    const app = Fastify()
    await assert.rejects(
      async () => {
        await app.register(hostedPages, { locales: { it: { ...incomplete, errors: { ...errors, NETWORK: '' } } } })
        await app.ready()
      },
      (error: Error) => {
        assert.ok(error instanceof TypeError)
        assert.match(error.message, /^hostedPages: the "it" catalogue is incomplete; it misses: /)
        assert.match(error.message, /signIn\.title, signIn\.emailOrUsername/)
        assert.match(error.message, /errors\.NETWORK/)
        assert.doesNotMatch(error.message, /errors\.UNKNOWN/)
        return true
      },
    )
    await app.close()
  })

  test('a new mail language missing keys is refused with the list', () => {
    const { welcome, ...incomplete } = en.mail
    assert.throws(
      () => mailTemplates({ locales: { it: { ...incomplete, verify: { subject: 'Verifica' } } } }),
      new TypeError(
        'mailTemplates: the "it" catalogue is incomplete; it misses: welcome.subject, welcome.body, welcome.action, verify.body, verify.action',
      ),
    )
    assert.throws(() => mailTemplates({ defaultLocale: 'it' }), /defaultLocale "it" is not one of en, de, fr, es/)
  })

  test('a complete new language is served; a partial one rewords a built-in language', async () => {
    const app = Fastify()
    await app.register(hostedPages, { locales: { it: italianPages, de: { signIn: { title: 'Einloggen' } } } })
    const it = await app.inject({ url: '/sign-in', headers: { 'accept-language': 'it-IT, en;q=0.5' } })
    assert.match(it.body, /<html lang="it">/)
    assert.match(it.body, /<h1 id="fu-title" tabindex="-1">Accedi<\/h1>/)
    assert.match(
      it.body,
      /<a href="\?lang=it" hreflang="it" lang="it" data-lang="it" aria-current="true">Italiano<\/a>/,
    )
    const de = await app.inject({ url: '/sign-in', headers: { 'accept-language': 'de' } })
    assert.match(de.body, /<h1 id="fu-title" tabindex="-1">Einloggen<\/h1>/)
    assert.match(de.body, /Passwort vergessen\?/, 'what the override leaves is German still')
    await app.close()

    const mails = mailTemplates({
      locales: { it: { ...en.mail, welcome: { subject: 'Benvenuto!', body: 'Account creato.', action: 'Apri' } } },
    })
    assert.equal(mails.welcome({ email: 'a@example.com' }, 'https://x.test', 'it').subject, 'Benvenuto!')
    assert.match(mails.welcome({ email: 'a@example.com' }, 'https://x.test', 'it').html, /<html lang="it">/)
    const reworded = mailTemplates({ locales: { de: { welcome: { subject: 'Hallo!' } } } })
    const mail = reworded.welcome({ email: 'a@example.com', first_name: 'Ada' }, 'https://x.test', 'de')
    assert.equal(mail.subject, 'Hallo!')
    assert.match(mail.text, /^Hallo Ada,\n\nIhr Konto wurde angelegt\./)
  })
})

test('every mail, in every language: its subject, greeting, body and notes from that catalogue, placeholders filled', () => {
  const mails = mailTemplates()
  const user = { email: 'ada@example.com', first_name: 'Ada' }
  const url = 'https://x.test'
  for (const code of BUILT_IN_LOCALES) {
    const m = (catalogues[code] as typeof en).mail
    const all = [
      [mails.welcome(user, url, code), m.welcome.subject, m.welcome.body],
      [mails.verify(user, 't', url, code), m.verify.subject, m.verify.body],
      [mails.resetPassword(user, 't', url, code), m.reset.subject, m.reset.body],
      [mails.passwordChanged(user, url, code), m.passwordChanged.subject, m.passwordChanged.body],
      [
        mails.emailChanged(user, 'new@example.com', url, code),
        m.emailChanged.subject,
        m.emailChanged.body.replace('{email}', 'new@example.com'),
      ],
      [
        mails.emailChange(user, 'new@example.com', 't', url, code),
        m.emailChange.subject,
        m.emailChange.body.replace('{email}', 'new@example.com'),
      ],
      [mails.accountDeleted(user, url, code), m.accountDeleted.subject, m.accountDeleted.body],
      [
        mails.secondFactorChanged(user, { method: 'totp', change: 'added', by: 'user' }, url, code),
        m.secondFactorAdded.subject,
        m.secondFactorAdded.body.replace('{method}', m.methods.totp),
      ],
      [
        mails.secondFactorChanged(user, { method: 'passkey', change: 'removed', by: 'user' }, url, code),
        m.secondFactorRemoved.subject,
        m.secondFactorRemoved.body.replace('{method}', m.methods.passkey),
      ],
      [
        mails.passkeyAdded(user, 'Laptop', url, code),
        m.passkeyAdded.subject,
        m.passkeyAdded.body.replace('{name}', 'Laptop'),
      ],
      [
        mails.passkeysRemoved(user, ['A', 'B'], url, code),
        m.passkeysRemoved.subject,
        m.passkeysRemoved.body.replace('{names}', '"A", "B"'),
      ],
    ] as const
    for (const [mail, subject, body] of all) {
      assert.equal(mail.subject, subject, `${code}: ${subject}`)
      const parts = mail.text.split('\n\n')
      assert.equal(parts[0], m.greeting.replace('{name}', 'Ada'))
      assert.equal(parts[1], body)
      assert.equal(parts.at(-1), `${m.signature}\n`)
      assert.doesNotMatch(mail.text, /\{\w+\}/, `${code}: a placeholder left in "${subject}"`)
      assert.match(mail.html, new RegExp(`^<!doctype html>\\n<html lang="${code}">`))
    }
  }
})
