import { Type } from 'typebox'

/** A passkey's assertion as JSON (`credential.toJSON()` of `navigator.credentials.get()`). */
const Assertion = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description: 'A passkey’s assertion (`credential.toJSON()`), answering the options of the `passkey/options` route.',
})

/** Exactly one of `code` and `passkey` (JSON Schema keywords only: validation's removeAdditional leaves them be). */
const exactlyOneProof = {
  anyOf: [{ required: ['code'] }, { required: ['passkey'] }],
  not: { required: ['code', 'passkey'] },
}

/** POST <backend>/login/2fa's body: the ticket of the 2FA-required answer and a code, or a passkey's assertion. */
export const SecondFactorLogin = {
  ...Type.Object(
    {
      ticket: Type.String({ maxLength: 200 }),
      code: Type.Optional(Type.String({ maxLength: 100 })),
      passkey: Type.Optional(Assertion),
    },
    { title: 'SecondFactorLogin' },
  ),
  ...exactlyOneProof,
}

/** POST <backend>/login/2fa/passkey/options: the ticket of the 2FA-required answer. */
export const TicketBody = Type.Object({ ticket: Type.String({ maxLength: 200 }) }, { title: 'SecondFactorTicket' })

/** POST /2fa/step-up: a code of a factor, or a passkey's assertion. */
export const StepUpBody = {
  ...Type.Object(
    { code: Type.Optional(Type.String({ maxLength: 100 })), passkey: Type.Optional(Assertion) },
    { title: 'SecondFactorStepUp' },
  ),
  ...exactlyOneProof,
}

/** A code of a factor (TOTP) or, where it says so, a recovery code. */
export const CodeBody = Type.Object({ code: Type.String({ maxLength: 100 }) }, { title: 'SecondFactorCode' })

/** POST /2fa/disable: the password or a code of a factor. */
export const DisableBody = Type.Object(
  { password: Type.Optional(Type.String()), code: Type.Optional(Type.String({ maxLength: 100 })) },
  { title: 'SecondFactorDisable' },
)

export const TotpSetupRead = Type.Object({ secret: Type.String(), otpauth_url: Type.String() }, { title: 'TotpSetup' })

export const RecoveryCodesRead = Type.Object({ recovery_codes: Type.Array(Type.String()) }, { title: 'RecoveryCodes' })

export const SecondFactorStatus = Type.Object(
  {
    enabled: Type.Boolean(),
    methods: Type.Array(Type.String()),
    recovery_codes_remaining: Type.Integer(),
  },
  { title: 'SecondFactorStatus' },
)
