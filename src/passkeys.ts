/**
 * `fastify-users/passkeys`: WebAuthn passkeys (through @simplewebauthn/server, loaded at the first passkey request):
 * `new Passkeys({ store: createKyselyPasskeyStore(database), rpID, rpName, origin })`, given to
 * `FastifyUsers` as `passkeys`, whose `passkeysRouter`, `passkeyLoginRouter` and `passkeysAdminRouter`
 * serve it; `passkeySecondFactor(passkeys)` for the login pipeline.
 */

export {
  PasskeyAlreadyRegistered,
  PasskeyChallengeExpired,
  PasskeyInvalid,
} from './factors/passkeys/errors.js'
export { type PasskeyHooks, Passkeys, type PasskeysOptions, userHandleOf } from './factors/passkeys/passkeys.js'
export type { PasskeyRouterOptions } from './factors/passkeys/routes.js'
export { type PasskeySecondFactor, passkeySecondFactor } from './factors/passkeys/second-factor.js'
export {
  type ChallengePurpose,
  type ChallengeRow,
  createKyselyPasskeyStore,
  type PasskeyRow,
  type PasskeyStore,
} from './factors/passkeys/store.js'
