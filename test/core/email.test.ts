import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_EMAIL_LENGTH, normalizeEmail } from '../../src/core/email.js'

// Expected values are what pydantic's EmailStr (email_validator 2.1) returns for the same input.

function accepts(cases: [input: string, normalized: string][]): void {
  for (const [input, email] of cases) assert.deepEqual(normalizeEmail(input), { ok: true, email }, input)
}

function refuses(cases: [input: string, reason: string][]): void {
  for (const [input, reason] of cases) assert.deepEqual(normalizeEmail(input), { ok: false, reason }, input)
}

const SPECIAL_USE = 'The part after the @-sign is a special-use or reserved name that cannot be used with email.'
const NOT_ONE_AT_SIGN = 'The email address is not valid. It must have exactly one @-sign.'
const NO_PERIOD = 'The part after the @-sign is not valid. It should have a period.'
const BAD_TLD = 'The part after the @-sign is not valid. It is not within a valid top-level domain.'
const QUOTED = 'Quoting the part before the @-sign is not allowed here.'

test('MAX_EMAIL_LENGTH is 320', () => {
  assert.equal(MAX_EMAIL_LENGTH, 320)
})

test('ordinary addresses come back unchanged', () => {
  accepts([
    ['Abc@example.tld', 'Abc@example.tld'],
    ['Abc.123@test-example.com', 'Abc.123@test-example.com'],
    ['user+mailbox/department=shipping@example.tld', 'user+mailbox/department=shipping@example.tld'],
    ["!#$%&'*+-/=?^_`.{|}~@example.tld", "!#$%&'*+-/=?^_`.{|}~@example.tld"],
    ['xn--test@iana.org', 'xn--test@iana.org'],
    ['test@g--a.com', 'test@g--a.com'],
    ['a@0x7f.com', 'a@0x7f.com'],
  ])
})

test('example.com, example.org and example.net are accepted', () => {
  accepts([
    ['a@example.com', 'a@example.com'],
    ['a@example.org', 'a@example.org'],
    ['a@example.net', 'a@example.net'],
    ['a@mail.example.com', 'a@mail.example.com'],
  ])
})

test('surrounding whitespace is stripped, as Python’s str.strip() does', () => {
  accepts([
    ['  a@example.com  ', 'a@example.com'],
    ['\ta@example.com\r\n', 'a@example.com'],
    ['\u3000a@example.com\u00a0', 'a@example.com'],
  ])
  // U+FEFF is JavaScript whitespace but not Python whitespace.
  refuses([['\ufeffa@example.com', 'The email address contains unsafe characters: ZERO WIDTH NO-BREAK SPACE.']])
})

test('a display name form yields just the address', () => {
  accepts([
    ['Bob <bob@example.com>', 'bob@example.com'],
    ['"Bob Smith" <Bob@Example.COM>', 'Bob@example.com'],
    ['"Smith, Bob \\" Jr" <bob@example.com>', 'bob@example.com'],
    ['Jöhn  Doe<john@example.com> ', 'john@example.com'],
    ['<bob@example.com>', 'bob@example.com'],
    [' < bob@example.com > ', 'bob@example.com'],
  ])
  refuses([
    [
      'John Q. Public <john@example.com>',
      "The email address contains invalid characters before the @-sign: '<', SPACE.",
    ],
    ['Bob <bob@example.com', "The email address contains invalid characters before the @-sign: '<', SPACE."],
  ])
})

test('the domain is lower-cased, the local part is kept as typed', () => {
  accepts([
    ['Bob.Mixed@Example.com', 'Bob.Mixed@example.com'],
    ['UPPER@EXAMPLE.COM', 'UPPER@example.com'],
  ])
})

test('RFC 2142 mailbox names are lower-cased', () => {
  accepts([
    ['POSTMASTER@example.com', 'postmaster@example.com'],
    ['Info@Example.com', 'info@example.com'],
    ['Infos@Example.com', 'Infos@example.com'],
  ])
})

