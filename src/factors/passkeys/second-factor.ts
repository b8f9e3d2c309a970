import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import { AuthError } from '../../core/errors.js'
import type { BaseUser } from '../../core/user.js'
import type { Passkeys } from './passkeys.js'

/**
 * A passkey as a second factor, in the shape of the login pipeline's methods (`method`,
 * `isEnabled`, `verify`), with `options` for the challenge the client answers: register it
 * with the pipeline, e.g. `secondFactors: [totpSecondFactor(…), passkeySecondFactor(passkeys)]`.
 */
export interface PasskeySecondFactor<U extends BaseUser = BaseUser> {
  readonly method: 'passkey'
  /** Its proof is the body's `passkey` (the assertion), not a typed `code`. */
  readonly field: 'passkey'
  /** The user has at least one passkey. */
  isEnabled(user: U): Promise<boolean>
  /** Request options listing only this user's passkeys; the challenge is bound to the user. */
  options(user: U): Promise<PublicKeyCredentialRequestOptionsJSON>
  /**
   * Whether `proof` is a fresh assertion of one of this user's passkeys: the assertion, or its JSON
   * text (the pipeline's `verify(user, string)`). The challenge and the signature counter are used up.
   */
  verify(user: U, proof: unknown): Promise<boolean>
  /**
   * Removes every passkey of the user: a passkey is one of "the factors", so turning the second
   * factors off (POST /auth/2fa/disable, a superuser's DELETE /users/{id}/2fa) removes them too.
   * The passkey hooks are not called: the pipeline's `onFactorChange` tells the owner.
   */
  remove(user: U): Promise<void>
}

export function passkeySecondFactor<U extends BaseUser = BaseUser>(passkeys: Passkeys): PasskeySecondFactor<U> {
  return {
    method: 'passkey',
    field: 'passkey',
    isEnabled: async (user) => (await passkeys.store.countForUser(user.id)) > 0,
    options: (user) => passkeys.secondFactorOptions(user),
    async verify(user, proof) {
      let assertion = proof
      if (typeof proof === 'string') {
        try {
          assertion = JSON.parse(proof)
        } catch {
          return false // a typed code is no assertion
        }
      }
      try {
        await passkeys.authenticate(assertion, 'second-factor', user)
        return true
      } catch (error) {
        if (error instanceof AuthError) return false // refused: a wrong, replayed or foreign answer
        throw error // a store outage is no wrong answer
      }
    },
    async remove(user) {
      await passkeys.store.deleteForUser(user.id)
    },
  }
}
