/**
 * Preloaded into the server by bench/lib/rss.ts --breakdown (`node --import …/memory-probe.mjs`):
 * samples process.memoryUsage() and V8's heap spaces every 50 ms and writes, to MEMORY_PROBE_FILE,
 * the sample taken at the highest RSS so far and the latest one. Not loaded in a plain measurement.
 */
import { renameSync, writeFileSync } from 'node:fs'
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

if (file) {
  let peak = sample()
  setInterval(() => {
    const latest = sample()
    if (latest.rss > peak.rss) peak = latest
    // written aside, then renamed: the reader never sees half a file
    writeFileSync(`${file}.tmp`, JSON.stringify({ peak, latest }))
    renameSync(`${file}.tmp`, file)
  }, 50).unref()
}
