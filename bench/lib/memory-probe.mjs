/**
 * Preloaded into the server by bench/lib/rss.ts --breakdown (`node --import …/memory-probe.mjs`):
 * samples process.memoryUsage() and V8's heap spaces every 50 ms and writes, to MEMORY_PROBE_FILE,
 * the sample taken at the highest RSS so far and the latest one, and the garbage collections so far
 * (count and pause milliseconds on the main thread, by kind). Not loaded in a plain measurement.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'

const file = process.env.MEMORY_PROBE_FILE
const mb = (bytes) => Math.round((bytes / 1048576) * 10) / 10

function sample() {
  const usage = process.memoryUsage()
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, mb(s.physical_space_size)]))
  return {
    rss: mb(usage.rss),
    heapTotal: mb(usage.heapTotal),
    heapUsed: mb(usage.heapUsed),
    external: mb(usage.external),
    arrayBuffers: mb(usage.arrayBuffers),
    spaces,
  }
}

const GC_KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
}
const gc = {}

if (file) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[entry.detail?.kind] ?? 'other'
      gc[kind] ??= { count: 0, ms: 0 }
      gc[kind].count++
      gc[kind].ms += entry.duration
    }
  }).observe({ entryTypes: ['gc'] })
  let peak = sample()
  setInterval(() => {
    const latest = sample()
    if (latest.rss > peak.rss) peak = latest
    // written aside, then renamed: the reader never sees half a file
    writeFileSync(`${file}.tmp`, JSON.stringify({ peak, latest, gc }))
    renameSync(`${file}.tmp`, file)
  }, 50).unref()
}
