/**
 * Email address validation and normalisation matching pydantic v2's `EmailStr`,
 * which runs email_validator 2.1 `validate_email(..., check_deliverability=False)`.
 * Refusal reasons are email_validator's messages, so 422 bodies read the same.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { domainToASCII, domainToUnicode } from 'node:url'

export const MAX_EMAIL_LENGTH = 320

export type EmailResult = { ok: true; email: string } | { ok: false; reason: string }

const EMAIL_MAX_LENGTH = 254
const LOCAL_PART_MAX_LENGTH = 64
const DOMAIN_MAX_LENGTH = 253
const DNS_LABEL_LENGTH_LIMIT = 63

const SPECIAL_USE_DOMAIN_NAMES = ['arpa', 'invalid', 'local', 'localhost', 'onion', 'test']

// RFC 2142 mailbox names: email_validator lower-cases these local parts.
const CASE_INSENSITIVE_MAILBOX_NAMES = new Set([
  'info',
  'marketing',
  'sales',
  'support',
  'abuse',
  'noc',
  'security',
  'postmaster',
  'hostmaster',
  'usenet',
  'news',
  'webmaster',
  'www',
  'uucp',
  'ftp',
])

// Python's `\s` and str.strip() whitespace, which is not JavaScript's `\s`.
const PY_SPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]'
const PY_STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'gu')

// pydantic's pretty_email_regex (`Name <addr>`); NAME_CHAR is Python's `\w` plus atext.
const NAME_CHAR = "[\\p{L}\\p{N}_!#$%&'*+\\-/=?^`{|}~]"
const PRETTY_EMAIL = new RegExp(
  `^${PY_SPACE}*(?:(?:${NAME_CHAR}+${PY_SPACE}+)*${NAME_CHAR}+|"[\\s\\S]+")?${PY_SPACE}*<([^\\n]+)>${PY_SPACE}*$`,
  'u',
)

const QUOTED_LOCAL_PART_ADDR = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*)"@/

const ATEXT = "a-zA-Z0-9_!#$%&'*+\\-/=?^`{|}~"
const ATEXT_INTL = `${ATEXT}\\u{80}-\\u{10ffff}`
const DOT_ATOM_TEXT = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*$`)
const DOT_ATOM_TEXT_INTL = new RegExp(`^[${ATEXT_INTL}]+(?:\\.[${ATEXT_INTL}]+)*$`, 'u')
const ATEXT_INTL_OR_DOT = new RegExp(`^[.${ATEXT_INTL}]$`, 'u')
const HOSTNAME_CHAR_INTL = /^[a-zA-Z0-9\-.\u{80}-\u{10ffff}]$/u
const HOSTNAME_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9\\-]*[a-zA-Z0-9])?'
const DOT_ATOM_TEXT_HOSTNAME = new RegExp(`^${HOSTNAME_LABEL}(?:\\.${HOSTNAME_LABEL})*$`)

const SAFE_CHAR = /^[\p{L}\p{N}\p{P}\p{S}]$/u
const MARK = /^\p{M}$/u

class EmailSyntaxError extends Error {}

function fail(reason: string): never {
  throw new EmailSyntaxError(reason)
}

export function normalizeEmail(input: string): EmailResult {
  if (codePointLength(input) > MAX_EMAIL_LENGTH) {
    return { ok: false, reason: `Length must not exceed ${MAX_EMAIL_LENGTH} characters` }
  }
  const address = (PRETTY_EMAIL.exec(input)?.[1] ?? input).replace(PY_STRIP, '')
  try {
    return { ok: true, email: validateEmail(address) }
  } catch (error) {
    if (error instanceof EmailSyntaxError) return { ok: false, reason: error.message }
    throw error
  }
}

function validateEmail(email: string): string {
  const quoted = QUOTED_LOCAL_PART_ADDR.exec(email)
  if (quoted) {
    checkLocalPartLength((quoted[1] ?? '').replace(/\\(.)/g, '$1'))
    fail('Quoting the part before the @-sign is not allowed here.')
  }
  const parts = email.split('@')
  if (parts.length !== 2) fail('The email address is not valid. It must have exactly one @-sign.')
  const [rawLocal = '', rawDomain = ''] = parts

  const local = validateLocalPart(rawLocal)
  const domain = validateDomainPart(rawDomain)
  const normalized = `${local.text}@${domain.unicode}`
  checkTotalLength(normalized, local.isAscii ? `${local.text}@${domain.ascii}` : undefined)
  return normalized
}

// ---------------------------------------------------------------------------
// Local part

type LocalPart = { text: string; isAscii: boolean }

function checkLocalPartLength(local: string): void {
  if (local === '') fail('There must be something before the @-sign.')
  const length = codePointLength(local)
  if (length > LOCAL_PART_MAX_LENGTH) {
    fail(`The email address is too long before the @-sign ${lengthReason(length, LOCAL_PART_MAX_LENGTH)}.`)
  }
}

function validateLocalPart(local: string): LocalPart {
  checkLocalPartLength(local)
  if (DOT_ATOM_TEXT.test(local)) {
    const lower = local.toLowerCase()
    return { text: CASE_INSENSITIVE_MAILBOX_NAMES.has(lower) ? lower : local, isAscii: true }
  }
  if (DOT_ATOM_TEXT_INTL.test(local)) return { text: normalizeIntlLocalPart(local), isAscii: false }

  const invalid = [...local].filter((c) => !ATEXT_INTL_OR_DOT.test(c))
  if (invalid.length > 0) {
    fail(`The email address contains invalid characters before the @-sign: ${displayList(invalid)}.`)
  }
  checkDotAtom(
    local,
    (what) => `An email address cannot start with a ${what}.`,
    (what) => `An email address cannot have a ${what} immediately before the @-sign.`,
  )
  return fail('The email address contains invalid characters before the @-sign.')
}

function normalizeIntlLocalPart(local: string): string {
  const nfc = local.normalize('NFC')
  checkUnsafeChars(nfc)
  // NFC can produce characters the input check never saw (U+037E becomes ";"): validate the result
  // again, as email_validator 2.2 does.
  if (nfc !== local) {
    try {
      validateLocalPart(nfc)
    } catch (error) {
      if (error instanceof EmailSyntaxError) fail(`After Unicode normalization: ${error.message}`)
      throw error
    }
  }
  return nfc
}

// ---------------------------------------------------------------------------
// Domain part

type Domain = { ascii: string; unicode: string }

function validateDomainPart(domain: string): Domain {
  if (domain === '') fail('There must be something after the @-sign.')
  if (domain.startsWith('[') && domain.endsWith(']')) fail(domainLiteralError(domain.slice(1, -1)))
  return validateDomainName(domain)
}

// email_validator parses domain literals only to explain why it refuses them.
function domainLiteralError(literal: string): string {
  if (/^[0-9.]+$/.test(literal)) {
    return isIPv4(literal)
      ? 'A bracketed IPv4 address after the @-sign is not allowed here.'
      : 'The address in brackets after the @-sign is not valid: It is not an IPv4 address or is missing an address literal tag.'
  }
  if (literal.startsWith('IPv6:')) {
    return isIPv6(literal.slice(5))
      ? 'A bracketed IPv6 address after the @-sign is not allowed here.'
      : 'The IPv6 address in brackets after the @-sign is not valid.'
  }
  if (!literal.includes(':')) {
    return 'The part after the @-sign in brackets is not an IPv4 address and has no address literal tag.'
  }
  return 'The part after the @-sign contains an invalid address literal tag in brackets.'
}

function validateDomainName(domain: string): Domain {
  const invalid = [...domain].filter((c) => !HOSTNAME_CHAR_INTL.test(c))
  if (invalid.length > 0) {
    fail(`The part after the @-sign contains invalid characters: ${displayList(invalid)}.`)
  }
  checkUnsafeChars(domain)

  const mapped = uts46Remap(domain)
  checkDotAtom(
    mapped,
    (what) => `An email address cannot have a ${what} immediately after the @-sign.`,
    (what) => `An email address cannot end with a ${what}.`,
    true,
  )
  if (mapped.split('.').some((label) => /^(?!xn)..--/iu.test(label))) {
    fail(
      'An email address cannot have two letters followed by two dashes immediately after the @-sign or after a period, except Punycode.',
    )
  }

  const ascii = DOT_ATOM_TEXT_HOSTNAME.test(mapped) ? mapped : idnaEncode(mapped)
  checkDomainLength(ascii)
  checkGloballyDeliverable(ascii)
  if (SPECIAL_USE_DOMAIN_NAMES.some((name) => ascii === name || ascii.endsWith(`.${name}`))) {
    fail('The part after the @-sign is a special-use or reserved name that cannot be used with email.')
  }
  return { ascii, unicode: idnaDecode(ascii) }
}

function checkDomainLength(ascii: string): void {
  if (ascii.length > DOMAIN_MAX_LENGTH) {
    fail(`The email address is too long after the @-sign ${lengthReason(ascii.length, DOMAIN_MAX_LENGTH)}.`)
  }
  const longLabel = ascii.split('.').find((label) => label.length > DNS_LABEL_LENGTH_LIMIT)
  if (longLabel !== undefined) {
    const reason = lengthReason(longLabel.length, DNS_LABEL_LENGTH_LIMIT)
    fail(`After the @-sign, periods cannot be separated by so many characters ${reason}.`)
  }
}

function checkGloballyDeliverable(ascii: string): void {
  if (!ascii.includes('.')) fail('The part after the @-sign is not valid. It should have a period.')
  if (!/[A-Za-z]$/.test(ascii)) {
    fail('The part after the @-sign is not valid. It is not within a valid top-level domain.')
  }
}

// ---------------------------------------------------------------------------
// IDNA. Node's WHATWG host functions do the UTS #46 mapping and Punycode; the IDNA 2008 rules that
// the idna package adds on top (code point classes, CONTEXTO, part of the Bidi rule) are checked here.

// idna.uts46_remap: UTS #46 maps each code point on its own (case folding, compatibility forms,
// ideographic full stops to "."), then the whole domain is NFC-normalised.
function uts46Remap(domain: string): string {
  const mapped = [...domain].map((c, index) => {
    const result = isAscii(c) ? c.toLowerCase() : uts46MapChar(c)
    if (result === undefined) {
      fail(
        `The part after the @-sign contains invalid characters (Codepoint ${unot(c)} not allowed at position ${index + 1} in '${domain}').`,
      )
    }
    return result
  })
  return mapped.join('').normalize('NFC')
}

// Node maps and then validates whole labels, so each code point goes in alone, or after a "0" when
// it cannot start a label (combining marks).
function uts46MapChar(c: string): string | undefined {
  for (const prefix of ['', '0']) {
    const mapped = withLetterLabel(domainToUnicode, `${prefix}${c}`)
    if (mapped?.startsWith(prefix)) return mapped.slice(prefix.length)
  }
  return undefined
}

// The WHATWG host parser reads a last label such as "0x7f" as an IPv4 number; a letter label after
// it rules that out.
function withLetterLabel(convert: (domain: string) => string, domain: string): string | undefined {
  const result = convert(`${domain}.a`)
  return result.endsWith('.a') ? result.slice(0, -2) : undefined
}

// idna.encode(uts46=False) of an already mapped domain.
function idnaEncode(mapped: string): string {
  const labels = mapped.split('.').map((label) => {
    const { ascii } = idnaLabel(label, 'contains invalid characters')
    if (ascii.length > DNS_LABEL_LENGTH_LIMIT) {
      fail('The part after the @-sign contains invalid characters (Label too long).')
    }
    return ascii
  })
  const ascii = labels.join('.')
  if (ascii.length > DOMAIN_MAX_LENGTH) fail('The email address is too long after the @-sign.')
  if (!DOT_ATOM_TEXT_HOSTNAME.test(ascii)) {
    fail('The email address contains invalid characters after the @-sign after IDNA encoding.')
  }
  return ascii
}

// idna.decode: the Unicode form of the domain, refusing "xn--" labels that are not real IDNA.
function idnaDecode(ascii: string): string {
  return ascii
    .split('.')
    .map((label) => idnaLabel(label, 'is not valid IDNA').unicode)
    .join('.')
}

// idna.alabel / idna.ulabel; `failure` is email_validator's wording for the step that failed.
function idnaLabel(label: string, failure: string): { ascii: string; unicode: string } {
  const unicode = isAscii(label) && label.startsWith('xn--') ? decodeALabel(label) : label
  if (unicode === undefined) fail(`The part after the @-sign ${failure} (Invalid A-label).`)
  const error = idnaLabelError(unicode)
  if (error !== undefined) fail(`The part after the @-sign ${failure} (${error}).`)
  const ascii = isAscii(label) ? label : withLetterLabel(domainToASCII, label)
  if (ascii === undefined) fail(`The part after the @-sign ${failure} (Invalid label).`)
  return { ascii, unicode }
}

// Node also decodes non-canonical Punycode such as "xn--abc-" (to "abc"); idna refuses it.
function decodeALabel(label: string): string | undefined {
  const unicode = withLetterLabel(domainToUnicode, label)
  if (unicode === undefined || withLetterLabel(domainToASCII, unicode) !== label) return undefined
  return unicode
}

// RFC 5892 classes of characters that survive UTS #46 mapping: letters, marks and digits are PVALID,
// except for a few listed exceptions, Hangul jamo and some symbol-only blocks.
const IDNA_LETTER_DIGIT = /^[-\p{Ll}\p{Lu}\p{Lo}\p{Lm}\p{Mn}\p{Mc}\p{Nd}\u06fd\u06fe\u0f0b\u3007]$/u
const IDNA_EXCLUDED =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: ranges of code points, not text
  /^[\u0640\u07fa\u1100-\u11ff\u20d0-\u20ff\u302e\u302f\u3031-\u3035\u303b\ua960-\ua97f\ud7b0-\ud7ff\u{1d100}-\u{1d24f}]$/u
const IDNA_CONTEXTO = /^[\u00b7\u0375\u05f3\u05f4\u30fb\u0660-\u0669\u06f0-\u06f9]$/u

function idnaLabelError(label: string): string | undefined {
  const chars = [...label]
  if (chars[2] === '-' && chars[3] === '-') return 'Label has disallowed hyphens in 3rd and 4th position'
  if (label.startsWith('-') || label.endsWith('-')) return 'Label must not start or end with a hyphen'
  if (MARK.test(chars[0] ?? '')) return 'Label begins with an illegal combining character'
  for (const [index, c] of chars.entries()) {
    if (IDNA_CONTEXTO.test(c)) {
      if (!contextAllows(chars, index)) return `Codepoint ${unot(c)} not allowed at position ${index + 1} in '${label}'`
    } else if (!IDNA_LETTER_DIGIT.test(c) || IDNA_EXCLUDED.test(c)) {
      return `Codepoint ${unot(c)} at position ${index + 1} of '${label}' not allowed`
    }
  }
  return bidiError(label, chars)
}

// RFC 5892 appendix A.
function contextAllows(chars: string[], index: number): boolean {
  const before = chars[index - 1] ?? ''
  const after = chars[index + 1] ?? ''
  switch (chars[index]) {
    case '\u00b7':
      return before === 'l' && after === 'l'
    case '\u0375':
      return /\p{Script=Greek}/u.test(after)
    case '\u05f3':
    case '\u05f4':
      return /\p{Script=Hebrew}/u.test(before)
    case '\u30fb':
      return chars.some((c) => /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u.test(c))
    default: {
      // Arabic-Indic digits: the two sets must not be mixed in one label.
      const other = /[\u0660-\u0669]/u.test(chars[index] ?? '') ? /[\u06f0-\u06f9]/u : /[\u0660-\u0669]/u
      return !chars.some((c) => other.test(c))
    }
  }
}

// Bidi classes from blocks, as JavaScript has no Bidi_Class property escape: after the PVALID check,
// what is left of the right-to-left blocks is R or AL, except marks (NSM) and a few digits (AN, EN).
const RTL_BLOCK = /^[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\u{10800}-\u{10fff}\u{1e800}-\u{1efff}]$/u
const isRtl = (c: string) => RTL_BLOCK.test(c) && !/^[\p{M}\u06f0-\u06f9]$/u.test(c)
const isRtlLetter = (c: string) => isRtl(c) && !/^[\u0660-\u0669\u{10d30}-\u{10d39}]$/u.test(c)
const isLtr = (c: string) => !RTL_BLOCK.test(c) && /^[\p{L}\p{Mc}\p{Nd}]$/u.test(c) && !/^[0-9]$/.test(c)

// RFC 5893, for labels holding right-to-left characters: they must start with a right-to-left
// letter and hold no left-to-right ones. Node's domainToASCII checks the rest (endings, digit mixes).
function bidiError(label: string, chars: string[]): string | undefined {
  if (!chars.some(isRtl)) return undefined
  const first = chars[0] ?? ''
  if (isRtlLetter(first)) {
    const ltr = chars.findIndex(isLtr)
    return ltr < 0 ? undefined : `Invalid direction for codepoint at position ${ltr + 1} in a right-to-left label`
  }
  if (!isLtr(first)) return `First codepoint in label '${label}' must be directionality L, R or AL`
  return `Invalid direction for codepoint at position ${chars.findIndex(isRtl) + 1} in a left-to-right label`
}

// ---------------------------------------------------------------------------
// Shared checks and formatting

function checkDotAtom(
  text: string,
  atStart: (what: string) => string,
  atEnd: (what: string) => string,
  isHostname = false,
): void {
  if (text.endsWith('.')) fail(atEnd('period'))
  if (text.startsWith('.')) fail(atStart('period'))
  if (text.includes('..')) fail('An email address cannot have two periods in a row.')
  if (!isHostname) return
  if (text.endsWith('-')) fail(atEnd('hyphen'))
  if (text.startsWith('-')) fail(atStart('hyphen'))
  if (text.includes('.-') || text.includes('-.')) {
    fail('An email address cannot have a period and a hyphen next to each other.')
  }
}

// Letters, numbers, punctuation and symbols are safe, and so are combining marks after the first
// character; spaces, separators, control, format, private-use and unassigned code points are not.
function checkUnsafeChars(text: string): void {
  const unsafe = [...text].filter((c, index) => !SAFE_CHAR.test(c) && !(index > 0 && MARK.test(c)))
  if (unsafe.length > 0) {
    const shown = [...new Set(unsafe)].sort().map(displayChar).join(', ')
    fail(`The email address contains unsafe characters: ${shown}.`)
  }
}

function checkTotalLength(normalized: string, asciiEmail: string | undefined): void {
  const length = codePointLength(normalized)
  const tooLong = (reason: string) => fail(`The email address is too long ${reason}.`)
  const atLeast = lengthReason(length, EMAIL_MAX_LENGTH, true)
  if (asciiEmail !== undefined && asciiEmail.length > EMAIL_MAX_LENGTH) {
    if (asciiEmail === normalized) tooLong(lengthReason(length, EMAIL_MAX_LENGTH))
    tooLong(length > EMAIL_MAX_LENGTH ? atLeast : '(when converted to IDNA ASCII)')
  }
  if (Buffer.byteLength(normalized, 'utf8') > EMAIL_MAX_LENGTH) {
    tooLong(length > EMAIL_MAX_LENGTH ? atLeast : '(when encoded in bytes)')
  }
}

function lengthReason(length: number, limit: number, atLeast = false): string {
  const diff = length - limit
  return `(${atLeast ? 'at least ' : ''}${diff} character${diff > 1 ? 's' : ''} too many)`
}

// Python's unicodedata names for the characters people actually paste; others print as U+XXXX,
// which is also what Python prints for unnamed ones such as control characters.
const CHAR_NAMES: Record<string, string> = {
  ' ': 'SPACE',
  '\u00a0': 'NO-BREAK SPACE',
  '\u200b': 'ZERO WIDTH SPACE',
  '\u200c': 'ZERO WIDTH NON-JOINER',
  '\u200d': 'ZERO WIDTH JOINER',
  '\u200e': 'LEFT-TO-RIGHT MARK',
  '\u200f': 'RIGHT-TO-LEFT MARK',
  '\u2028': 'LINE SEPARATOR',
  '\u2029': 'PARAGRAPH SEPARATOR',
  '\u202a': 'LEFT-TO-RIGHT EMBEDDING',
  '\u202b': 'RIGHT-TO-LEFT EMBEDDING',
  '\u202c': 'POP DIRECTIONAL FORMATTING',
  '\u202d': 'LEFT-TO-RIGHT OVERRIDE',
  '\u202e': 'RIGHT-TO-LEFT OVERRIDE',
  '\u3000': 'IDEOGRAPHIC SPACE',
  '\ufeff': 'ZERO WIDTH NO-BREAK SPACE',
}

// email_validator's safe_character_display: printable characters as Python's repr().
function displayChar(c: string): string {
  if (c === '\\') return '"\\"'
  if (SAFE_CHAR.test(c)) return c === "'" ? `"'"` : `'${c}'`
  const codePoint = c.codePointAt(0) ?? 0
  const hex = codePoint
    .toString(16)
    .toUpperCase()
    .padStart(codePoint < 0xffff ? 4 : 8, '0')
  return CHAR_NAMES[c] ?? `U+${hex}`
}

function displayList(chars: string[]): string {
  return [...new Set(chars.map(displayChar))].sort().join(', ')
}

// idna's _unot.
function unot(c: string): string {
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
}

function isAscii(text: string): boolean {
  return /^\p{ASCII}*$/u.test(text)
}

function codePointLength(text: string): number {
  return text.length - (text.match(/[\ud800-\udbff][\udc00-\udfff]/g)?.length ?? 0)
}

/**
 * The identity of an e-mail address: two addresses name one account exactly when their keys are
 * equal. The key is the address as `normalizeEmail` makes it (or, when it is no valid address, as
 * given, trimmed) in full Unicode lower case (`toLowerCase`, locale-independent: Ü and ü, ẞ and ß
 * are one; é and e, ｆ and f in the part before the @-sign, ß and ss stay apart). Decided here, the
 * same on every database, never by a collation or a database's lower(): stores compare the key
 * (or a digest of it) byte for byte.
 */
export function emailIdentityKey(email: string): string {
  const result = normalizeEmail(email)
  return (result.ok ? result.email : email.replace(PY_STRIP, '')).toLowerCase()
}
