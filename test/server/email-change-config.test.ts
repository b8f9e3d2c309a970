/** EMAIL_CHANGE and EMAIL_CHANGE_TOKEN_LIFETIME (issue #17 item 3): parsed and checked at start. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, loadConfig } from '../../server/config.js'

test('EMAIL_CHANGE: immediate by default (fastapi-users), confirm when asked, in any case', () => {
  assert.deepEqual([loadConfig({}).emailChange, loadConfig({}).emailChangeTokenLifetime], ['immediate', 3600])
  assert.equal(loadConfig({ EMAIL_CHANGE: 'confirm' }).emailChange, 'confirm')
  assert.equal(loadConfig({ EMAIL_CHANGE: ' Confirm ' }).emailChange, 'confirm')
  assert.equal(loadConfig({ EMAIL_CHANGE: 'immediate' }).emailChange, 'immediate')
  assert.equal(loadConfig({ EMAIL_CHANGE_TOKEN_LIFETIME: '600' }).emailChangeTokenLifetime, 600)
})

test('EMAIL_CHANGE and EMAIL_CHANGE_TOKEN_LIFETIME: bad values are reported', () => {
  assert.throws(
    () => loadConfig({ EMAIL_CHANGE: 'verify', EMAIL_CHANGE_TOKEN_LIFETIME: '0' }),
    (error: ConfigError) => {
      assert.ok(error instanceof ConfigError)
      assert.deepEqual(error.problems, [
        'EMAIL_CHANGE must be one of immediate, confirm (got "verify")',
        'EMAIL_CHANGE_TOKEN_LIFETIME must be a whole number from 1 to 31536000 (got "0")',
      ])
      return true
    },
  )
})
