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
  /** The user has at least one passkey. */
  isEnabled(user: U): Promise<boolean>
  /** Request options listing only this user's passkeys; the challenge is bound to the user. */
  options(user: U): Promise<PublicKeyCredentialRequestOptionsJSON>
  /** Whether `proof` (the assertion JSON) is a fresh assertion of one of this user's passkeys. */
  verify(user: U, proof: unknown): Promise<boolean>
}

export function passkeySecondFactor<U extends BaseUser = BaseUser>(passkeys: Passkeys): PasskeySecondFactor<U> {
  return {
    method: 'passkey',
    isEnabled: async (user) => (await passkeys.store.countForUser(user.id)) > 0,
    options: (user) => passkeys.secondFactorOptions(user),
    async verify(user, proof) {
      try {
        await passkeys.authenticate(proof, 'second-factor', user)
        return true
      } catch (error) {
        if (error instanceof AuthError) return false // refused: a wrong, replayed or foreign answer
        throw error // a store outage is no wrong answer
      }
    },
  }
}
