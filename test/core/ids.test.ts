import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseUuid } from '../../src/core/ids.js'

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
