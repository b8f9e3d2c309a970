import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { backgroundMailer, type Logger, logDelivery, type MailMessage, smtpDelivery } from '../../src/mail/delivery.js'
import { resetPasswordMail, verifyMail, welcomeMail } from '../../src/mail/templates.js'
import { startSmtpServer } from '../support/smtp.js'

type Entry = { level: 'info' | 'warn' | 'error'; obj: object; msg?: string }

function memoryLogger(): Logger & { entries: Entry[] } {
  const entries: Entry[] = []
  return {
    entries,
    info: (obj, msg) => entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => entries.push({ level: 'error', obj, msg }),
  }
}

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address && typeof address === 'object')
  await new Promise((resolve) => server.close(resolve))
  return address.port
}

const token = 'tok.en+/=?&secret'
const encoded = encodeURIComponent(token)

describe('templates', () => {
  test('verifyMail links to /verify with the url-encoded token', () => {
    const mail = verifyMail({ email: 'a@example.com' }, token, 'https://app.example.com')
    const link = `https://app.example.com/verify?token=${encoded}`
    assert.ok(mail.text.includes(link))
    assert.ok(mail.html.includes(`href="${link}"`))
    assert.match(mail.text, /one hour/)
    assert.match(mail.subject, /verify/i)
  })

  test('resetPasswordMail links to /reset-password without a double slash', () => {
    const mail = resetPasswordMail({ email: 'a@example.com' }, token, 'https://app.example.com/')
    assert.ok(mail.text.includes(`https://app.example.com/reset-password?token=${encoded}`))
    assert.ok(!mail.text.includes('.com//'))
    assert.ok(!mail.html.includes('.com//'))
    assert.match(mail.html, /one hour/)
  })

  test('welcomeMail greets by first name, else by e-mail', () => {
    assert.match(welcomeMail({ email: 'a@example.com', first_name: 'Ada' }, 'https://x.test/').text, /^Hello Ada,/)
    assert.match(
      welcomeMail({ email: 'a@example.com', first_name: null }, 'https://x.test').text,
      /^Hello a@example.com,/,
    )
    assert.ok(!welcomeMail({ email: 'a@example.com' }, 'https://x.test/').text.includes('x.test//'))
  })

  test('user values are escaped in html but not in text', () => {
    const name = '<script>alert("x")</script>'
    for (const mail of [
      welcomeMail({ email: 'a@example.com', first_name: name }, 'https://x.test'),
      verifyMail({ email: 'a@example.com', first_name: name }, token, 'https://x.test'),
      resetPasswordMail({ email: 'a@example.com', first_name: name }, token, 'https://x.test'),
    ]) {
      assert.ok(!mail.html.includes('<script>'))
      assert.ok(mail.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'))
      assert.ok(mail.text.includes(name))
    }
    const byEmail = welcomeMail({ email: '"<b>"@example.com' }, 'https://x.test')
    assert.ok(byEmail.html.includes('&quot;&lt;b&gt;&quot;@example.com'))
    assert.ok(byEmail.text.includes('"<b>"@example.com'))
  })
})

describe('delivery', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>
  before(async () => {
    smtp = await startSmtpServer()
  })
  after(async () => {
    await smtp.close()
  })

  const message = (to: string): MailMessage => ({
    to,
    ...verifyMail({ email: to }, token, 'https://app.example.com'),
  })

  test('smtpDelivery delivers to a real SMTP server', async () => {
    const delivery = smtpDelivery({ url: smtp.url, from: 'noreply@example.com' })
    await delivery.send(message('direct@example.com'))
    await delivery.close()
    const mail = await smtp.waitForMail((m) => m.to.includes('direct@example.com'))
    assert.equal(mail.from, 'noreply@example.com')
    assert.equal(mail.subject, 'Verify your e-mail address')
    assert.ok(mail.text.includes(`https://app.example.com/verify?token=${encoded}`))
    assert.ok(mail.html.includes('https://app.example.com/verify?token='))
  })

  test('backgroundMailer.enqueue returns before delivery; drain() waits for it', async () => {
    const logger = memoryLogger()
    const mailer = backgroundMailer(smtpDelivery({ url: smtp.url, from: 'noreply@example.com' }), logger)
    const isOurs = (m: { to: string[] }) => m.to.includes('queued@example.com')
    mailer.enqueue(message('queued@example.com'))
    assert.equal(smtp.messages.filter(isOurs).length, 0)
    await mailer.drain()
    assert.equal(smtp.messages.filter(isOurs).length, 1)
    assert.deepEqual(logger.entries, [])
    await mailer.close()
  })

  test('a dead SMTP server never throws and logs no body or token', async () => {
    const logger = memoryLogger()
    const port = await closedPort()
    const mailer = backgroundMailer(
      smtpDelivery({ url: `smtp://127.0.0.1:${port}`, from: 'noreply@example.com', timeoutMs: 2000 }),
      logger,
    )
    const msg = message('lost@example.com')
    assert.doesNotThrow(() => mailer.enqueue(msg))
    await mailer.drain()
    assert.equal(logger.entries.length, 1)
    const [entry] = logger.entries
    assert.equal(entry?.level, 'error')
    assert.deepEqual(Object.keys(entry?.obj ?? {}).sort(), ['err', 'subject', 'to'])
    const logged = JSON.stringify(logger.entries)
    assert.ok(!logged.includes(token) && !logged.includes(encoded) && !logged.includes('/verify'))
    assert.ok(!logged.includes(msg.text.slice(0, 20)))
    await mailer.close()
  })

  test('logDelivery logs the body only when asked to', async () => {
    const quiet = memoryLogger()
    await logDelivery({ logger: quiet, includeBody: false }).send(message('dev@example.com'))
    assert.equal(quiet.entries.length, 1)
    assert.deepEqual(quiet.entries[0]?.obj, { to: 'dev@example.com', subject: 'Verify your e-mail address' })
    assert.ok(!JSON.stringify(quiet.entries).includes(encoded))

    const verbose = memoryLogger()
    await logDelivery({ logger: verbose, includeBody: true }).send(message('dev@example.com'))
    assert.ok(JSON.stringify(verbose.entries).includes(encoded))
  })

  test('logDelivery never throws, even with a broken logger', async () => {
    const broken: Logger = {
      info: () => {
        throw new Error('boom')
      },
      warn: () => {},
      error: () => {},
    }
    await logDelivery({ logger: broken, includeBody: true }).send(message('dev@example.com'))
  })
})
