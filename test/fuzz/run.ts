/**
 * `npm run fuzz`: the fuzz suites with a fresh random seed (printed, so a failure can be replayed
 * with FUZZ_SEED=… npm run fuzz) and many more runs than CI's fixed-seed pass.
 * FUZZ_RUNS (default 1000 batches) and FUZZ_BATCH (default 60 requests) size it.
 */
import { spawnSync } from 'node:child_process'
import { randomInt } from 'node:crypto'

const seed = process.env.FUZZ_SEED ?? String(randomInt(2 ** 31 - 1))
const runs = process.env.FUZZ_RUNS ?? '1000'
const batch = process.env.FUZZ_BATCH ?? '60'
console.log(`fuzz: seed ${seed}, ${runs} runs, batches of up to ${batch} (replay: FUZZ_SEED=${seed} npm run fuzz)`)

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', 'test/fuzz/routes.test.ts', 'test/fuzz/raw-http.test.ts'],
  { stdio: 'inherit', env: { ...process.env, FUZZ_SEED: seed, FUZZ_RUNS: runs, FUZZ_BATCH: batch } },
)
console.log(`fuzz: seed ${seed} ${result.status === 0 ? 'passed' : 'FAILED'}`)
process.exit(result.status ?? 1)
