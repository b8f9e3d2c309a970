import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import Fastify from 'fastify'
import { requestLocale } from '../../src/fastify/locale.js'
import { hookContext } from '../../src/fastify/types.js'
import { cookieValue, matchLocale, negotiateLocale, parseAcceptLanguage } from '../../src/i18n/negotiate.js'
import { mailTemplates } from '../../src/mail/templates.js'
import { hostedPages } from '../../src/pages.js'

const OURS = ['en', 'de', 'fr', 'es']
const negotiate = (acceptLanguage?: string, cookie?: string, query?: string) =>
  negotiateLocale({ acceptLanguage, cookie, query }, OURS)

describe('choosing a language', () => {
  test('Accept-Language: the highest q-value among ours wins; equal ones keep their order', () => {
    assert.equal(negotiate('fr;q=0.4, es;q=0.9, de;q=0.8'), 'es')
    assert.equal(negotiate('de, fr'), 'de')
    assert.equal(negotiate('fr;q=1.0, de'), 'fr')
    assert.equal(negotiate('ja, fr;q=0.2'), 'fr', 'a language we lack is passed over')
    assert.equal(negotiate('de;q=0, fr;q=0.1'), 'fr', 'q=0 means "not this one"')
    assert.deepEqual(parseAcceptLanguage(' en-GB ; q=0.5,de-CH,*;q=0.1, x;q=2'), ['de-CH', 'en-GB', '*'])
  })

  test('a region falls back to its language (de-AT → de), an exact regional code first', () => {
    assert.equal(negotiate('de-AT'), 'de')
    assert.equal(negotiate('es-419,es;q=0.9'), 'es')
    assert.equal(negotiate('FR-ca'), 'fr')
    assert.equal(matchLocale('pt-BR', ['pt', 'pt-br']), 'pt-br')
    assert.equal(matchLocale('pt-PT', ['pt', 'pt-br']), 'pt')
    assert.equal(matchLocale('en_US', OURS), 'en')
  })

  test('unknown, empty or malformed: none of ours (the caller uses its default)', () => {
    assert.equal(negotiate('ja, zh-CN'), undefined)
    assert.equal(negotiate(''), undefined)
    assert.equal(negotiate(undefined), undefined)
    assert.equal(negotiate('*'), undefined)
    assert.equal(negotiate(';;;,,,q=1'), undefined)
    assert.equal(negotiate('d e'), undefined)
  })

  test('the lang cookie beats the header; ?lang= beats the cookie; bad values are ignored', () => {
    assert.equal(negotiate('de', 'fr'), 'fr')
    assert.equal(negotiate('de', 'fr', 'es'), 'es')
    assert.equal(negotiate('de', 'xx'), 'de', 'a cookie naming no language of ours')
    assert.equal(negotiate('de', '<script>'), 'de')
    assert.equal(negotiate('de', 'fr', '../../etc'), 'fr', 'a bad ?lang= leaves the cookie')
    assert.equal(negotiate(undefined, 'es-MX'), 'es')
    assert.equal(cookieValue('a=1; lang=de; b=2', 'lang'), 'de')
    assert.equal(cookieValue('xlang=de', 'lang'), undefined)
    assert.equal(cookieValue('lang=%E0%A4%A', 'lang'), undefined)
  })
})

describe("a request's locale, as hooks get it", () => {
  test("hookContext(request).locale: the choice among the app's languages (FastifyUsers locales), else none", async () => {
    const app = Fastify()
    app.decorate('fastifyUsersLocales', ['en', 'it'])
    app.get('/probe', async (request) => ({
      hook: hookContext(request).locale ?? null,
      builtIn: requestLocale(request, ['en', 'de', 'fr', 'es']) ?? null,
    }))
    const probe = async (headers: Record<string, string>, url = '/probe') => (await app.inject({ url, headers })).json()
    assert.deepEqual(await probe({ 'accept-language': 'it-CH, de;q=0.5' }), { hook: 'it', builtIn: 'de' })
    assert.deepEqual(await probe({ 'accept-language': 'ja' }), { hook: null, builtIn: null })
    assert.deepEqual(await probe({ 'accept-language': 'it', cookie: 'lang=en' }), { hook: 'en', builtIn: 'en' })
    assert.deepEqual(await probe({ cookie: 'lang=fr' }, '/probe?lang=it'), { hook: 'it', builtIn: 'fr' })
    await app.close()
  })
})

