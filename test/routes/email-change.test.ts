/**
 * E-mail changes confirmed by the new address (EMAIL_CHANGE=confirm, issue #17 item 3), on every
 * database and id model, through the routes with a real SMTP server: PATCH /users/me asks and
 * keeps the address, the link goes to the new address, POST /auth/confirm-email-change moves it
 * (verified), ends the user's sessions and tells the old address. The token serves once and dies
 * with any later change of address or password; the address is checked free again. A superuser's
 * change, and the default mode (fastapi-users' contract), stay immediate.
 */
import assert from 'node:assert/strict'
import { after, before, describe } from 'node:test'
import { decodeJwt, type JWTPayload, SignJWT } from 'jose'
import {
  ACCESS_COOKIE,
  type Api,
  adminToken,
  bearer,
  bearerLogin,
  bearerRefresh,
  cookieLogin,
  me,
  NEW_PASSWORD,
  newEmail,
  PASSWORD,
  PUBLIC_URL,
  postLogin,
  registered,
  reply,
  type Service,
  service,
  UNAUTHORIZED,
  withCookies,
} from '../sessions/helpers.js'
import { TEST_SECRET } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'
import { idModels } from '../support/id-models.js'
import { type ReceivedMail, startSmtpServer } from '../support/smtp.js'

const BAD_TOKEN = [400, { detail: 'EMAIL_CHANGE_BAD_TOKEN' }]
const EMAIL_EXISTS = [400, { detail: 'UPDATE_USER_EMAIL_ALREADY_EXISTS' }]
const BAD_CREDENTIALS = [400, { detail: 'LOGIN_BAD_CREDENTIALS' }]
const NOT_FOUND = [404, { detail: 'Not Found' }]
const CONFIRM_LINK = /https?:\/\/\S+\/confirm-email-change\?token=(\S+)/
const CHANGED_SUBJECT = 'Your e-mail address was changed'
const CONFIRM_SUBJECT = 'Confirm your new e-mail address'

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>

const patchMe = (api: Api, token: string, payload: unknown) =>
  api.send({ method: 'PATCH', url: '/users/me', headers: bearer(token), payload: payload as never })
const confirm = (api: Api, token: unknown) => api.post('/auth/confirm-email-change', { token })

/** The token's claims re-signed (HS256) with `secret`, after applying `changes`. */
const resign = (token: string, changes: JWTPayload, secret = TEST_SECRET) =>
  new SignJWT({ ...decodeJwt(token), ...changes })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(secret))

