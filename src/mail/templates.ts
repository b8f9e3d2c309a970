export interface MailContent {
  subject: string
  text: string
  html: string
}

export interface MailUser {
  email: string
  first_name?: string | null
}

// All user-facing wording of the mails lives here so it can be translated in one place; the
// hosted pages' texts (src/pages/strings.ts) take their titles from it.
export const strings = {
  greeting: (name: string) => `Hello ${name},`,
  signature: 'See you soon!',
  ignore: 'If you did not request this, you can safely ignore this e-mail.',
  expires: 'This link expires in one hour.',
  welcome: {
    subject: 'Welcome!',
    body: 'Your account has been created.',
    action: 'Open the application',
  },
  verify: {
    subject: 'Verify your e-mail address',
    body: 'Please confirm your e-mail address by opening the link below.',
    action: 'Verify my e-mail address',
  },
  reset: {
    subject: 'Reset your password',
    body: 'We received a request to reset your password. Choose a new one by opening the link below.',
    action: 'Reset my password',
  },
  passwordChanged: {
    subject: 'Your password was changed',
    body: 'The password of your account has just been changed, and every session signed in with the old one has been ended.',
    action: 'Open the application',
  },
  emailChanged: {
    subject: 'Your e-mail address was changed',
    body: (newEmail: string) => `The e-mail address of your account has just been changed to ${newEmail}.`,
    action: 'Open the application',
  },
  notYou: 'If you did not do this, reset your password at once, or contact us.',
  emailChange: {
    subject: 'Confirm your new e-mail address',
    body: (newEmail: string) =>
      `You asked to use ${newEmail} as the e-mail address of your account. Confirm it by opening the link below; until then your account keeps its current address.`,
    action: 'Confirm my new e-mail address',
  },
  accountDeleted: {
    subject: 'Your account was deleted',
    body: 'Your account and everything linked to it have just been deleted, and every session of it has been ended. You are welcome to create a new account at any time.',
    action: 'Open the application',
    notYou: 'If you did not do this, contact us at once.',
  },
  secondFactorAdded: {
    subject: 'Two-step verification was turned on',
    body: (method: string) => `A second factor (${method}) was just added to your account: signing in now asks for it.`,
    action: 'Open the application',
  },
  secondFactorRemoved: {
    subject: 'Two-step verification was turned off',
    body: (method: string, byAdmin: boolean) =>
      `A second factor (${method}) was just removed from your account${byAdmin ? ' by an administrator' : ''}.`,
    action: 'Open the application',
  },
  passkeyAdded: {
    subject: 'A passkey was added to your account',
    body: (name: string) => `A passkey named "${name}" has just been added to your account: it can sign you in.`,
    action: 'Review your passkeys',
  },
  passkeysRemoved: {
    subject: 'A passkey was removed from your account',
    body: (names: string) => `These passkeys were removed from your account and sign you in no more: ${names}.`,
    action: 'Review your passkeys',
  },
}

export function welcomeMail(user: MailUser, publicUrl: string): MailContent {
  return build(user, strings.welcome, joinUrl(publicUrl, '/'), [])
}

export function verifyMail(user: MailUser, token: string, publicUrl: string): MailContent {
  const link = joinUrl(publicUrl, `/verify?token=${encodeURIComponent(token)}`)
  return build(user, strings.verify, link, [strings.expires, strings.ignore])
}

export function resetPasswordMail(user: MailUser, token: string, publicUrl: string): MailContent {
  const link = joinUrl(publicUrl, `/reset-password?token=${encodeURIComponent(token)}`)
  return build(user, strings.reset, link, [strings.expires, strings.ignore])
}

/** To the user, after a password change or reset. */
export function passwordChangedMail(user: MailUser, publicUrl: string): MailContent {
  return build(user, strings.passwordChanged, joinUrl(publicUrl, '/'), [strings.notYou])
}

/** To the address the user had, after an e-mail change: the owner hears of it even if the account was taken. */
export function emailChangedMail(user: MailUser, newEmail: string, publicUrl: string): MailContent {
  const words = { ...strings.emailChanged, body: strings.emailChanged.body(newEmail) }
  return build(user, words, joinUrl(publicUrl, '/'), [strings.notYou])
}

/**
 * To the new address a user asked for (EMAIL_CHANGE=confirm): the link to /confirm-email-change. Greets
 * by first name, else by the new address: whoever holds that mailbox does not learn the old one.
 */
export function emailChangeMail(user: MailUser, newEmail: string, token: string, publicUrl: string): MailContent {
  const link = joinUrl(publicUrl, `/confirm-email-change?token=${encodeURIComponent(token)}`)
  const words = { ...strings.emailChange, body: strings.emailChange.body(newEmail) }
  return build({ email: newEmail, first_name: user.first_name }, words, link, [strings.expires, strings.ignore])
}

/** To the address of an account just deleted (by its owner or a superuser): the last mail it gets from us. */
export function accountDeletedMail(user: MailUser, publicUrl: string): MailContent {
  return build(user, strings.accountDeleted, joinUrl(publicUrl, '/'), [strings.accountDeleted.notYou])
}

/** To the user, when a second factor is added to or removed from the account. */
export function secondFactorChangedMail(
  user: MailUser,
  change: { method: string; change: 'added' | 'removed'; by: 'user' | 'admin' },
  publicUrl: string,
): MailContent {
  const method = change.method === 'totp' ? 'authenticator app' : change.method
  const words =
    change.change === 'added'
      ? { ...strings.secondFactorAdded, body: strings.secondFactorAdded.body(method) }
      : { ...strings.secondFactorRemoved, body: strings.secondFactorRemoved.body(method, change.by === 'admin') }
  return build(user, words, joinUrl(publicUrl, '/'), [strings.notYou])
}

/** To the user, after a passkey is added to the account. */
export function passkeyAddedMail(user: MailUser, passkeyName: string, publicUrl: string): MailContent {
  const words = { ...strings.passkeyAdded, body: strings.passkeyAdded.body(passkeyName) }
  return build(user, words, joinUrl(publicUrl, '/account'), [strings.notYou])
}

/** To the user, after passkeys are removed (by the user, or by a superuser). */
export function passkeysRemovedMail(user: MailUser, passkeyNames: string[], publicUrl: string): MailContent {
  const words = {
    ...strings.passkeysRemoved,
    body: strings.passkeysRemoved.body(passkeyNames.map((n) => `"${n}"`).join(', ')),
  }
  return build(user, words, joinUrl(publicUrl, '/account'), [strings.notYou])
}

function build(
  user: MailUser,
  words: { subject: string; body: string; action: string },
  link: string,
  notes: string[],
): MailContent {
  const greeting = strings.greeting(user.first_name || user.email)
  const text = `${[greeting, words.body, link, ...notes, strings.signature].join('\n\n')}\n`
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(words.subject)}</title></head>
<body style="margin:0;padding:24px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1f2933;background:#ffffff">
<main style="max-width:560px;margin:0 auto">
<p>${escapeHtml(greeting)}</p>
<p>${escapeHtml(words.body)}</p>
<p><a href="${escapeHtml(link)}" style="display:inline-block;padding:10px 18px;background:#1d4ed8;color:#ffffff;text-decoration:none;border-radius:4px">${escapeHtml(words.action)}</a></p>
<p style="font-size:14px;color:#52606d">${escapeHtml(link)}</p>
${notes.map((n) => `<p style="font-size:14px;color:#52606d">${escapeHtml(n)}</p>`).join('\n')}
<p>${escapeHtml(strings.signature)}</p>
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
