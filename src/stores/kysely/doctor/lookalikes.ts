import { idTypeOf } from './column-info.js'
import type { Inspection } from './inspection.js'
import { LINKED_COLUMNS, TABLE_SETTINGS } from './linked-tables.js'
import type { Finding, TableNames, UserIdType } from './types.js'

/** Tables fastify-users creates itself: never taken for an app's own. */
const OURS = [
  'kysely_migration',
  'kysely_migration_lock',
  'refresh_token',
  'email_identity',
  'oauth_state',
  'rate_limit',
  'session_info',
  'totp_secret',
  'recovery_code',
  'login_ticket',
  'step_up',
  'passkey',
  'passkey_challenge',
  'login_identity',
  'auth_event',
]

/** A table under another name that is shaped like one of fastapi-users' (an app's own `__tablename__`). */
export interface Lookalike {
  name: string
  /** What its id (user table) or user_id (the others) holds; null without such a column. */
  idType: UserIdType | 'other' | null
}

/** For each of the app's tables that is missing, the tables under other names shaped like it. */
export type Lookalikes = Record<keyof TableNames, Lookalike[]>

interface Shape {
  /** The columns that make a table look like this one. */
  columns: string[]
  /** The column that holds (or references) the user's id. */
  id: string
  /** What the consequence is when it is not named (a linked table only). */
  without?: string
}

const SHAPES: Record<keyof TableNames, Shape> = {
  user: { columns: ['email', 'hashed_password'], id: 'id' },
  accessToken: {
    columns: LINKED_COLUMNS.accessToken,
    id: 'user_id',
    without: 'its tokens keep working on a database-strategy backend; without it the migrations create an empty',
  },
  oauthAccount: {
    columns: LINKED_COLUMNS.oauthAccount,
    id: 'user_id',
    without: 'its users keep signing in with their providers; without it the migrations create an empty',
  },
}

const KEYS = Object.keys(SHAPES) as (keyof TableNames)[]

/** The tables, other than the configured ones and ours, shaped like one of the app's tables that is missing. */
export async function findLookalikes(
  inspection: Inspection,
  tables: string[],
  missing: Record<keyof TableNames, boolean>,
): Promise<Lookalikes> {
  const found: Lookalikes = { user: [], accessToken: [], oauthAccount: [] }
  if (!KEYS.some((key) => missing[key])) return found
  const configured = Object.values(inspection.tables)
  for (const table of tables.filter((t) => !OURS.includes(t) && !configured.includes(t))) {
    const columns = await inspection.dialect.describeColumns(inspection.database.db, table)
    const key = KEYS.find((k) => SHAPES[k].columns.every((name) => columns.some((c) => c.name === name)))
    if (!key || !missing[key]) continue
    const id = columns.find((c) => c.name === SHAPES[key].id)
    found[key].push({ name: table, idType: id ? idTypeOf(id) : null })
  }
  return found
}

/**
 * What the doctor says when one of the app's tables is missing: the tables that look like it, and the
 * settings that adopt them as they are.
 */
export function lookalikeFindings(inspection: Inspection, lookalikes: Lookalikes, userExists: boolean): Finding[] {
  const { tables } = inspection
  const [user] = lookalikes.user
  const linked = (['accessToken', 'oauthAccount'] as const).flatMap((key) =>
    lookalikes[key].slice(0, 1).map((table) => ({ key, table })),
  )
  if (!userExists && !user) {
    return [
      {
        severity: 'warning',
        subject: `table ${tables.user}`,
        message:
          `there is no table "${tables.user}": the migrations will create it, empty. If you meant to adopt a ` +
          'fastapi-users database, DATABASE_URL points somewhere else.',
      },
    ]
  }
  if (!userExists && user) {
    const names = lookalikes.user.map((t) => `"${t.name}"`).join(', ')
    const several = linked.length > 0
    const idType = user.idType === 'integer' ? 'integer' : 'uuid'
    return [
      {
        severity: 'blocker',
        subject: `table ${tables.user}`,
        message:
          `there is no table "${tables.user}", but ${names} has fastapi-users' columns (its user table, with ` +
          `${IDS[user.idType ?? 'none']})` +
          linked.map(({ key, table }) => `, and ${shape(key, table, 'its')}`).join('') +
          `: fastify-users reads the table named "${tables.user}" and would create a second, empty one beside it. ` +
          `Adopt ${several ? 'them' : 'it'} as ${several ? 'they are' : 'it is'} with ` +
          `${settings([{ key: 'user', table: user }, ...linked], idType)}, or point DATABASE_URL at the right database.`,
      },
    ]
  }
  return linked.map(({ key, table }) => ({
    severity: 'warning',
    subject: `table ${tables[key]}`,
    message:
      `there is no table "${tables[key]}", but ${shape(key, table, 'fastapi-users’')}: with ` +
      `${TABLE_SETTINGS[key]}=${table.name} (tables: { ${key}: '${table.name}' }) ${SHAPES[key].without} ` +
      `"${tables[key]}" and those ${key === 'accessToken' ? 'sessions end' : 'links are lost'}`,
  }))
}

const IDS: Record<UserIdType | 'other' | 'none', string> = {
  integer: 'integer ids, as IntegerIDMixin makes them',
  uuid: 'UUID ids',
  other: 'ids neither UUIDs nor integers',
  none: 'no id column',
}

const WHAT: Record<Exclude<keyof TableNames, 'user'>, string> = {
  accessToken: 'access-token table (database strategy, ',
  oauthAccount: 'OAuth-account table (',
}

function shape(key: Exclude<keyof TableNames, 'user'>, table: Lookalike, whose: string): string {
  return `"${table.name}" is shaped like ${whose} ${WHAT[key]}${table.idType ?? 'no'} user_id)`
}

/** `USER_TABLE=users USER_ID_TYPE=integer ACCESS_TOKEN_TABLE=access_tokens (in the library: …)`. */
function settings(named: { key: keyof TableNames; table: Lookalike }[], idType: UserIdType): string {
  const env = named.map(({ key, table }) => `${TABLE_SETTINGS[key]}=${table.name}`)
  if (idType !== 'uuid') env.splice(1, 0, `USER_ID_TYPE=${idType}`)
  const library = `tables: { ${named.map(({ key, table }) => `${key}: '${table.name}'`).join(', ')} }`
  return `${env.join(' ')} (in the library: ${library}${idType !== 'uuid' ? `, idType: '${idType}'` : ''})`
}
