/**
 * Every word the hosted pages show, English first, as plain data (no functions) so a
 * translation is one object of the same shape, passed as `hostedPages`' `strings` option.
 * `{name}` placeholders are filled in by the pages; wording shared with the e-mails (the
 * actions a mail link leads to) is taken from the mail templates' strings, so the two never drift.
 */
import { strings as mail } from '../mail/templates.js'

export const pageStrings = {
  lang: 'en',
  common: {
    email: 'E-mail address',
    password: 'Password',
    newPassword: 'New password',
    currentPassword: 'Current password',
    showPassword: 'Show password',
    hidePassword: 'Hide password',
    working: 'Please wait…',
    noScript: 'These pages need JavaScript to talk to the server. Please turn it on and reload the page.',
    optional: '(optional)',
    signIn: 'Sign in',
    signUp: 'Create an account',
    account: 'Your account',
    backToSignIn: 'Back to sign in',
  },
  passwordRules: {
    heading: 'Your password must be:',
    met: '(done)',
    unmet: '(not yet)',
    minLength: { text: 'at least {value} characters long', reason: 'short passwords are guessed in moments.' },
    maxLength: { text: 'at most {value} characters long', reason: 'longer ones cannot be stored.' },
    notContainingEmail: {
      text: 'different from your e-mail address',
      reason: 'it is the first thing an attacker would try.',
    },
  },
  /** Labels of the user's own fields (sign-up form, account page), by field name. */
  fieldLabels: { first_name: 'First name', username: 'Username' } as Record<string, string>,
  signIn: {
    title: 'Sign in',
    /** The sign-in field's label when users may also sign in with a username (`signInWithUsername`). */
    emailOrUsername: 'E-mail or username',
    /** LOGIN_BAD_CREDENTIALS's wording when users may sign in with a username. */
    badCredentialsWithUsername: 'The e-mail address, username or password is not right. Check them and try again.',
    submit: 'Sign in',
    forgot: 'Forgot your password?',
    noAccount: 'New here?',
    signUpLink: 'Create an account',
    notices: {
      'password-reset': 'Your password has been changed. Sign in with your new password.',
      'signed-out': 'You have signed out.',
      'session-expired': 'Your session has ended. Please sign in again.',
      verified: 'Your e-mail address is verified. You can sign in.',
      'email-changed': 'Your e-mail address has been changed. Sign in with your new address.',
      'account-deleted': 'Your account has been deleted. Thank you for having been with us.',
    } as Record<string, string>,
  },
  signUp: {
    title: 'Create an account',
    submit: 'Create account',
    haveAccount: 'Already have an account?',
    signInLink: 'Sign in',
    doneTitle: 'Check your inbox',
    done: 'Your account has been created. We have sent a link to {email}: open it to confirm your address.',
    doneNoMail: 'Your account has been created. You can sign in now.',
  },
  forgot: {
    title: 'Forgot your password?',
    intro: 'Enter your e-mail address and we will send you a link to choose a new password.',
    submit: 'Send me a link',
    doneTitle: 'Check your inbox',
    done: 'If an account exists for {email}, we have sent it a link to choose a new password. The link works once and for a limited time.',
  },
  reset: {
    title: mail.reset.subject,
    intro: 'Choose a new password for your account.',
    submit: 'Change my password',
    doneTitle: 'Password changed',
    done: 'Your password has been changed.',
    signInLink: 'Sign in with your new password',
    missing: 'This page needs the link from your e-mail. Open the link again, or ask for a new one.',
    expired: 'This link has expired. Ask for a new one: it only takes a moment.',
    invalid: 'This link is not valid or has already been used. Ask for a new one.',
    requestNew: 'Ask for a new link',
  },
  verify: {
    title: mail.verify.subject,
    working: 'Confirming your e-mail address…',
    doneTitle: 'E-mail address verified',
    done: 'Thank you: {email} is verified.',
    already: 'This e-mail address is already verified.',
    continueSignIn: 'Sign in',
    continueAccount: 'Go to your account',
    missing: 'Enter your e-mail address and we will send you a link to confirm it.',
    expired: 'This link has expired.',
    invalid: 'This link is not valid or has already been used.',
    resendIntro: 'Enter your e-mail address and we will send you a new link.',
    resendSubmit: 'Send me a new link',
    resentTitle: 'Check your inbox',
    resent: 'If {email} still needs confirming, a new link is on its way. It works for a limited time.',
  },
  account: {
    title: 'Your account',
    loading: 'Loading your account…',
    details: 'Your details',
    status: 'Status',
    verified: 'E-mail address verified',
    notVerified: 'E-mail address not verified yet',
    resend: 'Send me a verification link',
    resent: 'We have sent a link to {email}. Open it to confirm your address.',
    notSet: 'not set',
    changePassword: 'Change your password',
    changeSubmit: 'Change password',
    changed: 'Your password has been changed.',
    changeEmail: 'Change your e-mail address',
    newEmail: 'New e-mail address',
    /** The e-mail form's password field: its own words, so that the page has one "Current password" field. */
    emailPassword: 'Your password',
    changeEmailSubmit: 'Change e-mail address',
    emailChanged: 'Your e-mail address is now {email}.',
    emailChangeSent:
      'We have sent a link to {email}. Open it to confirm your new address; until then your account keeps {current}.',
    signOutHeading: 'Sign out',
    signOutIntro: 'Sign out of this browser tab.',
    signOut: 'Sign out',
    sessionsHeading: 'Where you are signed in',
    sessionsIntro: 'End any session you do not recognise: it is signed out (an app may keep access for a few minutes).',
    sessionsEmpty: 'No other sessions.',
    sessionUnknownAgent: 'Unknown browser or app',
    sessionDetails: 'From {ip} · signed in {created} · last active {used}',
    sessionCurrent: 'This browser',
    sessionEnd: 'End',
    sessionEndLabel: 'End the session of {agent}, signed in {created}',
    sessionEnded: 'The session has ended.',
    deleteHeading: 'Delete your account',
    deleteIntro:
      'This deletes your account and everything linked to it, and signs you out everywhere. It cannot be undone.',
    deleteConfirm: 'I understand that my account will be deleted for good.',
    deleteSubmit: 'Delete my account',
  },
  /** The page the link of an e-mail change mail opens (EMAIL_CHANGE=confirm). */
  confirmEmailChange: {
    title: mail.emailChange.subject,
    working: 'Confirming your new e-mail address…',
    doneTitle: 'E-mail address changed',
    done: 'Your account now uses {email}. Every session was ended: sign in again with your new address.',
    signIn: 'Sign in',
    missing: 'This page needs the link from your e-mail. Open the link again.',
    expired: 'This link has expired. Change your address again from your account to get a new one.',
    invalid:
      'This link is not valid or has already been used, or your address or password changed since. Change your address again from your account to get a new one.',
    backToAccount: 'Go to your account',
  },
  /** Second factors: the sign-in challenge and the account page's section (TWO_FACTOR). */
  twoFactor: {
    challengeTitle: 'Two-step verification',
    challengeIntro: 'Enter the 6-digit code from your authenticator app, or one of your recovery codes.',
    code: 'Code',
    verify: 'Verify',
    heading: 'Two-step verification',
    off: 'Two-step verification is off: signing in needs only your password.',
    on: 'Two-step verification is on: signing in also asks for a code from your authenticator app. Recovery codes left: {count}.',
    setUp: 'Set up an authenticator app',
    scan: 'Scan this QR code with your authenticator app, or enter the key below, then type the 6-digit code it shows.',
    secret: 'Key',
    enable: 'Turn on',
    recoveryTitle: 'Your recovery codes',
    recoveryIntro:
      'Keep these codes somewhere safe: each signs you in once if you lose your device. They are shown only now.',
    recoveryDone: 'I have saved them',
    disableIntro: 'To turn it off, enter your password and a code from your app.',
    disable: 'Turn off',
    disabled: 'Two-step verification is off.',
  },
  /** Passkeys (hostedPages' `passkeys` option): the sign-in button and the account page's section. */
  passkeys: {
    signIn: 'Sign in with a passkey',
    useAsSecondFactor: 'Use a passkey',
    or: 'or',
    heading: 'Passkeys',
    intro: 'A passkey signs you in with your device’s screen lock or a security key, without a password.',
    none: 'You have no passkey yet.',
    nameLabel: 'Name of the new passkey',
    nameHint: 'So you can tell your passkeys apart, e.g. “Work laptop”.',
    add: 'Add a passkey',
    added: 'Your passkey “{name}” has been added.',
    rename: 'Rename',
    renameAction: 'Rename the passkey “{name}”',
    renameLabel: 'New name of the passkey “{name}”',
    save: 'Save',
    renamed: 'Your passkey is now called “{name}”.',
    remove: 'Delete',
    removeLabel: 'Delete the passkey “{name}”',
    removed: 'Your passkey “{name}” has been deleted.',
    created: 'Added {date}',
    lastUsed: 'last used {date}',
    unsupported: 'This browser cannot use passkeys.',
    cancelled: 'The passkey request was cancelled or timed out. Try again when you are ready.',
    errors: {
      PASSKEY_INVALID: 'This passkey was not accepted. It may have been deleted from your account.',
      PASSKEY_CHALLENGE_EXPIRED: 'That took too long. Please try again.',
      PASSKEY_ALREADY_REGISTERED: 'This passkey is already registered.',
    } as Record<string, string>,
  },
  /** Our routes' error codes and failures, in words. */
  errors: {
    LOGIN_2FA_BAD_CODE: 'This code is not right, or was already used. Check your app and try again.',
    TOTP_INVALID_CODE: 'This code is not right. Check the time on your device and try again.',
    TWO_FACTOR_BAD_PROOF: 'The password or the code is not right.',
    TWO_FACTOR_BAD_CODE: 'This code is not right, or was already used.',
    STEP_UP_REQUIRED: 'For your safety, confirm it is you with a code from your authenticator app first.',
    LOGIN_BAD_CREDENTIALS: 'The e-mail address or the password is not right. Check them and try again.',
    LOGIN_USER_NOT_VERIFIED: 'Please confirm your e-mail address first, with the link we sent you.',
    /** A login the app refused (onBeforeLogin) with a code not worded here: add yours beside it. */
    LOGIN_REFUSED: 'This account cannot sign in at the moment. Please contact us if you think this is a mistake.',
    REGISTER_USER_ALREADY_EXISTS:
      'An account with this e-mail address already exists. Sign in, or reset your password if you forgot it.',
    RESET_PASSWORD_BAD_TOKEN: 'This link is not valid or has already been used. Ask for a new one.',
    VERIFY_USER_BAD_TOKEN: 'This link is not valid or has already been used.',
    VERIFY_USER_ALREADY_VERIFIED: 'This e-mail address is already verified.',
    UPDATE_USER_EMAIL_ALREADY_EXISTS: 'Another account already uses this e-mail address.',
    EMAIL_CHANGE_BAD_TOKEN: 'This link is not valid or has already been used.',
    REGISTER_USERNAME_ALREADY_EXISTS: 'This username is taken. Choose another one.',
    UPDATE_USER_USERNAME_ALREADY_EXISTS: 'This username is taken. Choose another one.',
    INVALID_PASSWORD: 'This password cannot be used: {reason}.',
    CURRENT_PASSWORD_WRONG: 'Your current password is not right.',
    DELETE_USER_INVALID_PASSWORD: 'Your password is not right.',
    DELETE_USER_REFUSED: 'Your account cannot be deleted at the moment. Please contact us.',
    CONFIRM_REQUIRED: 'Please tick this box to confirm.',
    SERVICE_UNAVAILABLE: 'The service is busy or down for a moment. Please try again shortly.',
    NETWORK: 'We could not reach the server. Check your connection and try again.',
    UNKNOWN: 'Something went wrong on our side. Please try again.',
    REQUIRED: 'Please fill in this field.',
    INVALID_EMAIL: 'Enter an e-mail address like name@example.com.',
    INVALID_FIELD: 'This value is not accepted.',
  } as Record<string, string>,
}

