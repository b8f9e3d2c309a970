/** OAUTH_<NAME>_* in the reference service's configuration. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type ConfigError, loadConfig } from '../../server/config.js'

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env)
    return []
  } catch (error) {
    return (error as ConfigError).problems
  }
}

test('providers: GitHub and Google presets, any other name is OpenID Connect by issuer', () => {
  const config = loadConfig({
    OAUTH_GITHUB_CLIENT_ID: 'gh',
    OAUTH_GITHUB_CLIENT_SECRET: 'gh-secret',
    OAUTH_GOOGLE_CLIENT_ID: 'go',
    OAUTH_GOOGLE_CLIENT_SECRET: 'go-secret',
    OAUTH_KEYCLOAK_CLIENT_ID: 'kc',
    OAUTH_KEYCLOAK_CLIENT_SECRET: 'kc-secret',
    OAUTH_KEYCLOAK_ISSUER: 'https://sso.example.com/realms/main',
    OAUTH_KEYCLOAK_SCOPES: 'openid email groups',
  })
  assert.deepEqual(
    config.oauthProviders.map((p) => [p.name, p.kind, p.issuer ?? p.baseUrl, p.allowInsecureRequests]),
    [
      ['github', 'github', 'https://github.com', false],
      ['google', 'oidc', 'https://accounts.google.com', false],
      ['keycloak', 'oidc', 'https://sso.example.com/realms/main', false],
    ],
  )
  assert.deepEqual(config.oauthProviders[2]?.scopes, ['openid', 'email', 'groups'])
  assert.equal(config.oauthAssociateByEmail, false)
  assert.equal(config.oauthIsVerifiedByDefault, false)
  assert.deepEqual(loadConfig({}).oauthProviders, [])
})

test('bad provider settings are reported at start', () => {
  assert.deepEqual(problems({ OAUTH_OKTA_CLIENT_ID: 'x', OAUTH_OKTA_CLIENT_SECRET: 'y' }), [
    'OAUTH_OKTA_ISSUER is required with OAUTH_OKTA_CLIENT_ID (the OpenID Connect issuer URL)',
  ])
  assert.deepEqual(problems({ OAUTH_OKTA_CLIENT_ID: 'x', OAUTH_OKTA_ISSUER: 'https://okta.example.com' }), [
    'OAUTH_OKTA_CLIENT_SECRET is required with OAUTH_OKTA_CLIENT_ID',
  ])
  assert.deepEqual(
    problems({ OAUTH_OKTA_CLIENT_ID: 'x', OAUTH_OKTA_CLIENT_SECRET: 'y', OAUTH_OKTA_ISSUER: 'http://10.0.0.1' }),
    ['OAUTH_OKTA_ISSUER must be an https URL (http only on loopback)'],
  )
  assert.deepEqual(problems({ OAUTH_JWT_CLIENT_ID: 'x', OAUTH_JWT_CLIENT_SECRET: 'y' }), [
    'OAUTH_JWT_CLIENT_ID: "jwt" is a reserved route name',
  ])
  const local = loadConfig({
    OAUTH_DEV_CLIENT_ID: 'x',
    OAUTH_DEV_CLIENT_SECRET: 'y',
    OAUTH_DEV_ISSUER: 'http://127.0.0.1:9000',
  })
  assert.equal(local.oauthProviders[0]?.allowInsecureRequests, true)
})
