/**
 * Hosted pages: sign in, sign up, forgot and reset password, e-mail verification and the
 * account page, as one optional Fastify plugin. The pages are server-rendered HTML with one
 * stylesheet and one small script (no inline script, so a strict CSP holds); the script
 * calls the app's own JSON routes with same-origin fetches.
 *
 * Register it at the root so the e-mail links (`/verify?token=…`, `/reset-password?token=…`)
 * land on it: `app.register(hostedPages, { passwordRules: [...], signUpFields: [...] })`.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { requestLocale } from '../fastify/locale.js'
import { validatorCompiler } from '../fastify/validation.js'
import { languageTable, mergeDeep } from '../i18n/catalogue.js'
import { LOCALE_COOKIE, matchLocale } from '../i18n/negotiate.js'
import {
  jsonForHtml,
  type PageField,
  type PagePaths,
  type PasswordRule,
  type RenderContext,
  renderAccount,
  renderConfirmEmailChange,
  renderForgotPassword,
  renderResetPassword,
  renderSignIn,
  renderSignUp,
  renderVerify,
} from './render.js'
import { mergeStrings, type PageStrings, type PageStringsOverride, usernameWording } from './strings.js'

export type { PageField, PagePaths, PasswordRule } from './render.js'
export { type PageStrings, type PageStringsOverride, pageStrings } from './strings.js'

/** The JSON routes the pages call (the reference service's, by default). */
export interface PagesApi {
  /** Form login answering `{access_token}`: a Bearer backend's `/login`. */
  login: string
  logout: string
  register: string
  forgotPassword: string
  resetPassword: string
  requestVerifyToken: string
  verify: string
  me: string
  /** Where the e-mail change page posts its token (EMAIL_CHANGE=confirm). */
  confirmEmailChange: string
  /** The user's sessions (GET, and DELETE `<sessions>/<id>`): the list on /account. */
  sessions: string
  /**
   * The user's recent events (the audit log's `GET /users/me/events`): "Recent activity" on /account,
   * hidden where it answers 404 (no audit store).
   */
  events: string
  /** The second step of the Bearer login (`<login>/2fa`). Default: `login` + `/2fa`. */
  login2fa?: string
  /** The second-factor routes' prefix (GET /auth/2fa, /auth/2fa/totp/…). Default `/auth/2fa`. */
  twoFactor?: string
}

export interface HostedPagesOptions {
  /** Shown in the header and the window title. Default "Account". */
  appName?: string
  /** Where your routers are registered. Default: the reference service's prefixes (`/auth/jwt`, `/auth`, `/users`). */
  api?: Partial<PagesApi>
  /** Your own user fields asked for on sign-up (e.g. `{ name: 'first_name', autocomplete: 'given-name' }`). */
  signUpFields?: PageField[]
  /** Your own user fields shown on /account. Default: the sign-up fields. */
  accountFields?: string[]
  /** The rules of your `validatePassword`, shown with their reasons beside every new-password field. */
  passwordRules?: PasswordRule[]
  /** A rewording of any subset of the English texts (`pageStrings`); `locales.en` does the same. */
  strings?: PageStringsOverride
  /**
   * Texts by language code: a rewording of a built-in language (`de: { signIn: { title: 'Einloggen' } }`),
   * or a complete new language (`it: {...every key of pageStrings}`): one missing a text is a TypeError
   * listing them. The pages speak the request's choice among all of them (`?lang=`, which the language
   * selector sets and a `lang` cookie keeps, then Accept-Language), else `defaultLocale`.
   */
  locales?: Record<string, PageStringsOverride>
  /** The language of requests that ask for none we speak. Default `en`. */
  defaultLocale?: string
  /** Same-origin stylesheets loaded after ours, to theme the pages (override the `--fu-*` variables). */
  stylesheets?: string[]
  /** Where the stylesheet and script are served. Default `/_pages`. */
  assetsPath?: string
  /** Ask for a verification mail right after sign-up. Default true. */
  requestVerificationOnSignUp?: boolean
  /** Also answer `GET /` with a redirect to the account page (the welcome mail links to `/`). Default false. */
  redirectRoot?: boolean
  /** The sessionStorage key of the access token. Default `fastify-users.access_token`. */
  storageKey?: string
  /**
   * Serve `/confirm-email-change`, the page the mails of confirmed e-mail changes link to (the manager's
   * `emailChange: 'confirm'`, with `emailChangeRouter` mounted). Default false.
   */
  confirmEmailChange?: boolean
  /**
   * A "Delete my account" section on /account (password and a confirmation box, then `DELETE` on
   * `api.me`): turn it on where the users router has `selfDelete`. Default false.
   */
  accountDeletion?: boolean
  /**
   * Sign-in takes an e-mail address or a username (the app's `loginIdentifiers` name one): the field
   * is labelled `signIn.emailOrUsername` and takes any text. Default false.
   */
  signInWithUsername?: boolean
  /**
   * Second factors are on (FastifyUsers `secondFactor` and its router): the sign-in page asks for the
   * code when the login answers LOGIN_2FA_REQUIRED, and /account enrols TOTP (QR code) and turns it off.
   */
  twoFactor?: boolean
  /**
   * Passkeys (FastifyUsers' `passkeys` and its routers registered): a "Sign in with a passkey" button on
   * /sign-in (through `api.login`'s backend: `<login>/passkey`) and a passkeys section on /account.
   * `true` for the reference service's routes, or their paths. Off by default.
   */
  passkeys?: boolean | Partial<PasskeysPagesApi>
}

