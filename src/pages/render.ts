/**
 * The pages' HTML: template literals, every value escaped on its way in. Pages are rendered
 * without any user data (the browser fills that in from our JSON routes), so a page is the
 * same for everyone and carries no token.
 */

import { escapeHtml } from '../mail/templates.js'
import { format, type PageStrings } from './strings.js'

export interface PageField {
  /** The user field's name, as the register route and /users/me know it (e.g. `first_name`). */
  name: string
  /** The input's autocomplete token, e.g. `given-name`. */
  autocomplete?: string
  /** Must be filled in on sign-up. Default false. */
  required?: boolean
  /** What a blank optional field sends on sign-up: nothing at all (default) or `null`. */
  whenBlank?: 'null' | 'omit'
  maxLength?: number
}

/** A password rule shown beside every new-password field, with its reason; the known kinds are also checked as one types. */
export type PasswordRule =
  | { kind: 'minLength'; value: number }
  | { kind: 'maxLength'; value: number }
  | { kind: 'notContainingEmail' }
  | { kind: 'custom'; text: string; reason?: string }

export interface PagePaths {
  signIn: string
  signUp: string
  forgotPassword: string
  resetPassword: string
  verify: string
  account: string
}

export interface RenderContext {
  appName: string
  /** The language of this rendering (a code of `languages`). */
  locale: string
  strings: PageStrings
  /** The languages of the selector in the footer (none shown with one language). */
  languages: { code: string; name: string }[]
  paths: PagePaths
  assets: { css: string; js: string }
  stylesheets: string[]
  passwordRules: PasswordRule[]
  signUpFields: PageField[]
  /** Sign-in's field takes an e-mail address or a username. */
  signInWithUsername?: boolean
  accountFields: string[]
  /** Serialised once: what pages.js needs (routes, paths, texts). */
  clientConfig: string
  /** The account page offers "Delete my account" (the app registered `DELETE /users/me`). */
  accountDeletion?: boolean
  /** Second factors are on: the sign-in challenge step and the account page's section. */
  twoFactor?: boolean
  /** Passkeys on: the script that drives them (passkeys.js). */
  passkeys?: { js: string }
}

export { escapeHtml }

const h = escapeHtml

/** JSON inside a non-executed `<script type="application/json">` block: no `</script>` can close it early. */
export function jsonForHtml(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
}

function layout(ctx: RenderContext, page: string, title: string, body: string): string {
  const { strings: s } = ctx
  return `<!doctype html>
<html lang="${h(s.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${h(title)} · ${h(ctx.appName)}</title>
<link rel="stylesheet" href="${h(ctx.assets.css)}">
${ctx.stylesheets.map((href) => `<link rel="stylesheet" href="${h(href)}">`).join('\n')}
<script type="application/json" id="fu-config">${ctx.clientConfig}</script>
<script src="${h(ctx.assets.js)}" defer></script>
${ctx.passkeys ? `<script src="${h(ctx.passkeys.js)}" defer></script>\n` : ''}</head>
<body data-page="${h(page)}">
<header class="fu-header"><a class="fu-brand" href="${h(ctx.paths.account)}">${h(ctx.appName)}</a></header>
<main class="fu-card" id="main">
<h1 id="fu-title" tabindex="-1">${h(title)}</h1>
<noscript><p class="fu-alert">${h(s.common.noScript)}</p></noscript>
<div class="fu-alert" id="fu-error" role="alert" tabindex="-1"></div>
<div class="fu-notice" id="fu-status" role="status"></div>
${body}
</main>
${languageSelector(ctx)}
</body>
</html>
`
}

