/**
 * `fastify-users/oauth`: social login. Provider clients (Google, GitHub, any OpenID Connect
 * issuer, through `openid-client`), the OAuth account store's contract and its rules; mount the
 * routers with `users.oauthRouter(client, backend, options)`.
 */

export {
  associateOAuthAccount,
  dropUnvouchedLinks,
  type OAuthAccount,
  type OAuthAccountData,
  OAuthAccountExists,
  type OAuthAccountStore,
  type OAuthAssociateCallback,
  type OAuthAssociateInput,
  type OAuthCallback,
  type OAuthCallbackInput,
  type OAuthIdentity,
  type OAuthResolveOptions,
  removeUnvouchedLinks,
  resolveOAuthUser,
  vouchesForUser,
} from './core/oauth.js'
export { OAuth2AuthorizeResponse, type OAuthFlowOptions, type OAuthRouterOptions } from './fastify/routers/oauth.js'
export {
  type AuthorizationRequest,
  type CallbackRequest,
  type GitHubClientOptions,
  type GoogleClientOptions,
  githubClient,
  googleClient,
  type OAuthClient,
  type OidcClientOptions,
  oidcClient,
} from './oauth/clients.js'
export { memoryStateStore, type OAuthStateStore } from './oauth/state.js'