/** The passkey routes the pages call. */
export interface PasskeysPagesApi {
  /** `POST`: request options for a sign-in. Default `<api.login>/passkey/options`. */
  loginOptions: string
  /** `POST`: the sign-in with an assertion. Default `<api.login>/passkey`. */
  login: string
  /** `POST`: creation options. Default `/auth/passkeys/register/options`. */
  registerOptions: string
  /** `POST`: the new passkey. Default `/auth/passkeys/register`. */
  register: string
  /** `GET` the list; `PATCH`/`DELETE` `<list>/<id>`. Default `/auth/passkeys`. */
  list: string
}

const DEFAULT_API: PagesApi = {
  login: '/auth/jwt/login',
  logout: '/auth/jwt/logout',
  register: '/auth/register',
  forgotPassword: '/auth/forgot-password',
  resetPassword: '/auth/reset-password',
  requestVerifyToken: '/auth/request-verify-token',
  verify: '/auth/verify',
  me: '/users/me',
  confirmEmailChange: '/auth/confirm-email-change',
  sessions: '/users/me/sessions',
  events: '/users/me/events',
}

/** The pages' Content-Security-Policy: our own script and stylesheet only, no framing, forms post to us only. */
export const PAGES_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGES_CSP,
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
  vary: 'Accept-Language, Cookie',
}

/** The language selector's choice, kept for a year. */
const localeCookie = (code: string) => `${LOCALE_COOKIE}=${code}; Path=/; Max-Age=31536000; SameSite=Lax`

