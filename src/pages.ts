/** `fastify-users/pages`: hosted HTML pages (sign in, register, reset, verify) over the JSON API. */

export {
  type HostedPagesOptions,
  hostedPages,
  type PageField,
  type PageStrings,
  type PageStringsOverride,
  type PagesApi,
  type PasskeysPagesApi,
  type PasswordRule,
  pageStrings,
  redactTokenQuery,
} from './pages/index.js'
