import type { FastifyRequest } from 'fastify'
import { BUILT_IN_LOCALES } from '../i18n/catalogue.js'
import { cookieValue, LOCALE_COOKIE, negotiateLocale } from '../i18n/negotiate.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The languages hooks are told about (FastifyUsers' `locales`), set by `users.plugin`. */
    fastifyUsersLocales?: readonly string[]
  }
}

/**
 * The request's language among `available` (`?lang=`, the `lang` cookie, then Accept-Language), or
 * undefined when it named none of them.
 */
export function requestLocale(
  request: FastifyRequest,
  available: readonly string[] = request.server.fastifyUsersLocales ?? BUILT_IN_LOCALES,
): string | undefined {
  const query = request.query as Record<string, unknown> | null | undefined
  return negotiateLocale(
    {
      query: typeof query?.lang === 'string' ? query.lang : undefined,
      cookie: cookieValue(request.headers.cookie, LOCALE_COOKIE),
      acceptLanguage: request.headers['accept-language'],
    },
    available,
  )
}
