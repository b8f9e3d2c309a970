import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseIntegerId, parseUuid } from '../../src/core/ids.js'

const ID = 'cfe4be8d-5d2a-4fe2-b057-f5ed69ebf9ca'

test('every spelling Python’s uuid.UUID accepts names the same id', () => {
  for (const spelling of [
    ID,
    ID.toUpperCase(),
    ID.replaceAll('-', ''),
    `{${ID}}`,
    `urn:uuid:${ID}`,
    `URN:UUID:${ID}`.toLowerCase(),
  ]) {
    assert.equal(parseUuid(spelling), ID, spelling)
  }
})

test('anything else is not an id', () => {
  for (const spelling of ['', 'me', 'abc', `${ID}0`, ID.slice(1), `${ID.slice(0, -1)}g`, ' ', null, 42]) {
    assert.equal(parseUuid(spelling), null, String(spelling))
  }
})

test('integer ids are read as Python’s int(): leading zeros, a sign, surrounding whitespace, digit-group underscores', () => {
  for (const [spelling, id] of [
    ['5', 5],
    ['05', 5],
    ['+5', 5],
    [' 5 ', 5],
    ['\t5\n', 5],
    ['1_0', 10],
    ['-3', -3],
    ['2147483647', 2147483647],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
    [7, 7],
  ] as const) {
    assert.equal(parseIntegerId(spelling), id, JSON.stringify(spelling))
  }
})

test('anything else is no integer id (never a rounded one)', () => {
  for (const spelling of [
    '',
    ' ',
    'abc',
    '5a',
    '5.0',
    '1e3',
    '0x10',
    '_1',
    '1_',
    '1__0',
    '+-5',
    '٥', // Arabic-Indic five: Python reads it, we deliberately do not
    '５',
    '9007199254740993',
    '9'.repeat(40),
    'me',
    null,
    5.5,
    Number.NaN,
  ]) {
    assert.equal(parseIntegerId(spelling), null, JSON.stringify(spelling))
  }
})
