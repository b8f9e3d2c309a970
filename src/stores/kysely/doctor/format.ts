import type { DoctorReport, Severity } from './types.js'

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (!parsed.password) return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

const LABEL: Record<Severity, string> = { ok: 'ok', note: 'note', warning: 'WARNING', blocker: 'BLOCKER' }

/** The report as the CLI prints it. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = []
  const row = (severity: Severity, ...cells: string[]) => {
    const padded = cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(i === 0 ? 20 : 24)))
    lines.push(`  ${LABEL[severity].padEnd(8)} ${padded.join(' ')}`.trimEnd())
  }

  lines.push(`fastify-users doctor: ${report.database.url || '(database)'} (${report.database.kind}), read only`, '')

  const { table } = report
  if (!table.exists) lines.push(`Table "${table.name}": missing`)
  else {
    const ids = report.idType === 'uuid' ? '' : `, ${report.idType} ids`
    lines.push(`Table "${table.name}": ${table.rows ?? 0} user(s)${ids}`)
    for (const c of report.columns) {
      const found = c.found ? `${c.found.type} ${c.found.nullable ? 'NULL' : 'NOT NULL'}` : 'missing'
      const what =
        c.role === 'base'
          ? `expected ${c.expected}`
          : c.role === 'field'
            ? `custom field, declared (${c.expected})`
            : 'custom column, not declared'
      row(c.severity, c.name, found, what)
      if (c.declaration) lines.push(`             defineUserFields entry: ${c.declaration}`)
    }
    lines.push('', 'Indexes')
    for (const i of report.indexes) row(i.severity, i.name, i.remark)
  }
  for (const linked of Object.values(report.linkedTables)) {
    if (linked.exists) lines.push(`Table "${linked.name}": ${linked.rows} row(s), user_id ${linked.userIdType}`)
  }

  if (report.users) {
    const u = report.users
    lines.push(
      '',
      `Users: ${u.total} (${u.active} active, ${u.superusers} superuser(s), ${u.verified} verified)`,
      `  password hashes: ${u.hashes.current} argon2id (current), ${u.legacy} legacy (${u.hashes.bcrypt} bcrypt, ` +
        `${u.hashes.argon2Other} argon2 with other parameters), ${u.hashes.unrecognised} unrecognised`,
    )
  }

  const m = report.migrations
  lines.push(
    '',
    `Migrations: ${m.tableExists ? `applied ${m.applied.join(', ') || 'none'}` : 'kysely_migration absent'}; ` +
      `pending ${m.pending.join(', ') || 'none'}`,
  )
  if (m.wouldDo.length === 0) lines.push('  running them would change nothing')
  else for (const change of m.wouldDo) lines.push(`  would ${change}`)

  const problems = report.findings
  if (problems.length > 0) {
    lines.push('', 'Findings')
    const order: Severity[] = ['blocker', 'warning', 'note']
    for (const severity of order) {
      for (const f of problems.filter((p) => p.severity === severity)) row(f.severity, `${f.subject}:`, f.message)
    }
  }
  const count = (s: Severity) => problems.filter((f) => f.severity === s).length
  lines.push(
    '',
    report.ready
      ? `Ready: yes (${count('warning')} warning(s), ${count('note')} note(s)). Nothing above was changed.`
      : `Ready: no, ${count('blocker')} blocker(s) to fix first. Nothing above was changed.`,
  )
  return lines.join('\n')
}
