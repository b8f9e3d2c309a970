/**
 * The 5xx the route fuzzer found, one plain test each, on every database: bodies the service
 * cannot parse are FastAPI's 400 `There was an error parsing the body`, never a 500.
 */
import assert from 'node:assert/strict'
import { after, before, describe, type TestContext, test } from 'node:test'
import { client, json, startTestApp, type TestApp } from '../support/app.js'
import { databaseKinds } from '../support/databases.js'

const UNPARSABLE = [400, { detail: 'There was an error parsing the body' }]
const USER = { email: 'regression@example.com', password: 'regression-password-123' }

for (const kind of databaseKinds()) {
  describe(`fuzzer regressions (${kind})`, () => {
    let started: TestApp | null = null
    before(async () => {
      started = await startTestApp(kind)
      if (started) assert.equal((await client(started.app).register(USER.email, USER.password)).statusCode, 201)
    })
    after(async () => {
      await started?.close()
    })

    const it = (name: string, body: (api: ReturnType<typeof client>) => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body(client(started.app))
      })

    const multipartLogin = (api: ReturnType<typeof client>, contentType: string, payload: string) =>
      api.send({ method: 'POST', url: '/auth/jwt/login', headers: { 'content-type': contentType }, payload })

    it('fuzz: a multipart login without a boundary is a 400, not a 500', async (api) => {
      assert.deepEqual(json(await multipartLogin(api, 'multipart/form-data', 'x')), UNPARSABLE)
      assert.deepEqual(json(await multipartLogin(api, 'multipart/form-data; boundary=', 'x')), UNPARSABLE)
    })

    it('fuzz: a multipart login whose body does not match its boundary is a 400, not a 500', async (api) => {
      assert.deepEqual(json(await multipartLogin(api, 'multipart/form-data; boundary=x', 'garbage')), UNPARSABLE)
      const truncated = '--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nzz'
      assert.deepEqual(json(await multipartLogin(api, 'multipart/form-data; boundary=x', truncated)), UNPARSABLE)
    })

    it('a well-formed multipart login still works', async (api) => {
      const field = (name: string, value: string) =>
        `--x\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
      const body = `${field('username', USER.email)}${field('password', USER.password)}--x--\r\n`
      const res = await multipartLogin(api, 'multipart/form-data; boundary=x', body)
      assert.equal(res.statusCode, 200, res.body)
    })

    it('fuzz: JSON nested deeper than 1000 levels is a 400, not a 500 (its 422 could not be serialised)', async (api) => {
      for (const contentType of ['application/json', undefined]) {
        for (const payload of ['['.repeat(10_000), `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`]) {
          const res = await api.send({
            method: 'POST',
            url: '/auth/forgot-password',
            headers: contentType ? { 'content-type': contentType } : {},
            payload,
          })
          assert.deepEqual(json(res), UNPARSABLE)
        }
      }
      const nestedEmail = `{"email":${'['.repeat(2000)}${']'.repeat(2000)}}`
      const res = await api.send({
        method: 'PATCH',
        url: '/users/me',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await api.token(USER.email, USER.password)}`,
        },
        payload: nestedEmail,
      })
      assert.deepEqual(json(res), UNPARSABLE)
    })

    it('JSON nested 1000 levels deep is still parsed and validated (422)', async (api) => {
      const res = await api.send({
        method: 'POST',
        url: '/auth/forgot-password',
        headers: { 'content-type': 'application/json' },
        payload: `{"email":${'['.repeat(999)}${']'.repeat(999)}}`,
      })
      assert.equal(res.statusCode, 422)
      assert.deepEqual(res.json().detail[0].loc, ['body', 'email'])
    })

    it('brackets inside JSON strings do not count as nesting', async (api) => {
      const res = await api.post('/auth/forgot-password', { email: `${'['.repeat(5000)}@example.com` })
      assert.equal(res.statusCode, 422)
    })
  })
}
