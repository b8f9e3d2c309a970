/**
 * Issue #13: one identity per person, decided by the core (`emailIdentityKey`: normalisation plus
 * full Unicode lower case), the same on SQLite, PostgreSQL and MariaDB; never by a collation or a
 * database's lower(). Provider subjects and opaque tokens compare byte for byte.
 * Variants are generated: a case variant is the same account, a look-alike is another one.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, type TestContext, test } from 'node:test'
import fc from 'fast-check'
import { buildApp } from '../../server/app.js'
import { loadConfig } from '../../server/config.js'
import { emailIdentityKey, normalizeEmail } from '../../src/core/email.js'
import { accountKey } from '../../src/fastify/rate-limit.js'
import { createKyselyAccessTokenStore } from '../../src/stores/kysely/access-token-store.js'
import { type Database, openDatabase } from '../../src/stores/kysely/database.js'
import { migrateToLatest } from '../../src/stores/kysely/migrate.js'
import { createKyselyOAuthAccountStore } from '../../src/stores/kysely/oauth-account-store.js'
import { createKyselyUserStore } from '../../src/stores/kysely/user-store.js'
import { client, json, startTestApp, TEST_SECRET, type TestApp } from '../support/app.js'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js'
import { startSmtpServer } from '../support/smtp.js'

const PASSWORD = 'identity-password-1234'
const ADMIN = { email: 'identity-admin@example.com', password: 'identity-admin-password-1' }
const RUNS = Number(process.env.IDENTITY_RUNS ?? 6)
const SEED = Number(process.env.FUZZ_SEED ?? 1313)

const ACCENTED: Record<string, string[]> = {
  a: ['à', 'á', 'ä', 'â', 'å'],
  e: ['è', 'é', 'ë', 'ê'],
  i: ['ì', 'í', 'ï', 'î'],
  o: ['ò', 'ó', 'ö', 'ô'],
  u: ['ù', 'ú', 'ü', 'û'],
}
const fullWidth = (c: string) => String.fromCodePoint((c.codePointAt(0) ?? 0) + 0xfee0)
const normalizedEmail = (email: string) => {
  const result = normalizeEmail(email)
  return result.ok ? result.email : email
}
const unique = () =>
  randomBytes(4)
    .toString('hex')
    .replace(/\d/g, (d) => 'ghijklmnop'[Number(d)] ?? 'q')

/** A fresh lower-case ASCII local part with vowels (for accents) and "fi" (for the ligature). */
const localPart = fc.stringMatching(/^[a-z]{2,6}$/).map((s) => `vi${s}fi${unique()}`)

/** Spellings that are the same identity as `local@example.com`. */
function sameIdentity(local: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(`${local.toUpperCase()}@EXAMPLE.COM`),
    fc
      .array(fc.boolean(), { minLength: local.length, maxLength: local.length })
      .map((upper) => `${[...local].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('')}@Example.com`),
    fc.constant(`  ${local}@example.com  `), // trailing and leading spaces are stripped
    fc.constant(`${local}@${[...'example'].map(fullWidth).join('')}.com`), // UTS #46 maps full-width domains
    fc.constant(`${local}@example\u3002com`), // the ideographic full stop is a dot in domains
  )
}

/** Spellings a collation would take for `local@example.com`, each another identity. */
function lookalike(local: string): fc.Arbitrary<string> {
  const vowels = [...local].flatMap((c, i) => (ACCENTED[c] ? [i] : []))
  return fc.oneof(
    fc.tuple(fc.constantFrom(...vowels), fc.nat()).map(([i, pick]) => {
      const options = ACCENTED[local[i] ?? 'a'] ?? ['à']
      return `${local.slice(0, i)}${options[pick % options.length]}${local.slice(i + 1)}@example.com`
    }),
    fc
      .nat(local.length - 1)
      .map((i) => `${local.slice(0, i)}${fullWidth(local[i] ?? 'a')}${local.slice(i + 1)}@example.com`),
    fc.constant(`${local.replace('fi', '\ufb01')}@example.com`), // the ligature ﬁ
    fc.constant(`${local}@exämple.com`),
  )
}

