import type { Compilable, Kysely, QueryResult } from 'kysely'

const SLOT = '\u0000fastify-users slot '

/**
 * A statement built and compiled once, then run with each call's values. Kysely builds a query as a
 * tree of frozen nodes and compiles it again at every execution: on the refresh path that cost more
 * than SQLite's running the statements (issue 19). `build` gets `value(i)`, a stand-in for the i-th
 * value of each run; found by its stand-in among the compiled parameters, each value lands where the
 * dialect put it, whatever the order. The SQL text is the one the builder gives, so PostgreSQL's
 * named statements and the SQLite statement cache see the same statements as before.
 */
export function compiledOnce<R = Record<string, unknown>>(
  // biome-ignore lint/suspicious/noExplicitAny: the tables' columns depend on the app's custom fields
  db: Kysely<any>,
  build: (value: (index: number) => string) => Compilable<R>,
): (values: readonly unknown[]) => Promise<QueryResult<R>> {
  const compiled = build((index) => SLOT + index).compile()
  // per parameter: the index of its value in each run, or -1 for a constant the builder put there
  const slots = compiled.parameters.map((parameter) =>
    typeof parameter === 'string' && parameter.startsWith(SLOT) ? Number(parameter.slice(SLOT.length)) : -1,
  )
  return (values) =>
    db.executeQuery<R>({
      ...compiled,
      parameters: slots.map((slot, i) => (slot < 0 ? compiled.parameters[i] : values[slot])),
    })
}
