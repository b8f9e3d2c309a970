import type { PrettyStream } from 'pino-pretty'

/**
 * Development logs a person reads at a terminal: pino-pretty (a development dependency) with
 * colours, and a mail's body (the development mail fallback) printed as it is, one line per
 * line, so that the link it carries can be clicked. Undefined when pino-pretty is not installed.
 */
export async function developmentLogStream(): Promise<PrettyStream | undefined> {
  let pretty: typeof import('pino-pretty')
  try {
    pretty = (await import('pino-pretty')).default
  } catch {
    return undefined
  }
  return pretty({
    colorize: true,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    customPrettifiers: {
      text: (value: string | object) => `\n${String(value).replace(/^/gm, '      ')}`,
    },
  })
}