/** A test that starts what it needs itself and skips where the database is not reachable locally. */
function it2(kind: string, name: string, body: () => Promise<'ran' | 'skip'>) {
  test(name, async (t: TestContext) => {
    if ((await body()) === 'skip') t.skip(`${kind} is not reachable locally`)
  })
}

describe('emailIdentityKey and the per-account rate-limit key', () => {
  test('generated case variants share the key; look-alikes do not', () => {
    fc.assert(
      fc.property(
        localPart.chain((local) => fc.tuple(fc.constant(local), sameIdentity(local), lookalike(local))),
        ([local, same, other]) => {
          const base = `${local}@example.com`
          assert.equal(emailIdentityKey(same), emailIdentityKey(base), same)
          assert.equal(accountKey(same), accountKey(base), same)
          assert.notEqual(emailIdentityKey(other), emailIdentityKey(base), other)
          assert.notEqual(accountKey(other), accountKey(base), other)
        },
      ),
      { seed: SEED, numRuns: 200 },
    )
  })

  test('full Unicode case mapping: Ü/ü, ẞ/ß, İ/i̇ are pairs; İ/i, ß/ss, Unicode/punycode domains', () => {
    const same = (a: string, b: string) => assert.equal(emailIdentityKey(a), emailIdentityKey(b), `${a} = ${b}`)
    const apart = (a: string, b: string) => assert.notEqual(emailIdentityKey(a), emailIdentityKey(b), `${a} ≠ ${b}`)
    same('Üser@example.com', 'üser@example.com')
    same('ẞtraße@example.com', 'ßtraße@example.com')
    same('İnci@example.com', 'i\u0307nci@example.com')
    same('ÉLAN@example.com', 'élan@example.com')
    same('u\u0308ser@example.com', 'üser@example.com') // NFC
    same('ann@bücher.example.com', 'ann@xn--bcher-kva.example.com')
    same('ann@BÜCHER.example.com', 'ann@xn--bcher-kva.example.com')
    apart('İnci@example.com', 'inci@example.com')
    apart('ßtrasse@example.com', 'sstrasse@example.com')
    apart('victim@example.com', 'vìctim@example.com')
    apart('user@example.com', 'üser@example.com')
  })
})

