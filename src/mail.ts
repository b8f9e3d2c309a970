/**
 * `fastify-users/mail`: delivering the reset, verify and notice e-mails: SMTP (through
 * `nodemailer`, loaded when first used), the log, in the background; and their templates.
 */

export { backgroundMailer, logDelivery, type MailDelivery, type MailMessage, smtpDelivery } from './mail/delivery.js'
export {
  accountDeletedMail,
  emailChangedMail,
  emailChangeMail,
  type MailContent,
  type MailUser,
  passkeyAddedMail,
  passkeysRemovedMail,
  passwordChangedMail,
  resetPasswordMail,
  secondFactorChangedMail,
  verifyMail,
  welcomeMail,
} from './mail/templates.js'
