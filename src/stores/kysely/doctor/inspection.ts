import type { UserFields } from '../../../core/user.js'
import type { Database } from '../database.js'
import type { DoctorDialect } from './dialect.js'
import type { TableNames, UserIdType } from './types.js'

/** One inspection: the database, its dialect (chosen once) and the app's model as InspectOptions gave it. */
export interface Inspection {
  database: Database
  dialect: DoctorDialect
  idType: UserIdType
  tables: TableNames
  fields: UserFields
}

/** The column type of ids of the app's type on this database, as the migrations create it. */
export const idColumnType = (inspection: Inspection): string =>
  inspection.idType === 'integer' ? 'integer' : inspection.database.capabilities.uuidColumn

/** `ix_user_email`, `ix_users_email`: SQLAlchemy's name for the e-mail index of that user table. */
export const emailIndexName = (inspection: Inspection, suffix = ''): string =>
  `ix_${inspection.tables.user}_email${suffix}`
