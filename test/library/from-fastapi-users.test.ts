import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import { buildApp } from '../../examples/from-fastapi-users.js'
import { client } from '../support/app.js'
import { databaseKinds, type TestDatabase } from '../support/databases.js'
import { createFastapiUsersDatabase, fixture, fixtureUser, refreshed } from '../support/fastapi-users.js'

// The guide's port of the fastapi-users example app, started on the database that app wrote.
for (const kind of databaseKinds()) {
  describe(`the guide’s ported app on fastapi-users’ database (${kind})`, () => {
    let database: TestDatabase | null = null
    let app: FastifyInstance
    const logged: string[] = []
    before(async () => {
      database = await createFastapiUsersDatabase(kind)
      if (database)
        app = await buildApp({ databaseUrl: database.url, secret: fixture.secret, log: (m) => logged.push(m) })
    })
    after(async () => {
      await app?.close()
      await database?.drop()
    })
    const it = (name: string, body: (api: ReturnType<typeof client>) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!database) return t.skip(`${kind} is not reachable locally`)
        await body(client(app))
      })

    it('its users log in; the token carries the first_name claim, as write_token added it', async (api) => {
      const bob = fixtureUser('Bob.Mixed@Example.com')
      const token = await api.token('bob.mixed@example.com', bob.password)
      const claims = decodeJwt(token)
      assert.deepEqual([claims.sub, claims.aud, claims.first_name], [bob.id, ['fastapi-users:auth'], 'Bob'])
      const res = await api.get('/authenticated-route', token)
      assert.deepEqual(res.json(), { message: 'Hello Bob.Mixed@example.com!' })
    })

    it('a token the fastapi-users app issued reaches current_active_user', async (api) => {
      const res = await api.get('/authenticated-route', await refreshed(fixture.tokens.access_alice))
      assert.deepEqual([res.statusCode, res.json()], [200, { message: 'Hello alice@example.com!' }])
    })

    it('registration: the password rules, then on_after_register', async (api) => {
      const refused = await api.register('erin@example.com', 'erin@example.com-pw', 'Erin')
      assert.deepEqual(refused.json(), {
        detail: { code: 'REGISTER_INVALID_PASSWORD', reason: 'Password should not contain e-mail' },
      })
      const res = await api.register('erin@example.com', 'erin-password-5', 'Erin')
      assert.equal(res.statusCode, 201)
      assert.deepEqual(logged, [`User ${res.json().id} has registered.`])
      const duplicate = await api.register('ALICE@example.com', 'alice-password-9', 'Alice')
      assert.deepEqual([duplicate.statusCode, duplicate.json()], [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
    })
  })
}