/** Links that switch the page's language (`?lang=`, kept in a cookie); pages.js keeps the rest of the query. */
function languageSelector(ctx: RenderContext): string {
  if (ctx.languages.length < 2) return ''
  const items = ctx.languages.map(({ code, name }) => {
    const current = code === ctx.locale ? ' aria-current="true"' : ''
    return `<li><a href="?lang=${h(encodeURIComponent(code))}" hreflang="${h(code)}" lang="${h(code)}" data-lang="${h(code)}"${current}>${h(name)}</a></li>`
  })
  return `<footer class="fu-footer"><nav class="fu-languages" aria-label="${h(ctx.strings.common.language)}"><ul>${items.join('')}</ul></nav></footer>`
}

function input(
  id: string,
  label: string,
  attrs: { type: string; name: string; autocomplete?: string; required?: boolean; hint?: string; extra?: string },
): string {
  const describedBy = [attrs.hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' ')
  const hint = attrs.hint ? `\n<p class="fu-hint" id="${h(id)}-hint">${h(attrs.hint)}</p>` : ''
  return `<div class="fu-field">
<label for="${h(id)}">${label}</label>${hint}
<input id="${h(id)}" name="${h(attrs.name)}" type="${h(attrs.type)}"${attrs.autocomplete ? ` autocomplete="${h(attrs.autocomplete)}"` : ''}${attrs.required ? ' required' : ''} aria-describedby="${h(describedBy)}"${attrs.extra ?? ''}>
<p class="fu-field-error" id="${h(id)}-error"></p>
</div>`
}

function emailField(ctx: RenderContext, id = 'email'): string {
  return input(id, h(ctx.strings.common.email), {
    type: 'email',
    name: 'email',
    autocomplete: 'email',
    required: true,
    extra: ' inputmode="email" autocapitalize="none" spellcheck="false"',
  })
}

/** Sign-in's field when users may also sign in with a username: any text, named `email` for the script. */
function emailOrUsernameField(ctx: RenderContext): string {
  return input('email', h(ctx.strings.signIn.emailOrUsername), {
    type: 'text',
    name: 'email',
    autocomplete: 'username',
    required: true,
    extra: ' autocapitalize="none" spellcheck="false"',
  })
}

function passwordField(
  ctx: RenderContext,
  id: string,
  label: string,
  kind: 'current' | 'new',
  name = 'password',
): string {
  const s = ctx.strings
  const rules = kind === 'new' ? passwordRules(ctx, id) : ''
  const describedBy = [rules ? `${id}-rules` : '', `${id}-error`].filter(Boolean).join(' ')
  return `<div class="fu-field">
<label for="${h(id)}">${h(label)}</label>
<input id="${h(id)}" name="${h(name)}" type="password" autocomplete="${kind === 'new' ? 'new-password' : 'current-password'}" required aria-describedby="${h(describedBy)}"${kind === 'new' ? ' data-new-password' : ''}>
<p class="fu-field-error" id="${h(id)}-error"></p>
${rules}
<p class="fu-toggle-row"><button type="button" class="fu-toggle" data-toggle-password="${h(id)}" aria-controls="${h(id)}" data-show="${h(s.common.showPassword)}" data-hide="${h(s.common.hidePassword)}" hidden>${h(s.common.showPassword)}</button></p>
</div>`
}

function passwordRules(ctx: RenderContext, id: string): string {
  if (ctx.passwordRules.length === 0) return ''
  const r = ctx.strings.passwordRules
  const items = ctx.passwordRules.map((rule) => {
    let text: string
    let reason: string | undefined
    let data = ''
    if (rule.kind === 'custom') {
      text = rule.text
      reason = rule.reason
    } else if (rule.kind === 'notContainingEmail') {
      ;({ text, reason } = r.notContainingEmail)
      data = ' data-rule="notContainingEmail"'
    } else {
      text = format(r[rule.kind].text, { value: rule.value })
      reason = r[rule.kind].reason
      data = ` data-rule="${rule.kind}" data-value="${rule.value}"`
    }
    return `<li${data}><span class="fu-rule-text">${h(text)}</span>${reason ? ` <span class="fu-rule-reason">— ${h(reason)}</span>` : ''}<span class="fu-visually-hidden fu-rule-state"></span></li>`
  })
  return `<div class="fu-rules" id="${h(id)}-rules"><p class="fu-hint">${h(r.heading)}</p><ul>${items.join('')}</ul></div>`
}

