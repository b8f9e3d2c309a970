import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

/**
 * `npm run bench` itself, on a tiny load: it builds, starts the service, loads it and writes its
 * JSON and Markdown. Only that it works is checked here, never how fast (BENCHMARKS.md says that).
 */
test('the bench runs end to end on a tiny load and writes its JSON and Markdown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-users-bench-smoke-'))
  try {
    const out = join(dir, 'smoke.json')
    const markdown = join(dir, 'smoke.md')
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        '--quick',
        '--duration=1',
        '--warmup=0',
        '--reps=1',
        '--no-peer',
        '--no-postgres',
        '--only=ceiling,me-jwt,me-database,login-2fa,sessions,startup',
        `--out=${out}`,
        `--markdown=${markdown}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    child.stdout?.on('data', (chunk) => (output += chunk))
    child.stderr?.on('data', (chunk) => (output += chunk))
    const [code] = await once(child, 'exit')
    assert.equal(code, 0, output)

    const report = JSON.parse(readFileSync(out, 'utf8'))
    const sqlite = report.targets.find((t: { id: string }) => t.id === 'sqlite')
    assert.equal(sqlite.status, 'ok')
    for (const id of ['ceiling', 'me-jwt', 'me-database', 'login-2fa', 'sessions']) {
      const scenario = sqlite.scenarios.find((s: { id: string }) => s.id === id)
      assert.equal(scenario.status, 'ok', id)
      assert.ok(scenario.summary.ok > 0, `${id} got answers`)
      assert.equal(scenario.summary.errors, 0, `${id} had no errors`)
    }
    // the raw hashing limit: a median over several rounds, with their spread
    const verify = report.hashing['argon2id-verify']
    assert.ok(verify.rate > 0 && verify.rounds.length === 3, JSON.stringify(verify))
    assert.ok(verify.spread >= 0 && verify.params === 'argon2id v=19 m=19456,t=2,p=1', JSON.stringify(verify))
    // start-up: npm start's bundle always; the unbundled dist/ only when built from the current sources
    const bundle = report.startup.find((r: { script: string }) => r.script.endsWith('server.mjs'))
    assert.equal(bundle.status, 'ok', JSON.stringify(report.startup))
    assert.equal(bundle.rounds.length, 3)
    assert.ok(bundle.medianMs > 0 && bundle.minMs <= bundle.medianMs && bundle.medianMs <= bundle.maxMs)
    assert.ok(bundle.cpuMs > 0)
    assert.equal(report.startup.length, 2)
    assert.equal(report.machine.node, process.version)
    const table = readFileSync(markdown, 'utf8')
    assert.match(table, /\| GET \/users\/me \(JWT\) \|/)
    assert.match(table, /## Targets/)
    assert.match(table, /\| POST \/auth\/jwt\/login \+ \/login\/2fa \(TOTP\) \|/)
    assert.match(table, /\| GET \/users\/me\/sessions \(JWT, 5 sessions\) \|/)
    assert.match(table, /## Start-up/)
    assert.match(table, /\| npm start \(the service bundled by server\/bundle\.ts\) \| [\d,]+ \|/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