for (const kind of databaseKinds()) {
  describe(`one identity per person through the routes (${kind})`, () => {
    let smtp: Awaited<ReturnType<typeof startSmtpServer>>
    let started: TestApp | null = null
    let api: ReturnType<typeof client>
    let admin: string

    before(async () => {
      smtp = await startSmtpServer()
      started = await startTestApp(kind, {
        SMTP_URL: smtp.url,
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
      })
      if (!started) return
      api = client(started.app)
      admin = await api.token(ADMIN.email, ADMIN.password)
    })
    after(async () => {
      await started?.close()
      await smtp?.close()
    })

    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!started) return t.skip(`${kind} is not reachable locally`)
        await body()
      })

    const registered = async (email: string): Promise<string> => {
      const res = await api.register(email, PASSWORD)
      assert.equal(res.statusCode, 201, `${email}: ${res.body}`)
      return res.json().id
    }
    const loginId = async (email: string, password = PASSWORD): Promise<string | number> => {
      const res = await api.login(email, password)
      if (res.statusCode !== 200) return res.statusCode
      return (await api.get('/users/me', res.json().access_token)).json().id
    }
    const mailsTo = async (route: string, email: string): Promise<string[]> => {
      const subject = route === '/auth/forgot-password' ? 'Reset your password' : 'Verify your e-mail address'
      await new Promise((resolve) => setTimeout(resolve, 300)) // the welcome mails of the registrations
      const before = smtp.messages.length
      assert.deepEqual(json(await api.post(route, { email })), [202, null])
      // the envelope spells IDN domains in punycode: compared in the form the service stores
      const sent = () =>
        smtp.messages
          .slice(before)
          .filter((m) => m.subject === subject)
          .flatMap((m) => m.to.map((to) => normalizedEmail(to)))
      // every address asked for here has an owner: wait for its mail (a loaded machine is slow), then a
      // little longer, so that a second, wrong recipient would be seen too
      for (let waited = 0; sent().length === 0 && waited < 10_000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50))
      await new Promise((resolve) => setTimeout(resolve, 300))
      return sent()
    }
    const property = (
      arbitrary: fc.Arbitrary<[string, string]>,
      check: (local: string, variant: string) => Promise<void>,
    ) =>
      fc.assert(
        fc.asyncProperty(arbitrary, ([local, variant]) => check(local, variant)),
        { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
      )
    const withSame = localPart.chain((local) => fc.tuple(fc.constant(local), sameIdentity(local)))
    const withLookalike = localPart.chain((local) => fc.tuple(fc.constant(local), lookalike(local)))

    it('register: a case variant is the same account (400), a look-alike another one (201)', async () => {
      await property(withSame, async (local, variant) => {
        await registered(`${local}@example.com`)
        assert.deepEqual(json(await api.register(variant, PASSWORD)), [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
      })
      await property(withLookalike, async (local, variant) => {
        const owner = await registered(`${local}@example.com`)
        const other = await registered(variant)
        assert.notEqual(other, owner)
        assert.equal(await loginId(variant), other, variant)
        assert.equal(await loginId(`${local}@example.com`), owner)
      })
    })

    it('non-ASCII letter case: Ü… registers, logs in as ü…, and ü… is not a second account', async () => {
      for (const [upper, lower] of [
        ['Ü', 'ü'],
        ['ẞ', 'ß'],
        ['İ', 'i\u0307'],
        ['Σ', 'σ'],
      ] as const) {
        const rest = unique()
        const id = await registered(`${upper}${rest}@example.com`)
        assert.equal(await loginId(`${lower}${rest}@example.com`), id, `${lower}${rest}`)
        assert.equal(await loginId(`${upper}${rest.toUpperCase()}@EXAMPLE.COM`), id)
        const again = await api.register(`${lower}${rest}@example.com`, PASSWORD)
        assert.deepEqual(json(again), [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
      }
      // İ lower-cases to i + U+0307, not to i: a database's lower() would have merged them
      const rest = unique()
      const dotted = await registered(`İ${rest}@example.com`)
      const plain = await registered(`i${rest}@example.com`)
      assert.notEqual(dotted, plain)
    })

    it('IDN: the Unicode and punycode spellings of a domain are one account', async () => {
      const local = unique()
      const id = await registered(`${local}@bücher.example.com`)
      assert.equal(await loginId(`${local}@xn--bcher-kva.example.com`), id)
      const again = await api.register(`${local}@XN--BCHER-KVA.example.com`, PASSWORD)
      assert.deepEqual(json(again), [400, { detail: 'REGISTER_USER_ALREADY_EXISTS' }])
    })

    it('login: a look-alike with the owner’s password is LOGIN_BAD_CREDENTIALS; a case variant signs in', async () => {
      await property(
        localPart
          .chain((local) => fc.tuple(fc.constant(local), fc.tuple(sameIdentity(local), lookalike(local))))
          .map(([local, pair]) => [local, pair.join('\n')] as [string, string]),
        async (local, pair) => {
          const [same = '', other = ''] = pair.split('\n')
          const owner = await registered(`${local}@example.com`)
          assert.equal(await loginId(same), owner, same)
          assert.equal(await loginId(other), 400, other)
        },
      )
    })

    it('forgot-password and request-verify-token mail only the exact owner, whoever registered first', async () => {
      await property(withLookalike, async (local, variant) => {
        const lookalikeAddress = (await api.register(variant, PASSWORD)).json().email as string
        const owner = `${local}@example.com`
        await registered(owner)
        for (const route of ['/auth/forgot-password', '/auth/request-verify-token']) {
          assert.deepEqual(await mailsTo(route, owner.toUpperCase()), [owner], `${route} ${owner}`)
          assert.deepEqual(await mailsTo(route, variant), [lookalikeAddress], `${route} ${variant}`)
        }
      })
    })

    it('e-mail change (PATCH /users/me and /users/{id}): a case variant of another account is taken, a look-alike is free', async () => {
      await property(
        localPart
          .chain((local) => fc.tuple(fc.constant(local), fc.tuple(sameIdentity(local), lookalike(local))))
          .map(([local, pair]) => [local, pair.join('\n')] as [string, string]),
        async (local, pair) => {
          const [same = '', other = ''] = pair.split('\n')
          await registered(`${local}@example.com`)
          const moverEmail = `mover-${unique()}@example.com`
          const mover = await registered(moverEmail)
          const token = await api.token(moverEmail, PASSWORD)
          const taken = [400, { detail: 'UPDATE_USER_EMAIL_ALREADY_EXISTS' }]
          assert.deepEqual(json(await api.patch('/users/me', { email: same }, token)), taken, same)
          assert.deepEqual(json(await api.patch(`/users/${mover}`, { email: same }, admin)), taken, same)
          const moved = await api.patch(`/users/${mover}`, { email: other }, admin)
          assert.equal(moved.statusCode, 200, `${other}: ${moved.body}`)
          assert.equal(await loginId(other), mover)
          // the old address is free again, for its case variants too
          await registered(moverEmail.toUpperCase())
        },
      )
    })
  })

  describe(`the lock-out and the first superuser follow the identity (${kind})`, () => {
    it2(kind, 'a locked account stays locked for its case variants; a look-alike never signs in as it', async () => {
      const started = await startTestApp(kind, {
        RATE_LIMIT: 'true',
        RATE_LIMIT_IP_REQUESTS: '1000',
        RATE_LIMIT_ACCOUNT_REQUESTS: '1000',
        LOGIN_IP_FAILURES: '1000',
        LOGIN_FREE_ATTEMPTS: '2',
        LOGIN_LOCKOUT_MAX: '900',
      })
      if (!started) return 'skip'
      try {
        const api = client(started.app)
        const rest = unique()
        const victim = `üvictim${rest}@example.com`
        assert.equal((await api.register(victim, PASSWORD)).statusCode, 201)
        for (let i = 0; i < 2; i++) assert.equal((await api.login(victim, `${PASSWORD}-wrong`)).statusCode, 400)
        for (const variant of [`ÜVICTIM${rest.toUpperCase()}@EXAMPLE.COM`, ` üvictim${rest}@Example.com `]) {
          assert.equal((await api.login(variant, PASSWORD)).statusCode, 429, variant)
        }
        for (const lookalike of [
          `uvictim${rest}@example.com`,
          `üvìctim${rest}@example.com`,
          `üvictim${rest}@exämple.com`,
        ]) {
          assert.deepEqual(
            json(await api.login(lookalike, PASSWORD)),
            [400, { detail: 'LOGIN_BAD_CREDENTIALS' }],
            lookalike,
          )
        }
      } finally {
        await started.close()
      }
      return 'ran'
    })

    it2(
      kind,
      'FIRST_SUPERUSER_EMAIL in another letter case finds the superuser it created: no second one',
      async () => {
        const database = await createTestDatabase(kind)
        if (!database) return 'skip'
        try {
          for (const email of ['Root.Ü@example.com', 'ROOT.Ü@EXAMPLE.COM', 'root.ü@example.com']) {
            const config = loadConfig({
              DATABASE_URL: database.url,
              SECRET: TEST_SECRET,
              LOG_LEVEL: 'silent',
              RATE_LIMIT: 'false',
              FIRST_SUPERUSER_EMAIL: email,
              FIRST_SUPERUSER_PASSWORD: ADMIN.password,
            })
            const app = await buildApp(config, { logger: false })
            await app.close()
          }
          const db = openDatabase(database.url)
          try {
            const rows = await db.db.selectFrom('user').select('email').execute()
            assert.deepEqual(
              rows.map((r) => r.email),
              ['Root.Ü@example.com'],
            )
          } finally {
            await db.close()
          }
        } finally {
          await database.drop()
        }
        return 'ran'
      },
    )
  })

  describe(`provider subjects and tokens compare byte for byte (${kind})`, () => {
    let database: TestDatabase | null = null
    let db: Database
    before(async () => {
      database = await createTestDatabase(kind)
      if (!database) return
      db = openDatabase(database.url)
      await migrateToLatest(db)
    })
    after(async () => {
      await db?.close()
      await database?.drop()
    })
    const it = (name: string, body: () => Promise<void>) =>
      test(name, async (t: TestContext) => {
        if (!database) return t.skip(`${kind} is not reachable locally`)
        await body()
      })

    it('oauth_account.account_id: USER-x, "user-x ", üser-x and user-x are four subjects', async () => {
      const users = createKyselyUserStore(db)
      const user = await users.create({
        email: `subject-${unique()}@example.com`,
        hashed_password: 'x',
        is_active: true,
        is_superuser: false,
        is_verified: false,
      })
      const accounts = createKyselyOAuthAccountStore(db)
      const data = {
        oauth_name: 'github',
        access_token: 't',
        expires_at: null,
        refresh_token: null,
        account_email: user.email,
        email_verified: true,
      }
      const added = await accounts.add(user.id, { ...data, account_id: 'user-x' })
      assert.equal((await accounts.find('github', 'user-x'))?.id, added.id)
      for (const subject of ['USER-x', 'user-x ', 'üser-x', 'user-X', 'user\u2010x']) {
        assert.equal(await accounts.find('github', subject), null, JSON.stringify(subject))
      }
      assert.equal(await accounts.find('GitHub', 'user-x'), null)
    })

    it('accesstoken.token: a token differing in case or by a trailing space finds nothing', async () => {
      const users = createKyselyUserStore(db)
      const user = await users.create({
        email: `token-${unique()}@example.com`,
        hashed_password: 'x',
        is_active: true,
        is_superuser: false,
        is_verified: false,
      })
      const tokens = createKyselyAccessTokenStore(db)
      const token = `AbCdEf${randomBytes(27).toString('base64url')}`.slice(0, 43)
      await tokens.create({ token, user_id: user.id, created_at: new Date() })
      assert.equal((await tokens.get(token, null))?.user_id, user.id)
      for (const variant of [
        token.toLowerCase(),
        token.toUpperCase(),
        `${token.slice(0, 42)} `,
        `${token.slice(0, 42)}\u0000`,
      ]) {
        assert.equal(await tokens.get(variant, null), null, variant)
      }
    })

    it('the user store: identity by the core’s key, never the database’s lower()', async () => {
      const users = createKyselyUserStore(db)
      const rest = unique()
      const base = { hashed_password: 'x', is_active: true, is_superuser: false, is_verified: false }
      const upper = await users.create({ ...base, email: `Ü${rest}@example.com` })
      assert.equal((await users.getByEmail(`ü${rest}@example.com`))?.id, upper.id)
      await assert.rejects(users.create({ ...base, email: `ü${rest}@example.com` }), {
        name: 'Error',
        message: /already exists/,
      })
      const accented = await users.create({ ...base, email: `u${rest}@example.com` })
      assert.notEqual(accented.id, upper.id)
    })
  })
}