test('internationalised domains are IDNA-normalised and kept in Unicode form', () => {
  accepts([
    ['a@münchen.de', 'a@münchen.de'],
    ['a@MÜNCHEN.DE', 'a@münchen.de'],
    ['a@xn--mnchen-3ya.de', 'a@münchen.de'],
    ['a@XN--MNCHEN-3YA.DE', 'a@münchen.de'],
    ['test@xn--hxajbheg2az3al.xn--jxalpdlp', 'test@παράδειγμα.δοκιμή'],
    ['jeff@臺網中心.tw', 'jeff@臺網中心.tw'],
    ['a@ＡＢ。ｃｏｍ', 'a@ab.com'],
    ['a@e\u0301xample.com', 'a@\u00e9xample.com'],
    ['a@x.xn--p1ai', 'a@x.рф'],
    ['a@col·legi.cat', 'a@col·legi.cat'],
    ['a@ا١.com', 'a@ا١.com'],
  ])
})

test('Unicode local parts are accepted and NFC-normalised', () => {
  accepts([
    ['用户@例子.广告', '用户@例子.广告'],
    ['伊昭傑@郵件.商務', '伊昭傑@郵件.商務'],
    ['ñoñó@example.tld', 'ñoñó@example.tld'],
    ['чебурашкаящик-с-апельсинами.рф@example.tld', 'чебурашкаящик-с-апельсинами.рф@example.tld'],
    ['e\u0301@example.com', '\u00e9@example.com'],
  ])
  refuses([
    [
      'a\u037eb@example.com',
      "After Unicode normalization: The email address contains invalid characters before the @-sign: ';'.",
    ],
    ['a\u200bb@example.com', 'The email address contains unsafe characters: ZERO WIDTH SPACE.'],
  ])
})

test('there must be exactly one @-sign with something on each side', () => {
  refuses([
    ['example.com', NOT_ONE_AT_SIGN],
    ['a@b@example.com', NOT_ONE_AT_SIGN],
    ['', NOT_ONE_AT_SIGN],
    ['@example.com', 'There must be something before the @-sign.'],
    ['a@', 'There must be something after the @-sign.'],
  ])
})

test('invalid characters are refused', () => {
  refuses([
    ['white space@example.com', 'The email address contains invalid characters before the @-sign: SPACE.'],
    ['a(b)@example.com', "The email address contains invalid characters before the @-sign: '(', ')'."],
    ['bad"quotes"@example.com', `The email address contains invalid characters before the @-sign: '"'.`],
    ['a\\b@example.com', 'The email address contains invalid characters before the @-sign: "\\".'],
    ['m\ny@example.com', 'The email address contains invalid characters before the @-sign: U+000A.'],
    ['a@ex_ample.com', "The part after the @-sign contains invalid characters: '_'."],
    ['a@exa mple.com', 'The part after the @-sign contains invalid characters: SPACE.'],
  ])
})

test('dots in the local part must separate atoms', () => {
  refuses([
    ['.a@example.com', 'An email address cannot start with a period.'],
    ['a.@example.com', 'An email address cannot have a period immediately before the @-sign.'],
    ['a..b@example.com', 'An email address cannot have two periods in a row.'],
  ])
})

test('the local part is at most 64 characters', () => {
  accepts([[`${'x'.repeat(64)}@example.com`, `${'x'.repeat(64)}@example.com`]])
  refuses([
    [`${'x'.repeat(65)}@example.com`, 'The email address is too long before the @-sign (1 character too many).'],
    [`${'é'.repeat(66)}@example.com`, 'The email address is too long before the @-sign (2 characters too many).'],
  ])
})

test('the whole address is at most 254 characters, the input at most MAX_EMAIL_LENGTH', () => {
  const domain = (last: number) => `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(last)}.com`
  accepts([[`${'a'.repeat(64)}@${domain(57)}`, `${'a'.repeat(64)}@${domain(57)}`]])
  refuses([
    [`${'a'.repeat(64)}@${domain(58)}`, 'The email address is too long (1 character too many).'],
    [`${'a'.repeat(64)}@${domain(60)}`, 'The email address is too long (3 characters too many).'],
    [`${'é'.repeat(64)}@${domain(57)}`, 'The email address is too long (when encoded in bytes).'],
  ])
  accepts([[`${' '.repeat(300)}a@example.com`, 'a@example.com']])
  refuses([[`${'a'.repeat(310)}@example.com`, 'Length must not exceed 320 characters']])
})

