/**
 * A small reader of the Prometheus text format (what GET /metrics answers): every sample line
 * `name{label="value",…} value`, comments and blank lines skipped. Enough for tests; not a full parser.
 */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy

export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const match = LINE.exec(line)
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`)
    const [, name = '', body = '', value = ''] = match
    const labels: Record<string, string> = {}
    LABEL.lastIndex = 0
    while (LABEL.lastIndex < body.length) {
      const label = LABEL.exec(body)
      if (!label) throw new Error(`bad labels in: ${line}`)
      labels[label[1] as string] = (label[2] as string).replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
    }
    // prom-client writes NaN as `Nan`
    const number = value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value)
    if (Number.isNaN(number) && value.toLowerCase() !== 'nan') throw new Error(`bad value in: ${line}`)
    samples.push({ name, labels, value: number })
  }
  return samples
}

/** The samples of `name` whose labels include `labels`. */
export function samplesOf(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

/** The sum of those samples' values; undefined when there is none (the series is absent). */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samplesOf(samples, name, labels)
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0)
}