function extraFields(ctx: RenderContext): string {
  return ctx.signUpFields
    .map((f) => {
      const label = ctx.strings.fieldLabels[f.name] ?? f.name
      const optional = f.required ? '' : ` <span class="fu-optional">${h(ctx.strings.common.optional)}</span>`
      const extra = f.maxLength ? ` maxlength="${f.maxLength}"` : ''
      return input(`field-${f.name}`, `${h(label)}${optional}`, {
        type: 'text',
        name: f.name,
        autocomplete: f.autocomplete,
        required: f.required,
        extra: `${extra} data-user-field`,
      })
    })
    .join('\n')
}

function submit(label: string): string {
  return `<button type="submit" class="fu-button">${h(label)}</button>`
}

function donePanel(state: string, title: string, extra = ''): string {
  return `<section data-state="${h(state)}" hidden>
<h2 tabindex="-1" aria-describedby="fu-${h(state)}-message">${h(title)}</h2>
<p data-slot="${h(state)}-message" id="fu-${h(state)}-message"></p>
${extra}
</section>`
}

export function renderSignIn(ctx: RenderContext, notice: string | undefined): string {
  const s = ctx.strings
  const noticeText = notice ? s.signIn.notices[notice] : undefined
  const body = `${noticeText ? `<p class="fu-notice fu-notice--static">${h(noticeText)}</p>` : ''}
<form class="fu-form" data-form="sign-in" method="post" novalidate>
${ctx.signInWithUsername ? emailOrUsernameField(ctx) : emailField(ctx)}
${passwordField(ctx, 'password', s.common.password, 'current')}
${submit(s.signIn.submit)}
</form>
<p class="fu-links"><a href="${h(ctx.paths.forgotPassword)}">${h(s.signIn.forgot)}</a></p>
${ctx.passkeys ? passkeySignIn(ctx) : ''}
<!-- extension point: the OAuth providers' buttons go here once social login exists -->
<p class="fu-links">${h(s.signIn.noAccount)} <a href="${h(ctx.paths.signUp)}">${h(s.signIn.signUpLink)}</a></p>
<p class="fu-links" data-slot="resend-link" hidden><a href="${h(ctx.paths.verify)}">${h(s.verify.resendSubmit)}</a></p>${ctx.twoFactor ? twoFactorChallenge(ctx) : ''}`
  return layout(ctx, 'sign-in', s.signIn.title, body)
}

export function renderSignUp(ctx: RenderContext): string {
  const s = ctx.strings
  const body = `<section data-state="form">
<form class="fu-form" data-form="sign-up" method="post" novalidate>
${emailField(ctx)}
${extraFields(ctx)}
${passwordField(ctx, 'password', s.common.password, 'new')}
${submit(s.signUp.submit)}
</form>
<!-- extension point: the OAuth providers' buttons go here once social login exists -->
<p class="fu-links">${h(s.signUp.haveAccount)} <a href="${h(ctx.paths.signIn)}">${h(s.signUp.signInLink)}</a></p>
</section>
${donePanel('done', s.signUp.doneTitle, `<p><a class="fu-button" href="${h(ctx.paths.signIn)}">${h(s.common.signIn)}</a></p>`)}`
  return layout(ctx, 'sign-up', s.signUp.title, body)
}

export function renderForgotPassword(ctx: RenderContext): string {
  const s = ctx.strings
  const body = `<section data-state="form">
<p>${h(s.forgot.intro)}</p>
<form class="fu-form" data-form="forgot-password" method="post" novalidate>
${emailField(ctx)}
${submit(s.forgot.submit)}
</form>
<p class="fu-links"><a href="${h(ctx.paths.signIn)}">${h(s.common.backToSignIn)}</a></p>
</section>
${donePanel('done', s.forgot.doneTitle, `<p class="fu-links"><a href="${h(ctx.paths.signIn)}">${h(s.common.backToSignIn)}</a></p>`)}`
  return layout(ctx, 'forgot-password', s.forgot.title, body)
}