describe('the pages and mails follow it', () => {
  test('html lang, Vary, the cookie a ?lang= choice sets, and the selector', async () => {
    const app = Fastify()
    await app.register(hostedPages)
    const german = await app.inject({ url: '/sign-in', headers: { 'accept-language': 'de-AT,en;q=0.5' } })
    assert.equal(german.statusCode, 200)
    assert.match(german.body, /<html lang="de">/)
    assert.match(german.body, /<h1 id="fu-title" tabindex="-1">Anmelden<\/h1>/)
    assert.equal(german.headers.vary, 'Accept-Language, Cookie')
    assert.equal(german.headers['set-cookie'], undefined, 'a header choice sets no cookie')
    assert.match(german.body, /<nav class="fu-languages" aria-label="Sprache"><ul>/)
    for (const [code, name] of [
      ['en', 'English'],
      ['de', 'Deutsch'],
      ['fr', 'Français'],
      ['es', 'Español'],
    ]) {
      assert.match(
        german.body,
        new RegExp(`<a href="\\?lang=${code}" hreflang="${code}" lang="${code}" data-lang="${code}"`),
      )
      assert.ok(german.body.includes(`>${name}</a>`), name)
    }
    assert.match(german.body, /data-lang="de" aria-current="true">Deutsch/)

    const chosen = await app.inject({ url: '/sign-up?lang=fr', headers: { 'accept-language': 'de' } })
    assert.match(chosen.body, /<html lang="fr">/)
    assert.equal(chosen.headers['set-cookie'], 'lang=fr; Path=/; Max-Age=31536000; SameSite=Lax')
    const kept = await app.inject({ url: '/account', headers: { 'accept-language': 'de', cookie: 'lang=fr' } })
    assert.match(kept.body, /<html lang="fr">/)
    assert.match(kept.body, /<h1 id="fu-title" tabindex="-1">Votre compte<\/h1>/)

    const bad = await app.inject({ url: '/sign-in?lang=xx', headers: { 'accept-language': 'es', cookie: 'lang=<b>' } })
    assert.equal(bad.statusCode, 200)
    assert.match(bad.body, /<html lang="es">/)
    assert.equal(bad.headers['set-cookie'], undefined)
    const none = await app.inject({ url: '/forgot-password', headers: { 'accept-language': 'ja' } })
    assert.match(none.body, /<html lang="en">/)
    assert.match(none.body, /<h1 id="fu-title" tabindex="-1">Forgot your password\?<\/h1>/)
    await app.close()
  })

  test("the client script gets the page language's texts, and no event label is left English", async () => {
    const app = Fastify()
    await app.register(hostedPages, { defaultLocale: 'es' })
    const res = await app.inject({ url: '/account' })
    assert.match(res.body, /<html lang="es">/)
    const config = JSON.parse(
      res.body.match(/<script type="application\/json" id="fu-config">(.*?)<\/script>/)?.[1] ?? '',
    )
    assert.equal(config.strings.lang, 'es')
    assert.equal(config.strings.errors.LOGIN_BAD_CREDENTIALS.startsWith('El correo electrónico'), true)
    assert.equal(config.strings.activity.types['login.failed'], 'Intento de inicio de sesión')
    assert.equal(config.api.events, '/users/me/events')
    assert.match(res.body, /<section aria-labelledby="fu-activity-title" data-section="activity" hidden>/)
    await app.close()
    await assert.rejects(async () => {
      const other = Fastify()
      await other.register(hostedPages, { defaultLocale: 'it' })
      await other.ready()
    }, /hostedPages: defaultLocale "it" is not one of en, de, fr, es/)
  })

  test('mails: the language asked for, else the default; the html says which', () => {
    const mails = mailTemplates({ defaultLocale: 'fr' })
    const user = { email: 'ada@example.com', first_name: 'Ada' }
    assert.equal(mails.verify(user, 't', 'https://x.test', 'de').subject, 'Bestätigen Sie Ihre E-Mail-Adresse')
    assert.equal(mails.verify(user, 't', 'https://x.test', 'ja').subject, 'Confirmez votre adresse e-mail')
    assert.equal(mails.verify(user, 't', 'https://x.test').subject, 'Confirmez votre adresse e-mail')
    const es = mails.secondFactorChanged(
      user,
      { method: 'totp', change: 'removed', by: 'admin' },
      'https://x.test',
      'es',
    )
    assert.match(
      es.text,
      /^Hola, Ada:\n\nUn administrador acaba de quitar un segundo factor \(aplicación de autenticación\)/,
    )
    assert.match(es.html, /<html lang="es">/)
  })
})