export type PageStrings = typeof pageStrings

/** A partial translation or rewording: any subset of `pageStrings`' shape. */
export type PageStringsOverride = { [K in keyof PageStrings]?: DeepPartial<PageStrings[K]> }
type DeepPartial<T> = T extends string ? string : { [K in keyof T]?: DeepPartial<T[K]> }

/** `pageStrings` with `override` laid over it, key by key. */
export function mergeStrings(base: PageStrings, override: PageStringsOverride | undefined): PageStrings {
  return override ? (mergeDeep(base, override) as PageStrings) : base
}

function mergeDeep(base: unknown, override: unknown): unknown {
  if (typeof override !== 'object' || override === null) return override === undefined ? base : override
  if (typeof base !== 'object' || base === null) return override
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const [key, value] of Object.entries(override)) out[key] = mergeDeep(out[key], value)
  return out
}

/** The wording that changes when users may sign in with a username as well as an e-mail address. */
export function usernameWording(strings: PageStrings): PageStringsOverride {
  return { errors: { LOGIN_BAD_CREDENTIALS: strings.signIn.badCredentialsWithUsername } }
}

/** Fills `{name}` placeholders; unknown names stay as they are. */
export function format(template: string, values: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    values[name] === undefined ? whole : String(values[name]),
  )
}