export function renderResetPassword(ctx: RenderContext): string {
  const s = ctx.strings
  const body = `<section data-state="form">
<p>${h(s.reset.intro)}</p>
<form class="fu-form" data-form="reset-password" method="post" novalidate>
${passwordField(ctx, 'password', s.common.newPassword, 'new')}
${submit(s.reset.submit)}
</form>
</section>
${donePanel('done', s.reset.doneTitle, `<p><a class="fu-button" href="${h(`${ctx.paths.signIn}?notice=password-reset`)}">${h(s.reset.signInLink)}</a></p>`)}
<section data-state="bad-link" hidden>
<p><a class="fu-button" href="${h(ctx.paths.forgotPassword)}">${h(s.reset.requestNew)}</a></p>
</section>`
  return layout(ctx, 'reset-password', s.reset.title, body)
}

export function renderVerify(ctx: RenderContext): string {
  const s = ctx.strings
  const body = `<section data-state="working"><p>${h(s.verify.working)}</p></section>
${donePanel('done', s.verify.doneTitle, `<p><a class="fu-button" data-slot="continue" href="${h(`${ctx.paths.signIn}?notice=verified`)}" data-account="${h(ctx.paths.account)}" data-account-label="${h(s.verify.continueAccount)}">${h(s.verify.continueSignIn)}</a></p>`)}
<section data-state="resend" hidden>
<p data-slot="resend-message"></p>
<form class="fu-form" data-form="resend" method="post" novalidate>
${emailField(ctx)}
${submit(s.verify.resendSubmit)}
</form>
</section>
${donePanel('resent', s.verify.resentTitle)}`
  return layout(ctx, 'verify', s.verify.title, body)
}

/**
 * The account page's sections, in order. Extension point: the sessions issue adds its
 * session list as one more section here, between the password and sign-out sections.
 */
export function renderAccount(ctx: RenderContext): string {
  const s = ctx.strings
  const a = s.account
  const fields = ctx.accountFields
    .map(
      (name) =>
        `<div><dt>${h(s.fieldLabels[name] ?? name)}</dt><dd data-field="${h(name)}" data-empty="${h(a.notSet)}"></dd></div>`,
    )
    .join('\n')
  const sections = [
    `<section aria-labelledby="fu-details-title">
<h2 id="fu-details-title">${h(a.details)}</h2>
<dl class="fu-details">
<div><dt>${h(s.common.email)}</dt><dd data-field="email"></dd></div>
${fields}
<div><dt>${h(a.status)}</dt><dd data-slot="verified" data-yes="${h(a.verified)}" data-no="${h(a.notVerified)}"></dd></div>
</dl>
<p><button type="button" class="fu-button fu-button--secondary" data-action="resend" hidden>${h(a.resend)}</button></p>
</section>`,
    `<section aria-labelledby="fu-email-title">
<h2 id="fu-email-title">${h(a.changeEmail)}</h2>
<form class="fu-form" data-form="change-email" method="post" novalidate>
${input('new-email', h(a.newEmail), { type: 'email', name: 'email', autocomplete: 'email', required: true, extra: ' inputmode="email" autocapitalize="none" spellcheck="false"' })}
${passwordField(ctx, 'email-current-password', a.emailPassword, 'current', 'current_password')}
${submit(a.changeEmailSubmit)}
</form>
</section>`,
    `<section aria-labelledby="fu-password-title">
<h2 id="fu-password-title">${h(a.changePassword)}</h2>
<form class="fu-form" data-form="change-password" method="post" novalidate>
${passwordField(ctx, 'current-password', s.common.currentPassword, 'current', 'current_password')}
${passwordField(ctx, 'new-password', s.common.newPassword, 'new')}
${submit(a.changeSubmit)}
</form>
</section>`,
    `<section aria-labelledby="fu-sessions-title">
<h2 id="fu-sessions-title">${h(a.sessionsHeading)}</h2>
<p>${h(a.sessionsIntro)}</p>
<ul class="fu-sessions" data-slot="sessions"></ul>
<p data-slot="sessions-empty" hidden>${h(a.sessionsEmpty)}</p>
</section>`,
    activitySection(ctx),
    ...(ctx.twoFactor ? [twoFactorSection(ctx)] : []),
    ...(ctx.passkeys ? [passkeysSection(ctx)] : []),
    `<section aria-labelledby="fu-sign-out-title">
<h2 id="fu-sign-out-title">${h(a.signOutHeading)}</h2>
<p>${h(a.signOutIntro)}</p>
<p><button type="button" class="fu-button fu-button--secondary" data-action="sign-out">${h(a.signOut)}</button></p>
</section>`,
  ]
  if (ctx.accountDeletion) sections.push(deleteAccountSection(ctx))
  const body = `<section data-state="loading"><p>${h(a.loading)}</p></section>
<div data-state="ready" hidden>
${sections.join('\n')}
</div>`
  return layout(ctx, 'account', a.title, body)
}

