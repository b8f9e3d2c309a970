import type { LoadResult } from './types.js'

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const mid = finite.length >> 1
  return finite.length % 2 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}

/** The median of each figure over the repetitions, and the spread of the request rate. */
export interface Summary {
  reps: number
  rps: number
  rpsMin: number
  rpsMax: number
  /** Half the range, as a fraction of the median: 0.02 = ±2 %. */
  rpsSpread: number
  p50: number
  p90: number
  p99: number
  max: number
  /** Errors summed over the repetitions. */
  errors: number
  errorKinds: Record<string, number>
  ok: number
  serverCpu: number
  loaderCpu: number
  databaseCpu: number
  otherCpu: number
}

export function summarize(runs: LoadResult[]): Summary {
  const rps = runs.map((r) => r.rps)
  const errorKinds: Record<string, number> = {}
  for (const run of runs) {
    for (const [kind, count] of Object.entries(run.errorKinds)) errorKinds[kind] = (errorKinds[kind] ?? 0) + count
  }
  const mid = median(rps)
  return {
    reps: runs.length,
    rps: mid,
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    rpsSpread: mid > 0 ? (Math.max(...rps) - Math.min(...rps)) / 2 / mid : 0,
    p50: median(runs.map((r) => r.p50)),
    p90: median(runs.map((r) => r.p90)),
    p99: median(runs.map((r) => r.p99)),
    max: Math.max(...runs.map((r) => r.max)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    errorKinds,
    ok: runs.reduce((sum, r) => sum + r.ok, 0),
    serverCpu: median(runs.map((r) => r.serverCpu ?? Number.NaN)),
    loaderCpu: median(runs.map((r) => r.loaderCpu ?? Number.NaN)),
    databaseCpu: median(runs.map((r) => r.databaseCpu ?? Number.NaN)),
    otherCpu: median(runs.map((r) => r.otherCpu ?? Number.NaN)),
  }
}
