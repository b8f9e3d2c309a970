import { AuthError } from '../../core/errors.js'

/** The passkey's answer does not check out: unknown credential, bad signature, wrong origin, a counter gone backwards. */
export class PasskeyInvalid extends AuthError {
  readonly code = 'PASSKEY_INVALID'
}

/** The challenge the answer signs is unknown, already used, expired, or was issued for something else. */
export class PasskeyChallengeExpired extends AuthError {
  readonly code = 'PASSKEY_CHALLENGE_EXPIRED'
}

/** This authenticator's credential is registered already. */
export class PasskeyAlreadyRegistered extends AuthError {
  readonly code = 'PASSKEY_ALREADY_REGISTERED'
}