const asset = (name: string, type: string) => {
  const body = readFileSync(new URL(`./assets/${name}`, import.meta.url))
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` }
}
const ASSETS = {
  'pages.css': asset('pages.css', 'text/css; charset=utf-8'),
  'pages.js': asset('pages.js', 'text/javascript; charset=utf-8'),
  'passkeys.js': asset('passkeys.js', 'text/javascript; charset=utf-8'),
}

/** The pages plugin. Its routes are hidden from the OpenAPI document. */
export const hostedPages: FastifyPluginAsync<HostedPagesOptions> = async (instance, options) => {
  const prefix = instance.prefix.replace(/\/+$/, '')
  const paths: PagePaths = {
    signIn: `${prefix}/sign-in`,
    signUp: `${prefix}/sign-up`,
    forgotPassword: `${prefix}/forgot-password`,
    resetPassword: `${prefix}/reset-password`,
    verify: `${prefix}/verify`,
    account: `${prefix}/account`,
  }
  const assetsPath = (options.assetsPath ?? '/_pages').replace(/\/+$/, '')
  const assetUrl = (name: keyof typeof ASSETS) => `${prefix}${assetsPath}/${name}?v=${ASSETS[name].etag.slice(1, 9)}`
  const locales = { ...options.locales, en: mergeDeep(options.locales?.en ?? {}, options.strings ?? {}) }
  const table = languageTable((m) => m.pages, locales, 'hostedPages')
  const defaultLocale = (options.defaultLocale ?? 'en').toLowerCase()
  if (!table.has(defaultLocale))
    throw new TypeError(
      `hostedPages: defaultLocale "${options.defaultLocale}" is not one of ${[...table.keys()].join(', ')}`,
    )
  const available = [...table.keys()]
  const languages = available.map((code) => ({ code, name: (table.get(code) as PageStrings).languageName }))
  const signUpFields = options.signUpFields ?? []
  const api = { ...DEFAULT_API, ...options.api }
  const twoFactor = options.twoFactor ?? false
  if (twoFactor) {
    api.login2fa ??= `${api.login}/2fa`
    api.twoFactor ??= '/auth/2fa'
  }
  const qrPath = `${prefix}${assetsPath}/qr`
  const passkeys = options.passkeys
    ? {
        loginOptions: `${api.login}/passkey/options`,
        login: `${api.login}/passkey`,
        registerOptions: '/auth/passkeys/register/options',
        register: '/auth/passkeys/register',
        list: '/auth/passkeys',
        ...(options.passkeys === true ? {} : options.passkeys),
      }
    : undefined

  const clientApi = twoFactor ? { ...api, qr: qrPath } : api
  const common = {
    appName: options.appName ?? 'Account',
    paths,
    assets: { css: assetUrl('pages.css'), js: assetUrl('pages.js') },
    stylesheets: options.stylesheets ?? [],
    passwordRules: options.passwordRules ?? [],
    signUpFields,
    signInWithUsername: options.signInWithUsername ?? false,
    accountFields: options.accountFields ?? signUpFields.map((f) => f.name),
    accountDeletion: options.accountDeletion ?? false,
    twoFactor,
    languages,
    ...(passkeys && { passkeys: { js: assetUrl('passkeys.js') } }),
  }

  /** Every page in one language, rendered once: a page carries no per-request data. */
  const renderLanguage = (locale: string) => {
    const translated = table.get(locale) as PageStrings
    // with usernames, the sign-in failure names them too (an app's own wording still wins)
    const strings = options.signInWithUsername ? mergeStrings(translated, usernameWording(translated)) : translated
    const ctx: RenderContext = {
      ...common,
      locale,
      strings,
      clientConfig: jsonForHtml({
        api: clientApi,
        ...(passkeys && { passkeys }),
        paths,
        strings,
        storageKey: options.storageKey ?? 'fastify-users.access_token',
        requestVerificationOnSignUp: options.requestVerificationOnSignUp ?? true,
        signUpFields: signUpFields.map((f) => ({
          name: f.name,
          required: !!f.required,
          whenBlank: f.whenBlank ?? 'omit',
        })),
      }),
    }
    const signIn = new Map<string | undefined, string>([[undefined, renderSignIn(ctx, undefined)]])
    for (const notice of Object.keys(strings.signIn.notices)) signIn.set(notice, renderSignIn(ctx, notice))
    return {
      signIn,
      signUp: renderSignUp(ctx),
      forgotPassword: renderForgotPassword(ctx),
      resetPassword: renderResetPassword(ctx),
      verify: renderVerify(ctx),
      account: renderAccount(ctx),
      confirmEmailChange: options.confirmEmailChange ? renderConfirmEmailChange(ctx) : '',
    }
  }
  const rendered = new Map(available.map((code) => [code, renderLanguage(code)]))

  type Rendered = ReturnType<typeof renderLanguage>
  const route = { schema: { hide: true } }
  /** The page in the request's language; a `?lang=` choice among ours is kept in the `lang` cookie. */
  const page = (path: string, pick: (pages: Rendered, request: FastifyRequest) => string) =>
    instance.get(path, route, async (request, reply) => {
      const locale = requestLocale(request, available) ?? defaultLocale
      const chosen = (request.query as { lang?: unknown }).lang
      if (typeof chosen === 'string' && matchLocale(chosen, available)) reply.header('set-cookie', localeCookie(locale))
      return reply.headers(PAGE_HEADERS).send(pick(rendered.get(locale) as Rendered, request))
    })

  page('/sign-in', (pages, request) => {
    const { notice } = request.query as { notice?: string }
    return pages.signIn.get(notice) ?? (pages.signIn.get(undefined) as string)
  })
  page('/sign-up', (pages) => pages.signUp)
  page('/forgot-password', (pages) => pages.forgotPassword)
  page('/reset-password', (pages) => pages.resetPassword)
  page('/verify', (pages) => pages.verify)
  page('/account', (pages) => pages.account)
  if (options.confirmEmailChange) page('/confirm-email-change', (pages) => pages.confirmEmailChange)
  if (options.redirectRoot) {
    instance.get(prefix ? '' : '/', route, async (_request, reply) => reply.redirect(paths.account, 302))
  }

  // The enrolment's QR code, as SVG markup (the page inserts it: no image URL, so img-src stays 'self').
  // Only otpauth:// URLs, so it renders nothing else; the answer is never cached (it carries a secret).
  // qrcode is loaded at the first enrolment, and the body's validator compiled then (validation.ts).
  if (twoFactor) {
    instance.post(
      `${assetsPath}/qr`,
      {
        validatorCompiler,
        schema: {
          hide: true,
          body: {
            type: 'object',
            required: ['text'],
            properties: { text: { type: 'string', maxLength: 1000, pattern: '^otpauth://' } },
          },
        },
      },
      async (request, reply) => {
        const { toString: qrSvg } = await import('qrcode')
        const svg = await qrSvg((request.body as { text: string }).text, { type: 'svg', margin: 2 })
        return reply.headers({ 'content-type': 'image/svg+xml', 'cache-control': 'no-store' }).send(svg)
      },
    )
  }

  instance.get(`${assetsPath}/:name`, route, async (request, reply) => {
    const file = ASSETS[(request.params as { name: string }).name as keyof typeof ASSETS]
    if (!file) return reply.code(404).send({ detail: 'Not Found' })
    reply.headers({
      'content-type': file.type,
      etag: file.etag,
      'cache-control': 'public, max-age=86400',
      'x-content-type-options': 'nosniff',
    })
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
    return reply.send(file.body)
  })
}

/**
 * A request URL with the values of `token` query parameters replaced, for request logs: the
 * mail links carry tokens in their query (`/verify?token=…`). Use it in your logger's `req`
 * serializer, as the reference service does.
 */
export function redactTokenQuery(url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  return url.slice(0, q) + url.slice(q).replace(/([?&](?:access_)?token=)[^&#]*/gi, '$1[redacted]')
}
