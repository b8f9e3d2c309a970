/**
 * A TOTP code that is wrong for sure: a fixed guess such as '000000' is right for one key and window
 * in about 10^6 / 3 (one step of drift either side), which is a flaky test over enough runs.
 */
import { totp } from '../../src/index.js'

const STEP = 30_000

/** A six-digit code that matches no step within two of `nowMs` for `key`; `nth` picks another such code. */
export function wrongCode(key: Uint8Array, nowMs: number, nth = 0): string {
  const valid = new Set([-2, -1, 0, 1, 2].map((offset) => totp(key, nowMs + offset * STEP)))
  const wrong = ['000000', '111111', '222222', '333333', '444444', '555555', '666666'].filter((c) => !valid.has(c))
  return wrong[nth] as string
}