/** "Recent activity": hidden until the user's events load (and for good where the route answers 404). */
function activitySection(ctx: RenderContext): string {
  const t = ctx.strings.activity
  return `<section aria-labelledby="fu-activity-title" data-section="activity" hidden>
<h2 id="fu-activity-title">${h(t.heading)}</h2>
<p>${h(t.intro)}</p>
<ul class="fu-events" data-slot="events"></ul>
<p data-slot="events-empty" hidden>${h(t.empty)}</p>
<p><button type="button" class="fu-button fu-button--secondary" data-action="events-more" hidden>${h(t.showMore)}</button></p>
</section>`
}

/** The page an e-mail change mail links to (`/confirm-email-change?token=…`): it confirms at once. */
export function renderConfirmEmailChange(ctx: RenderContext): string {
  const c = ctx.strings.confirmEmailChange
  const body = `<section data-state="working"><p>${h(c.working)}</p></section>
${donePanel('done', c.doneTitle, `<p><a class="fu-button" href="${h(`${ctx.paths.signIn}?notice=email-changed`)}">${h(c.signIn)}</a></p>`)}
<section data-state="bad-link" hidden>
<p><a class="fu-button" href="${h(ctx.paths.account)}">${h(c.backToAccount)}</a></p>
</section>`
  return layout(ctx, 'confirm-email-change', c.title, body)
}

/** The account page's last section: the password, a confirmation box, then `DELETE /users/me`. */
function deleteAccountSection(ctx: RenderContext): string {
  const s = ctx.strings
  const a = s.account
  return `<section aria-labelledby="fu-delete-title">
<h2 id="fu-delete-title">${h(a.deleteHeading)}</h2>
<p>${h(a.deleteIntro)}</p>
<form class="fu-form" data-form="delete-account" method="post" novalidate>
${passwordField(ctx, 'delete-password', s.common.currentPassword, 'current')}
${ctx.twoFactor ? `<div data-slot="delete-code" hidden>\n${codeField(ctx, 'delete-code', false)}\n</div>` : ''}
<div class="fu-field fu-check">
<input id="delete-confirm" name="confirm" type="checkbox" required aria-describedby="delete-confirm-error">
<label for="delete-confirm">${h(a.deleteConfirm)}</label>
<p class="fu-field-error" id="delete-confirm-error"></p>
</div>
<button type="submit" class="fu-button fu-button--danger">${h(a.deleteSubmit)}</button>
</form>
</section>`
}

