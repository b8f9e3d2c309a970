import { Type } from 'typebox'

/** POST <backend>/login/2fa's body: the ticket of the 2FA-required answer and a code. */
export const SecondFactorLogin = Type.Object(
  { ticket: Type.String({ maxLength: 200 }), code: Type.String({ maxLength: 100 }) },
  { title: 'SecondFactorLogin' },
)

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
