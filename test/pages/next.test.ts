/**
 * `next` after signing in (issue #13): the hosted pages' own safeNext, taken from the script the
 * browser runs, resolved with WHATWG URL (as browsers do). Property: whatever path form is
 * generated, an accepted `next` is an absolute URL on the service's origin, and stays there
 * whatever page assigns it. The forms: dot segments, backslashes, percent-encodings, tabs,
 * newlines and control characters, `javascript:`, protocol-relative and userinfo `@`.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import fc from 'fast-check'

const ORIGIN = 'https://app.example'
const FALLBACK = '/account'

/** The function as pages.js ships it: its source, evaluated alone (it uses nothing but URL). */
function loadSafeNext(): (value: unknown, origin: string, fallback: string) => string {
  const script = readFileSync(new URL('../../src/pages/assets/pages.js', import.meta.url), 'utf8')
  const source = /\n {2}function safeNext\(value, origin, fallback\) \{\n[\s\S]*?\n {2}\}\n/.exec(script)?.[0]
  assert.ok(source, 'pages.js defines safeNext(value, origin, fallback)')
  return new Function(`${source}\nreturn safeNext`)()
}

const safeNext = loadSafeNext()

/** Accepted means: another value than the fallback, absolute, on ORIGIN, and still there when resolved anywhere. */
function assertStays(value: string) {
  const result = safeNext(value, ORIGIN, FALLBACK)
  if (result === FALLBACK) return
  assert.ok(result.startsWith(`${ORIGIN}/`), `${JSON.stringify(value)} → ${result}`)
  assert.equal(new URL(result).origin, ORIGIN, JSON.stringify(value))
  for (const base of [`${ORIGIN}/sign-in?next=x`, 'https://other.example/a/b', 'http://127.0.0.1:1/']) {
    assert.equal(new URL(result, base).origin, ORIGIN, `${JSON.stringify(value)} → ${result} from ${base}`)
  }
}

const PIECES = [
  '/',
  '//',
  '///',
  '.',
  '..',
  '/./',
  '/../',
  '\\',
  '\\\\',
  '/\\',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '%2e',
  '%2e%2e',
  '%09',
  '%0a',
  '%00',
  '\t',
  '\n',
  '\r',
  '\u0000',
  '\u001f',
  '\u007f',
  ' ',
  '\u3002',
  '\uff0f',
  'javascript:',
  'JaVaScRiPt:',
  'java\tscript:',
  'data:',
  'vbscript:',
  'http:',
  'https:',
  'https://',
  'http://',
  '@',
  ':',
  'user:pass@',
  'evil.example',
  'app.example',
  'app.example.evil.example',
  '127.0.0.1',
  'localhost',
  '?',
  '#',
  '&',
  'account',
  'alert(1)',
]

describe('safeNext: `next` after signing in stays on the origin', () => {
  test('the known tricks either stay on the origin or fall back to the account page', () => {
    const cases: [string, string][] = [
      ['/.//evil.example', `${ORIGIN}//evil.example`],
      ['/.//evil.example/steal', `${ORIGIN}//evil.example/steal`],
      ['/..//evil.example', `${ORIGIN}//evil.example`],
      ['/a/..//evil.example', `${ORIGIN}//evil.example`],
      ['/./\\evil.example', FALLBACK],
      ['//evil.example', FALLBACK],
      ['/\\evil.example', FALLBACK],
      ['\\\\evil.example', FALLBACK],
      ['/\t/evil.example', FALLBACK],
      ['/\n/evil.example', FALLBACK],
      ['https://evil.example/steal', FALLBACK],
      ['https://app.example@evil.example/', FALLBACK],
      ['https://user:pass@app.example/account', FALLBACK],
      ['javascript:alert(1)', FALLBACK],
      ['%2f%2fevil.example', `${ORIGIN}/%2f%2fevil.example`],
      ['/%2f%2fevil.example', `${ORIGIN}/%2f%2fevil.example`],
      ['', FALLBACK],
      ['/account?tab=security#top', `${ORIGIN}/account?tab=security#top`],
      [`${ORIGIN}/account`, `${ORIGIN}/account`],
    ]
    for (const [value, expected] of cases) {
      assert.equal(safeNext(value, ORIGIN, FALLBACK), expected, JSON.stringify(value))
      assertStays(value)
    }
    assert.equal(safeNext(null, ORIGIN, FALLBACK), FALLBACK)
  })

  test('property: every accepted `next` built from path tricks stays on the origin', () => {
    const tricky = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 }).map((p) => p.join(''))
    const encoded = tricky.map((v) => encodeURIComponent(v))
    const anything = fc.string({ unit: 'binary', maxLength: 40 })
    fc.assert(
      fc.property(fc.oneof(tricky, encoded, anything, fc.webUrl(), fc.webPath()), (value) => {
        assertStays(value)
      }),
      { numRuns: 20_000 },
    )
  })

  test('property: a plain same-site path is kept as it is', () => {
    fc.assert(
      fc.property(fc.webPath(), fc.webQueryParameters(), (path, query) => {
        const value = `/${path.replace(/^\/+/, '')}${query ? `?${query}` : ''}`
        fc.pre(!/[\s\\]/.test(value))
        assert.equal(safeNext(value, ORIGIN, FALLBACK), new URL(value, ORIGIN).href)
      }),
    )
  })
})