function codeField(ctx: RenderContext, id: string, required = true): string {
  return input(id, h(ctx.strings.twoFactor.code), {
    type: 'text',
    name: 'code',
    autocomplete: 'one-time-code',
    required,
    extra: ' inputmode="numeric" autocapitalize="none" spellcheck="false" maxlength="20"',
  })
}

/** The second step of signing in (a user with a second factor): shown by pages.js in place of the form. */
function twoFactorChallenge(ctx: RenderContext): string {
  const t = ctx.strings.twoFactor
  return `
<section data-slot="two-factor" aria-labelledby="fu-2fa-title" hidden>
<h2 id="fu-2fa-title" tabindex="-1">${h(t.challengeTitle)}</h2>
<p>${h(t.challengeIntro)}</p>
<form class="fu-form" data-form="two-factor" method="post" novalidate>
${codeField(ctx, 'two-factor-code')}
${submit(t.verify)}
</form>
</section>`
}

/** The account page's second-factor section: status, TOTP enrolment (QR code, key, recovery codes once), disabling. */
function twoFactorSection(ctx: RenderContext): string {
  const t = ctx.strings.twoFactor
  return `<section aria-labelledby="fu-2fa-title" data-slot="two-factor">
<h2 id="fu-2fa-title">${h(t.heading)}</h2>
<p data-slot="two-factor-status" data-off="${h(t.off)}" data-on="${h(t.on)}"></p>
<p><button type="button" class="fu-button fu-button--secondary" data-action="totp-setup" hidden>${h(t.setUp)}</button></p>
<div data-slot="totp-enrol" hidden>
<p>${h(t.scan)}</p>
<div class="fu-qr" data-slot="totp-qr"></div>
<p>${h(t.secret)}: <code data-slot="totp-secret"></code></p>
<form class="fu-form" data-form="totp-enable" method="post" novalidate>
${codeField(ctx, 'totp-enable-code')}
${submit(t.enable)}
</form>
</div>
<div data-slot="recovery-codes" hidden>
<h3 tabindex="-1">${h(t.recoveryTitle)}</h3>
<p>${h(t.recoveryIntro)}</p>
<ul class="fu-codes" data-slot="recovery-list"></ul>
<p><button type="button" class="fu-button fu-button--secondary" data-action="recovery-done">${h(t.recoveryDone)}</button></p>
</div>
<form class="fu-form" data-form="two-factor-disable" method="post" novalidate hidden>
<p>${h(t.disableIntro)}</p>
${passwordField(ctx, 'disable-password', ctx.strings.common.password, 'current')}
${codeField(ctx, 'disable-code')}
${submit(t.disable)}
</form>
</section>`
}

/** The sign-in page's passkey button (shown by passkeys.js where the browser has WebAuthn). */
function passkeySignIn(ctx: RenderContext): string {
  const p = ctx.strings.passkeys
  return `<div data-slot="passkey-sign-in" hidden>
<p class="fu-or">${h(p.or)}</p>
<p><button type="button" class="fu-button fu-button--secondary" data-action="passkey-sign-in">${h(p.signIn)}</button></p>
</div>`
}

/** The account page's passkeys: the list (filled in by passkeys.js) and the form that adds one. */
function passkeysSection(ctx: RenderContext): string {
  const p = ctx.strings.passkeys
  return `<section aria-labelledby="fu-passkeys-title" data-section="passkeys">
<h2 id="fu-passkeys-title">${h(p.heading)}</h2>
<p>${h(p.intro)}</p>
<p data-slot="passkeys-none" hidden>${h(p.none)}</p>
<ul class="fu-passkeys" data-slot="passkeys"></ul>
<form class="fu-form" data-form="add-passkey" method="post" novalidate>
${input('passkey-name', h(p.nameLabel), { type: 'text', name: 'name', hint: p.nameHint, extra: ' maxlength="100"' })}
${submit(p.add)}
</form>
</section>`
}