test('domain labels must be valid', () => {
  refuses([
    ['a@-example.com', 'An email address cannot have a hyphen immediately after the @-sign.'],
    ['a@example.com-', 'An email address cannot end with a hyphen.'],
    ['a@example-.com', 'An email address cannot have a period and a hyphen next to each other.'],
    ['a@sub.-example.com', 'An email address cannot have a period and a hyphen next to each other.'],
    ['a@.example.com', 'An email address cannot have a period immediately after the @-sign.'],
    ['a@example.com.', 'An email address cannot end with a period.'],
    ['a@example..com', 'An email address cannot have two periods in a row.'],
    ['a@example．．com', 'An email address cannot have two periods in a row.'],
    [
      'a@ab--c.com',
      'An email address cannot have two letters followed by two dashes immediately after the @-sign or after a period, except Punycode.',
    ],
    [
      `a@${'b'.repeat(64)}.com`,
      'After the @-sign, periods cannot be separated by so many characters (1 character too many).',
    ],
  ])
})

test('the domain needs a period and a top-level domain ending with a letter', () => {
  refuses([
    ['a@localhost', NO_PERIOD],
    ['a@test', NO_PERIOD],
    ['a@example', NO_PERIOD],
    ['a@example.123', BAD_TLD],
    ['a@1.2.3.4', BAD_TLD],
    ['a@example.c1', BAD_TLD],
  ])
})

test('special-use and reserved domains are refused, and their subdomains too', () => {
  refuses([
    ['a@b.test', SPECIAL_USE],
    ['a@test.test.test', SPECIAL_USE],
    ['a@x.local', SPECIAL_USE],
    ['a@my.localhost', SPECIAL_USE],
    ['a@sub.x.onion', SPECIAL_USE],
    ['a@foo.invalid', SPECIAL_USE],
    ['a@4.3.2.1.in-addr.arpa', SPECIAL_USE],
    ['a@B.TEST', SPECIAL_USE],
  ])
})

test('domain literals are refused', () => {
  refuses([
    ['a@[127.0.0.1]', 'A bracketed IPv4 address after the @-sign is not allowed here.'],
    ['a@[IPv6:::1]', 'A bracketed IPv6 address after the @-sign is not allowed here.'],
    [
      'a@[127.0.0.999]',
      'The address in brackets after the @-sign is not valid: It is not an IPv4 address or is missing an address literal tag.',
    ],
    ['a@[untagged]', 'The part after the @-sign in brackets is not an IPv4 address and has no address literal tag.'],
  ])
})

test('quoted local parts are refused', () => {
  refuses([
    ['"a"@example.com', QUOTED],
    ['"quoted with space"@example.com', QUOTED],
    ['"quoted.with.at@"@example.com', QUOTED],
    ['""@example.com', 'There must be something before the @-sign.'],
  ])
})

test('domains that are not valid IDNA 2008 are refused', () => {
  refuses([
    [
      'me@⒈wouldbeinvalid.com',
      "The part after the @-sign contains invalid characters (Codepoint U+2488 not allowed at position 1 in '⒈wouldbeinvalid.com').",
    ],
    [
      'a@☃.net',
      "The part after the @-sign contains invalid characters (Codepoint U+2603 at position 1 of '☃' not allowed).",
    ],
    [
      'a@xn--n3h.net',
      "The part after the @-sign is not valid IDNA (Codepoint U+2603 at position 1 of '☃' not allowed).",
    ],
    ['a@xn--0.com', 'The part after the @-sign is not valid IDNA (Invalid A-label).'],
    [
      'a@a·b.cat',
      "The part after the @-sign contains invalid characters (Codepoint U+00B7 not allowed at position 2 in 'a·b').",
    ],
    [
      'a@aא.com',
      'The part after the @-sign contains invalid characters (Invalid direction for codepoint at position 2 in a left-to-right label).',
    ],
  ])
})