for (const kind of databaseKinds()) {
  for (const model of idModels()) {
    describe(`${kind}, ${model.name} ids: EMAIL_CHANGE=confirm`, () => {
      let smtp: Smtp | undefined
      before(async () => {
        smtp = await startSmtpServer()
      })
      const { it } = service(kind, () => ({ SMTP_URL: smtp?.url ?? '', EMAIL_CHANGE: 'confirm', ...model.env }))
      after(() => smtp?.close())
      const mailbox = () => smtp as Smtp
      /** Mails a test already took a token from, so that a second request gets the next one. */
      const taken = new Set<ReceivedMail>()

      /** The next confirmation mail to `to`: the mail and its URL-decoded token. */
      async function confirmMail(to: string) {
        const mail = await mailbox().waitForMail((m) => m.to.includes(to) && !taken.has(m) && CONFIRM_LINK.test(m.text))
        taken.add(mail)
        return { mail, token: decodeURIComponent(mail.text.match(CONFIRM_LINK)?.[1] as string) }
      }
      /** PATCH /users/me {email} (200, the address unchanged) and the token mailed to the new address. */
      async function requestChange(s: Service, user: { email: string; password: string }, to: string) {
        const { access_token } = await bearerLogin(s.api, '/auth/jwt', user.email, user.password)
        const res = await patchMe(s.api, access_token, { email: to })
        assert.equal(res.statusCode, 200, res.body)
        assert.equal(res.json().email, user.email)
        return (await confirmMail(to)).token
      }
      /** Every mail enqueued so far has reached the SMTP server. */
      const drain = (s: Service) => s.app.mailer.drain()
      /** The mails of this subject that reached `to` (a registration also sends a welcome). */
      const mailsTo = (to: string, subject: string) =>
        mailbox().messages.filter((m) => m.to.includes(to) && m.subject === subject)

      it('PATCH keeps the address and mails the new one; the link moves it, verified, ends the sessions and tells the old address', async (s) => {
        const { api } = s
        const user = await registered(api)
        const jwt = await bearerLogin(api, '/auth/jwt', user.email)
        const cookie = await cookieLogin(api, user.email)
        const target = newEmail('moved')

        const res = await patchMe(api, jwt.access_token, { email: target, first_name: 'Bea' })
        assert.deepEqual(reply(res), [200, { ...withoutPassword(user), first_name: 'Bea' }])
        assert.deepEqual(reply(await me(api, bearer(jwt.access_token))), [
          200,
          { ...withoutPassword(user), first_name: 'Bea' },
        ])

        const { mail, token } = await confirmMail(target)
        assert.deepEqual(mail.to, [target])
        assert.equal(mail.subject, CONFIRM_SUBJECT)
        assert.ok(mail.text.startsWith(`Hello Bea,\n\nYou asked to use ${target} as the e-mail address`), mail.text)
        assert.ok(mail.text.includes(`${PUBLIC_URL}/confirm-email-change?token=`), mail.text)
        assert.ok(mail.html.includes(`href="${PUBLIC_URL}/confirm-email-change?token=`), 'the HTML part links too')
        assert.ok(!mail.text.includes(user.email), 'the new mailbox does not learn the old address')
        await drain(s)
        assert.deepEqual(mailsTo(user.email, CHANGED_SUBJECT), [], 'nothing to the old address yet')
        const { exp, ...claims } = decodeJwt(token)
        assert.deepEqual(Object.keys(claims).sort(), ['aud', 'fgpt', 'new_email', 'sub'])
        assert.equal(claims.aud, 'fastify-users:email-change')
        assert.equal(claims.new_email, target)
        assert.equal(claims.sub, String(user.id))
        assert.ok(typeof exp === 'number' && Math.abs(exp - Date.now() / 1000 - 3600) < 600, 'one hour by default')

        assert.deepEqual(reply(await confirm(api, token)), [
          200,
          { ...withoutPassword(user), email: target, first_name: 'Bea', is_verified: true },
        ])

        const notice = await mailbox().waitForMail((m) => m.to.includes(user.email) && m.subject === CHANGED_SUBJECT)
        assert.equal(notice.subject, CHANGED_SUBJECT)
        assert.ok(notice.text.includes(`has just been changed to ${target}.`), notice.text)
        // Every stateful session and refresh token of the user ended, the requester's too (the link may be
        // opened anywhere: it proves a mailbox, not a session). The requester's JWT is stateless and bound
        // to the password, not the address: it lasts until it expires (ACCESS_TOKEN_LIFETIME), with no refresh.
        assert.deepEqual(reply(await me(api, withCookies({ [ACCESS_COOKIE]: cookie }))), UNAUTHORIZED)
        assert.deepEqual(reply(await bearerRefresh(api, jwt.refresh_token as string)), UNAUTHORIZED)
        assert.deepEqual(reply(await me(api, bearer(jwt.access_token))), [
          200,
          { ...withoutPassword(user), email: target, first_name: 'Bea', is_verified: true },
        ])
        assert.deepEqual(reply(await postLogin(api, '/auth/jwt', user.email, PASSWORD)), BAD_CREDENTIALS)
        const fresh = await bearerLogin(api, '/auth/jwt', target)
        assert.deepEqual(reply(await me(api, bearer(fresh.access_token))), [
          200,
          { ...withoutPassword(user), email: target, first_name: 'Bea', is_verified: true },
        ])
        await drain(s)
        assert.equal(mailsTo(user.email, CHANGED_SUBJECT).length, 1, 'one notice to the old address')
        assert.equal(mailsTo(target, CONFIRM_SUBJECT).length, 1, 'one link to the new address')
      })

      it('a token serves once', async (s) => {
        const user = await registered(s.api)
        const token = await requestChange(s, user, newEmail('once'))
        assert.equal((await confirm(s.api, token)).statusCode, 200)
        assert.deepEqual(reply(await confirm(s.api, token)), BAD_TOKEN)
      })

      it('two confirmations of one token at once: one wins, the other is refused', async (s) => {
        const user = await registered(s.api)
        const target = newEmail('race')
        const token = await requestChange(s, user, target)
        const answers = (await Promise.all([confirm(s.api, token), confirm(s.api, token)])).map(reply)
        const won = answers.filter(([status]) => status === 200)
        assert.equal(won.length, 1, JSON.stringify(answers))
        assert.deepEqual(
          answers.find(([status]) => status !== 200),
          BAD_TOKEN,
        )
        assert.deepEqual((won[0] as unknown[])[1], { ...withoutPassword(user), email: target, is_verified: true })
      })

      it('a password change after the request kills the token', async (s) => {
        const user = await registered(s.api)
        const target = newEmail('after-password')
        const token = await requestChange(s, user, target)
        const { access_token } = await bearerLogin(s.api, '/auth/jwt', user.email)
        assert.equal((await patchMe(s.api, access_token, { password: NEW_PASSWORD })).statusCode, 200)
        assert.deepEqual(reply(await confirm(s.api, token)), BAD_TOKEN)
        assert.equal((await bearerLogin(s.api, '/auth/jwt', user.email, NEW_PASSWORD)).token_type, 'bearer')
      })

      it('a password change in the same PATCH applies, and the token is issued for the new password', async (s) => {
        const user = await registered(s.api)
        const target = newEmail('with-password')
        const { access_token } = await bearerLogin(s.api, '/auth/jwt', user.email)
        const res = await patchMe(s.api, access_token, { email: target, password: NEW_PASSWORD })
        assert.deepEqual(reply(res), [200, withoutPassword(user)])
        const { token } = await confirmMail(target)
        assert.deepEqual(reply(await confirm(s.api, token)), [
          200,
          { ...withoutPassword(user), email: target, is_verified: true },
        ])
        assert.equal((await bearerLogin(s.api, '/auth/jwt', target, NEW_PASSWORD)).token_type, 'bearer')
      })

      it('another e-mail change kills the token: a later request confirmed first, or a superuser’s change', async (s) => {
        const user = await registered(s.api)
        const first = await requestChange(s, user, newEmail('first'))
        const secondAddress = newEmail('second')
        const second = await requestChange(s, user, secondAddress)
        assert.equal(reply(await confirm(s.api, second))[0], 200)
        assert.deepEqual(reply(await confirm(s.api, first)), BAD_TOKEN)

        const moved = { email: secondAddress, password: PASSWORD }
        const pending = await requestChange(s, moved, newEmail('third'))
        const byAdmin = newEmail('by-admin')
        const res = await s.api.patch(`/users/${user.id}`, { email: byAdmin }, await adminToken(s.api))
        assert.equal(res.statusCode, 200, res.body)
        assert.deepEqual(reply(await confirm(s.api, pending)), BAD_TOKEN)
        assert.equal(
          reply(await me(s.api, bearer((await bearerLogin(s.api, '/auth/jwt', byAdmin)).access_token)))[0],
          200,
        )
      })

      it('the address is checked free up front, and again when confirmed', async (s) => {
        const user = await registered(s.api)
        const other = await registered(s.api)
        const { access_token } = await bearerLogin(s.api, '/auth/jwt', user.email)
        assert.deepEqual(reply(await patchMe(s.api, access_token, { email: other.email })), EMAIL_EXISTS)
        assert.deepEqual(reply(await patchMe(s.api, access_token, { email: other.email.toUpperCase() })), EMAIL_EXISTS)

        const target = newEmail('taken-meanwhile')
        const token = await requestChange(s, user, target)
        assert.equal((await s.api.register(target, PASSWORD)).statusCode, 201)
        assert.deepEqual(reply(await confirm(s.api, token)), EMAIL_EXISTS)
        assert.deepEqual(reply(await me(s.api, bearer(access_token))), [200, withoutPassword(user)])
        await drain(s)
        assert.deepEqual(mailsTo(other.email, CONFIRM_SUBJECT), [])
      })

      it('its own address again: nothing to confirm, no mail', async (s) => {
        const user = await registered(s.api)
        const { access_token } = await bearerLogin(s.api, '/auth/jwt', user.email)
        assert.deepEqual(reply(await patchMe(s.api, access_token, { email: user.email })), [200, withoutPassword(user)])
        await drain(s)
        assert.deepEqual(mailsTo(user.email, CONFIRM_SUBJECT), [])
      })

      it('a token of a user deactivated since, deleted since, or forged, expired, of another purpose: 400', async (s) => {
        const deactivated = await registered(s.api)
        const tokenOfDeactivated = await requestChange(s, deactivated, newEmail('deactivated'))
        const admin = await adminToken(s.api)
        assert.equal((await s.api.patch(`/users/${deactivated.id}`, { is_active: false }, admin)).statusCode, 200)
        assert.deepEqual(reply(await confirm(s.api, tokenOfDeactivated)), BAD_TOKEN)

        const deleted = await registered(s.api)
        const tokenOfDeleted = await requestChange(s, deleted, newEmail('deleted'))
        assert.equal((await s.api.delete(`/users/${deleted.id}`, admin)).statusCode, 204)
        assert.deepEqual(reply(await confirm(s.api, tokenOfDeleted)), BAD_TOKEN)

        const user = await registered(s.api)
        const token = await requestChange(s, user, newEmail('forged'))
        const past = Math.floor(Date.now() / 1000) - 10
        const forged = [
          'not-a-token',
          '',
          await resign(token, { exp: past }),
          await resign(token, {}, 'another-secret-that-is-long-enough-9876543210'),
          await resign(token, { aud: 'fastapi-users:verify' }),
          await resign(token, { aud: 'fastapi-users:reset' }),
          await resign(token, { fgpt: 'hmac-sha256:AAAA' }),
          await resign(token, { sub: String(deactivated.id) }),
          await resign(token, { new_email: undefined }),
        ]
        for (const bad of forged) assert.deepEqual(reply(await confirm(s.api, bad)), BAD_TOKEN, bad)
        // a verification token of this user is no e-mail change token
        const verify = await resign(token, { aud: 'fastapi-users:verify', email: user.email, new_email: undefined })
        assert.deepEqual(reply(await confirm(s.api, verify)), BAD_TOKEN)
        assert.equal((await confirm(s.api, token)).statusCode, 200, 'the genuine token still works')

        const missing = await s.api.post('/auth/confirm-email-change', {})
        assert.equal(missing.statusCode, 422)
        assert.deepEqual(
          missing.json().detail.map((d: { loc: unknown }) => d.loc),
          [['body', 'token']],
        )
      })

      it('a superuser’s PATCH /users/{id} stays immediate: no link, the old address told', async (s) => {
        const user = await registered(s.api)
        const target = newEmail('admin-set')
        const res = await s.api.patch(`/users/${user.id}`, { email: target }, await adminToken(s.api))
        assert.deepEqual(reply(res), [200, { ...withoutPassword(user), email: target, is_verified: false }])
        const notice = await mailbox().waitForMail((m) => m.to.includes(user.email) && m.subject === CHANGED_SUBJECT)
        assert.equal(notice.subject, CHANGED_SUBJECT)
        await drain(s)
        assert.deepEqual(mailsTo(target, CONFIRM_SUBJECT), [])
      })
    })

    describe(`${kind}, ${model.name} ids: EMAIL_CHANGE unset (immediate, fastapi-users' contract)`, () => {
      let smtp: Smtp | undefined
      before(async () => {
        smtp = await startSmtpServer()
      })
      const { it } = service(kind, () => ({ SMTP_URL: smtp?.url ?? '', ...model.env }))
      after(() => smtp?.close())

      it('PATCH /users/me moves the address at once, unverified; no confirm route', async (s) => {
        const user = await registered(s.api)
        const { access_token } = await bearerLogin(s.api, '/auth/jwt', user.email)
        const target = newEmail('immediate')
        assert.deepEqual(reply(await patchMe(s.api, access_token, { email: target })), [
          200,
          { ...withoutPassword(user), email: target },
        ])
        const notice = await (smtp as Smtp).waitForMail(
          (m) => m.to.includes(user.email) && m.subject === CHANGED_SUBJECT,
        )
        assert.equal(notice.subject, CHANGED_SUBJECT)
        await s.app.mailer.drain()
        assert.deepEqual(
          (smtp as Smtp).messages.filter((m) => m.to.includes(target)),
          [],
        )
        assert.deepEqual(reply(await confirm(s.api, 'any')), NOT_FOUND)
      })
    })
  }
}

function withoutPassword<T extends { password: string }>(user: T): Omit<T, 'password'> {
  const { password: _, ...rest } = user
  return rest
}
