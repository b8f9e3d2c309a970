import type { AddressInfo } from 'node:net'
import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  from: string
  to: string[]
  subject: string
  text: string
  html: string
}

interface Waiter {
  predicate: (m: ReceivedMail) => boolean
  resolve: (m: ReceivedMail) => void
}

/** A real SMTP server on a random local port that keeps every message it receives. */
export async function startSmtpServer(): Promise<{
  url: string
  port: number
  messages: ReceivedMail[]
  waitForMail(predicate: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>
  close(): Promise<void>
}> {
  const messages: ReceivedMail[] = []
  const waiters = new Set<Waiter>()

  const server = new SMTPServer({
    authOptional: true,
    // Without STARTTLS nodemailer stays on plain text, so a bare smtp:// URL works.
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 1000,
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((a) => a.address),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: parsed.html || '',
          }
          messages.push(mail)
          for (const w of waiters) if (w.predicate(mail)) w.resolve(mail)
          callback()
        },
        (err: Error) => callback(err),
      )
    },
  })

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.server.address() as AddressInfo

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    waitForMail(predicate, timeoutMs = 5000) {
      const found = messages.find(predicate)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (m) => {
            clearTimeout(timer)
            waiters.delete(waiter)
            resolve(m)
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          const seen = messages.map((m) => `${m.to.join(',')}: ${m.subject}`).join('; ') || 'none'
          reject(new Error(`no matching mail within ${timeoutMs} ms (received: ${seen})`))
        }, timeoutMs)
        waiters.add(waiter)
      })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
