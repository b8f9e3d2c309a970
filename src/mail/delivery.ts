import type nodemailer from 'nodemailer'
import { loadPeer } from '../core/peer.js'
import type { MailContent } from './templates.js'

export interface MailMessage extends MailContent {
  to: string
}

/** The subset of pino's logger used here. */
export interface Logger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface MailDelivery {
  send(message: MailMessage): Promise<void>
  close(): Promise<void>
}

/**
 * `url` is a nodemailer connection URL (smtp://user:pass@host:587, smtps://host:465).
 * Query parameters become transport options and win over the defaults below,
 * e.g. `?requireTLS=true` or `?connectionTimeout=30000`.
 */
export function smtpDelivery(opts: { url: string; from: string; timeoutMs?: number }): MailDelivery {
  const timeout = opts.timeoutMs ?? 10_000
  // nodemailer's own defaults (2 min to connect, 10 min idle) would keep a dead server's sends pending for ages.
  const { createTransport } = loadPeer<typeof nodemailer>('nodemailer', 'SMTP mail')
  const transport = createTransport({
    url: opts.url,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  })
  return {
    async send(message) {
      const { to, subject, text, html } = message
      await transport.sendMail({ from: opts.from, to, subject, text, html })
    },
    async close() {
      transport.close()
    },
  }
}

/** Development fallback when no SMTP server is configured: mail goes to the log. */
export function logDelivery(opts: { logger: Logger; includeBody: boolean }): MailDelivery {
  return {
    async send({ to, subject, text }) {
      try {
        opts.logger.info(opts.includeBody ? { to, subject, text } : { to, subject }, 'mail not sent (no SMTP_URL)')
      } catch {
        // a broken logger must not turn into a failed request
      }
    },
    async close() {},
  }
}

export function backgroundMailer(
  delivery: MailDelivery,
  logger: Logger,
): { enqueue(message: MailMessage): void; drain(): Promise<void>; close(): Promise<void> } {
  const pending = new Set<Promise<void>>()
  let closed = false

  const drain = async () => {
    // sends enqueued while we wait are awaited too
    while (pending.size > 0) await Promise.allSettled([...pending])
  }

  return {
    enqueue(message) {
      const { to, subject } = message
      if (closed) {
        logger.warn({ to, subject }, 'mailer closed, mail dropped')
        return
      }
      // Deferred to the event loop's next turn, after the response has been written: a microtask
      // would run the delivery's synchronous work (building the message, opening the connection)
      // before the answer leaves, and that time shows only for users who exist.
      const job: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => delivery.send(message))
        // only metadata: the body carries the verification/reset token
        .catch((err: unknown) => logger.error({ to, subject, err: errorMessage(err) }, 'mail delivery failed'))
        .catch(() => {})
        .finally(() => pending.delete(job))
      pending.add(job)
    },
    drain,
    async close() {
      closed = true
      await drain()
      await delivery.close()
    },
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
