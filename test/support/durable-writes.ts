/**
 * The child of test/hardening/durability.test.ts, run under strace: writes rows to a SQLite file,
 * each with a label such as `[c7]` in its text, and prints `ACK [c7]` (one write(2) on stdout) as
 * soon as that write's promise resolves, as a route would answer its client. argv: <mode> <file>
 *
 * - `library`: through openDatabase (WAL, group commit): autocommit inserts, transactions, an
 *   UPDATE … RETURNING, then many concurrent inserts (after a `PHASE concurrent` line).
 * - `normal` / `full`: better-sqlite3 alone in WAL mode with that `synchronous` setting, the same
 *   sequential writes: the controls (NORMAL answers before the disk has the frames, FULL after).
 */
import { writeSync } from 'node:fs'
import SQLite from 'better-sqlite3'
import { openDatabase } from 'fastify-users/kysely'
import { type Generated, type Kysely, sql } from 'kysely'

const SEQUENTIAL = 5
const TRANSACTIONS = 3
const CONCURRENT = 40

const [mode, file] = process.argv.slice(2)
const ack = (label: string) => writeSync(1, `ACK ${label}\n`)

interface Tables {
  note: { id: Generated<number>; body: string }
}

async function library() {
  const database = openDatabase(`sqlite:${file}`)
  const db = database.db as unknown as Kysely<Tables>
  await sql`create table note (id integer primary key, body text not null)`.execute(db)
  for (let i = 0; i < SEQUENTIAL; i++) {
    await db
      .insertInto('note')
      .values({ body: `[s${i}]` })
      .execute()
    ack(`[s${i}]`)
  }
  for (let i = 0; i < TRANSACTIONS; i++) {
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('note')
        .values({ body: `[t${i}a]` })
        .execute()
      await trx
        .insertInto('note')
        .values({ body: `[t${i}b]` })
        .execute()
    })
    ack(`[t${i}b]`)
  }
  await db.updateTable('note').set({ body: '[u]' }).where('id', '=', 1).returning('id').execute()
  ack('[u]')
  writeSync(1, 'PHASE concurrent\n')
  await Promise.all(
    Array.from({ length: CONCURRENT }, (_, i) =>
      db
        .insertInto('note')
        .values({ body: `[c${i}]` })
        .execute()
        .then(() => ack(`[c${i}]`)),
    ),
  )
  await database.close()
}

function bare(synchronous: 'NORMAL' | 'FULL') {
  const db = new SQLite(file)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.exec('create table note (id integer primary key, body text not null)')
  const insert = db.prepare('insert into note (body) values (?)')
  for (let i = 0; i < SEQUENTIAL + TRANSACTIONS + 1; i++) {
    insert.run(`[s${i}]`)
    ack(`[s${i}]`)
  }
  db.close()
}

if (mode === 'library') await library()
else if (mode === 'normal') bare('NORMAL')
else if (mode === 'full') bare('FULL')
else throw new Error(`unknown mode ${mode}`)
