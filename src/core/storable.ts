/**
 * What every database can store of a string: no NUL (PostgreSQL refuses it in text) and no unpaired
 * UTF-16 surrogate (it has no UTF-8 form: drivers would silently store U+FFFD instead). A value that
 * cannot be stored also matches no stored row, so a look-up by it answers "none" without a query.
 */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value)
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what is refused
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** How much of a string a column holds on every supported database. */
export interface StorableLimit {
  /** Characters (code points): `varchar(n)`. */
  maxChars?: number
  /** UTF-8 bytes: `text` holds 65,535 on MariaDB. */
  maxBytes?: number
}

/**
 * The limit of a column type on the strictest of SQLite, PostgreSQL and MariaDB: `varchar(n)`
 * holds n characters; `text` 65,535 bytes (MariaDB's TEXT); other types hold no strings (none).
 */
export function storableLimitOf(columnType: string): StorableLimit | undefined {
  const type = columnType.trim().toLowerCase()
  const varchar = /^(?:varchar|character varying|char|character)\s*\(\s*(\d+)\s*\)$/.exec(type)
  if (varchar) return { maxChars: Number(varchar[1]) }
  if (type === 'text' || type === 'clob') return { maxBytes: 65_535 }
  if (type === 'mediumtext') return { maxBytes: 16_777_215 }
  if (type === 'longtext') return { maxBytes: 1_073_741_823 }
  return undefined
}

export function codePoints(value: string): number {
  let n = 0
  for (const _ of value) n++
  return n
}
