/**
 * `fastify-users/mail`: delivering the reset, verify and notice e-mails: SMTP (through
 * `nodemailer`, loaded when first used), the log, in the background; and their templates, in
 * English, German, French and Spanish (`mailTemplates({ locales })` adds or rewords languages).
 */

export { backgroundMailer, logDelivery, type MailDelivery, type MailMessage, smtpDelivery } from './mail/delivery.js'
export {
  accountDeletedMail,
  emailChangedMail,
  emailChangeMail,
  type MailContent,
  type MailStrings,
  type MailTemplates,
  type MailTemplatesOptions,
  type MailUser,
  mailTemplates,
  passkeyAddedMail,
  passkeysRemovedMail,
  passwordChangedMail,
  resetPasswordMail,
  type SecondFactorChange,
  secondFactorChangedMail,
  verifyMail,
  welcomeMail,
} from './mail/templates.js'
