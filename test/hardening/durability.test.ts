/**
 * SQLite durability, watched at the system calls: a write's promise resolves only once the WAL
 * frames it wrote are on disk (an fdatasync or fsync of the WAL file, begun after those frames were
 * written, has returned), as with `synchronous = FULL`, although the fdatasync now runs off the event
 * loop (src/stores/kysely/group-commit.ts). A child process writes under strace and prints `ACK n`
 * as each write resolves; the trace must show every ACK after such a sync. Two controls show the
 * check can fail and pass: better-sqlite3 alone with NORMAL (acknowledged before the disk has them)
 * and with FULL.
 *
 * strace comes from Debian (.ci/run installs it); outside CI, without it, the test skips and says so.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDatabase } from 'fastify-users/kysely'
import { REPOSITORY } from '../support/processes.js'

const SEQUENTIAL_ACKS = 5 + 3 + 1 // test/support/durable-writes.ts: inserts, transactions, an update
const CONCURRENT = 40

const hasStrace = spawnSync('strace', ['-V']).status === 0
const skip = !hasStrace && !process.env.CI ? 'strace is not installed (apt-get install strace)' : false

interface Trace {
  acks: number
  /** Labels acknowledged before a sync of the WAL file, begun after their frames were written, had returned. */
  early: string[]
  /** Syncs of the WAL file that returned after the `PHASE concurrent` line. */
  concurrentSyncs: number
}

/** Runs the child under strace and reads the order of its WAL writes, WAL syncs and ACKs. */
function traced(mode: 'library' | 'normal' | 'full'): Trace {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-users-durable-'))
  try {
    const log = join(dir, 'strace.log')
    const run = spawnSync(
      'strace',
      [
        // -s: whole WAL frames (a 4096-byte page and its header), where the rows' labels are
        ...['-f', '-qq', '-s', '5000', '-o', log, '-e', 'trace=openat,close,write,pwrite64,fdatasync,fsync'],
        ...[process.execPath, '--import', 'tsx', 'test/support/durable-writes.ts', mode, join(dir, 'notes.sqlite')],
      ],
      { cwd: REPOSITORY, encoding: 'utf8', timeout: 60_000 },
    )
    assert.equal(run.status, 0, `the child failed: ${run.stderr}`)
    return readTrace(readFileSync(log, 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * strace -f prints a call as one line, or as `name(args <unfinished ...>` and, later,
 * `<... name resumed>…) = result` when another thread's call came between: the order of the lines
 * is the order of the events. A row's label first appears in the WAL frame its commit wrote.
 */
function readTrace(text: string): Trace {
  const walFds = new Set<number>()
  const started = new Map<string, { call: string; args: string; at: number }>()
  const writtenAt = new Map<string, number>() // label → line of the first WAL write holding it
  const syncs: { start: number; end: number }[] = []
  let concurrentFrom = Number.POSITIVE_INFINITY
  const trace: Trace = { acks: 0, early: [], concurrentSyncs: 0 }
  text.split('\n').forEach((line, at) => {
    const head = /^(\d+)\s+(.*)$/.exec(line)
    if (!head) return
    const pid = head[1]!
    const rest = head[2]!
    let call: string
    let args: string
    let result: string
    let start = at
    const resumed = /^<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(-?\d+)/.exec(rest)
    const unfinished = /^(\w+)\((.*) <unfinished \.\.\.>$/.exec(rest)
    const whole = /^(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(rest)
    if (resumed) {
      const begun = started.get(pid)
      started.delete(pid)
      if (!begun) return
      call = begun.call
      args = begun.args + resumed[2]
      start = begun.at
      result = resumed[3]!
    } else if (unfinished) {
      started.set(pid, { call: unfinished[1]!, args: unfinished[2]!, at })
      return
    } else if (whole) {
      call = whole[1]!
      args = whole[2]!
      result = whole[3]!
    } else return
    const fd = Number.parseInt(args, 10)
    if (call === 'openat' && args.includes('-wal"') && Number(result) >= 0) walFds.add(Number(result))
    else if (call === 'close') walFds.delete(fd)
    else if ((call === 'pwrite64' || call === 'write') && walFds.has(fd)) {
      for (const [label] of args.matchAll(/\[[a-z0-9]+\]/g)) if (!writtenAt.has(label)) writtenAt.set(label, at)
    } else if ((call === 'fdatasync' || call === 'fsync') && walFds.has(fd) && result === '0') {
      syncs.push({ start, end: at })
      if (start > concurrentFrom) trace.concurrentSyncs++
    } else if (call === 'write' && fd === 1 && args.includes('"PHASE concurrent')) concurrentFrom = at
    else if (call === 'write' && fd === 1 && args.startsWith('1, "ACK ')) {
      trace.acks++
      const label = /ACK (\[[a-z0-9]+\])/.exec(args)![1]!
      const written = writtenAt.get(label)
      const covered = written !== undefined && syncs.some((sync) => sync.start > written && sync.end < at)
      if (!covered) trace.early.push(label)
    }
  })
  return trace
}

test('a SQLite write resolves only after an fdatasync of its WAL frames returned, grouped under load', { skip }, () => {
  const trace = traced('library')
  assert.equal(trace.acks, SEQUENTIAL_ACKS + CONCURRENT)
  assert.deepEqual(trace.early, [], 'writes acknowledged before their WAL frames were on disk')
  // one fdatasync serves the commits written while the one before it ran
  assert.ok(trace.concurrentSyncs >= 1 && trace.concurrentSyncs < CONCURRENT / 2, `${trace.concurrentSyncs} syncs`)
})

test('the check fails for synchronous = NORMAL alone and passes for FULL (controls)', { skip }, () => {
  const normal = traced('normal')
  assert.equal(normal.acks, SEQUENTIAL_ACKS)
  assert.equal(normal.early.length, SEQUENTIAL_ACKS, 'NORMAL acknowledges before the disk has the frames')
  const full = traced('full')
  assert.equal(full.acks, SEQUENTIAL_ACKS)
  assert.deepEqual(full.early, [])
})

test('an empty transaction on a new SQLite file finds no WAL file to sync, and answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-users-durable-'))
  const database = openDatabase(`sqlite:${join(dir, 'new.sqlite')}`)
  try {
    // `begin` and `commit` may have written, so the driver syncs; SQLite opened no WAL file for them
    assert.equal(await database.db.transaction().execute(async () => 'done'), 'done')
    assert.equal(existsSync(join(dir, 'new.sqlite-wal')), false)
  } finally {
    await database.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
