import { idTypeOf } from './column-info.js'
import type { Inspection } from './inspection.js'
import { LINKED_COLUMNS, TABLE_SETTINGS } from './linked-tables.js'
import type { ColumnInfo, Finding, UserIdType } from './types.js'

/** Tables fastify-users creates itself: never taken for an app's own. */
const OURS = [
  'kysely_migration',
  'kysely_migration_lock',
  'refresh_token',
  'email_identity',
  'oauth_state',
  'rate_limit',
]

/** A table under another name that is shaped like one of fastapi-users' (an app's own `__tablename__`). */
export interface Lookalike {
  name: string
  /** What its id (user table) or user_id (access-token table) holds. */
  idType: UserIdType | 'other' | null
}

export interface Lookalikes {
  /** Shaped like the user table: fastapi-users' email and hashed_password columns. */
  users: Lookalike[]
  /** Shaped like the access-token table: token, created_at, user_id. */
  accessTokens: Lookalike[]
}

/** The tables, other than the configured ones and ours, that look like a user or an access-token table. */
export async function findLookalikes(inspection: Inspection, tables: string[]): Promise<Lookalikes> {
  const configured = Object.values(inspection.tables)
  const found: Lookalikes = { users: [], accessTokens: [] }
  for (const table of tables.filter((t) => !OURS.includes(t) && !configured.includes(t))) {
    const columns = await inspection.dialect.describeColumns(inspection.database.db, table)
    const has = (name: string) => columns.some((c) => c.name === name)
    const idOf = (name: string) => idType(columns.find((c) => c.name === name))
    if (has('email') && has('hashed_password')) found.users.push({ name: table, idType: idOf('id') })
    else if (LINKED_COLUMNS.accessToken.every(has)) found.accessTokens.push({ name: table, idType: idOf('user_id') })
  }
  return found
}

const idType = (column: ColumnInfo | undefined) => (column ? idTypeOf(column) : null)

/**
 * What the doctor says when the configured user or access-token table is missing: the tables that look
 * like them, and the settings that adopt them as they are.
 */
export function lookalikeFindings(
  inspection: Inspection,
  lookalikes: Lookalikes,
  exists: { user: boolean; accessToken: boolean },
): Finding[] {
  const { tables } = inspection
  const [user] = lookalikes.users
  const [accessToken] = exists.accessToken ? [] : lookalikes.accessTokens
  if (!exists.user && !user) {
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
  if (!exists.user && user) {
    const names = lookalikes.users.map((t) => `"${t.name}"`).join(', ')
    const idType = user.idType === 'integer' ? 'integer' : 'uuid'
    const ids = IDS[user.idType ?? 'none']
    return [
      {
        severity: 'blocker',
        subject: `table ${tables.user}`,
        message:
          `there is no table "${tables.user}", but ${names} has fastapi-users' columns (its user table, with ${ids})` +
          (accessToken ? `, and ${accessTokenShape(accessToken)}` : '') +
          `: fastify-users reads the table named "${tables.user}" and would create a second, empty one beside it. ` +
          `Adopt ${accessToken ? 'them' : 'it'} as ${accessToken ? 'they are' : 'it is'} with ` +
          `${settings(user.name, idType, accessToken?.name)}, or point DATABASE_URL at the right database.`,
      },
    ]
  }
  if (!accessToken) return []
  return [
    {
      severity: 'warning',
      subject: `table ${tables.accessToken}`,
      message:
        `there is no table "${tables.accessToken}", but ${accessTokenShape(accessToken, 'fastapi-users’')}: with ` +
        `${TABLE_SETTINGS.accessToken}=${accessToken.name} (tables: { accessToken: '${accessToken.name}' }) its ` +
        'tokens keep working on a database-strategy backend; without it the migrations create an empty ' +
        `"${tables.accessToken}" and those sessions end`,
    },
  ]
}

const IDS: Record<UserIdType | 'other' | 'none', string> = {
  integer: 'integer ids, as IntegerIDMixin makes them',
  uuid: 'UUID ids',
  other: 'ids neither UUIDs nor integers',
  none: 'no id column',
}

const accessTokenShape = (table: Lookalike, whose = 'its') =>
  `"${table.name}" is shaped like ${whose} access-token table (database strategy, ${table.idType ?? 'no'} user_id)`

/** `USER_TABLE=users USER_ID_TYPE=integer ACCESS_TOKEN_TABLE=access_tokens (in the library: …)`. */
function settings(user: string, idType: UserIdType, accessToken: string | undefined): string {
  const env = [`${TABLE_SETTINGS.user}=${user}`]
  const library = [`user: '${user}'`]
  if (idType !== 'uuid') env.push(`USER_ID_TYPE=${idType}`)
  if (accessToken) {
    env.push(`${TABLE_SETTINGS.accessToken}=${accessToken}`)
    library.push(`accessToken: '${accessToken}'`)
  }
  const options = [`tables: { ${library.join(', ')} }`, ...(idType !== 'uuid' ? [`idType: '${idType}'`] : [])]
  return `${env.join(' ')} (in the library: ${options.join(', ')})`
}
