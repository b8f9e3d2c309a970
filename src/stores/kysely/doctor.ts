/**
 * The doctor: looks at a database (typically one fastapi-users wrote) and says whether fastify-users can
 * adopt it as it is, what its migrations would do there and what needs attention first. It only reads.
 * Its pieces live in doctor/, one concern each; this is what the rest of the code imports.
 */

export { familyOf } from './doctor/column-info.js'
export { declarationFor } from './doctor/columns.js'
export { formatDoctorReport, redactUrl } from './doctor/format.js'
export { inspectDatabase } from './doctor/inspect.js'
export { openDatabaseReadOnly } from './doctor/open.js'
export {
  type ColumnCheck,
  type ColumnInfo,
  DoctorError,
  type DoctorReport,
  type Finding,
  type IndexCheck,
  type IndexInfo,
  type InspectOptions,
  type LinkedTable,
  type Severity,
  type TableNames,
  type TypeFamily,
  type UserCounts,
  type UserIdType,
} from './doctor/types.js'
