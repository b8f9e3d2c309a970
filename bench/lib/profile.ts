/**
 * Where a server's CPU went: summarizes a V8 CPU profile (`npm run bench -- --profile` writes one
 * per server into bench/results/profiles/) by package and by function, self time only.
 *
 *   npx tsx bench/lib/profile.ts bench/results/profiles/<server>/<file>.cpuprofile [top]
 *
 * Profile one scenario at a time for a readable picture: `npm run bench -- --profile --only me-jwt
 * --no-peer --no-postgres`.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}
interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
}

/** node_modules/<package> (or @scope/name), the project's own folders, node: internals, or V8. */
function packageOf(url: string): string {
  if (!url) return '(V8, native, GC)'
  if (url.includes('/.cache/fastify-users-bench/')) return 'fastify-users (src and server, bundled)'
  const match = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)
  if (match) return match[1]!
  if (url.startsWith('node:')) return 'node: internals'
  const own = url.match(/\/(src\/[^/]+|server|bench)\//)
  return own ? own[1]! : url
}

export function summarizeProfile(profile: CpuProfile, top = 25): string {
  const total = profile.samples.length
  const byPackage = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0
    if (!hits) continue
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)' || functionName === '(program)') continue
    const pkg = functionName === '(garbage collector)' ? '(garbage collector)' : packageOf(url)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits)
    const where = url
      ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|server|bench)\//, '$1/')}:${lineNumber + 1}`
      : ''
    const key = `${functionName || '(anonymous)'} ${where}`.trim()
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits)
  }
  const busy = [...byPackage.values()].reduce((a, b) => a + b, 0)
  const seconds = (profile.endTime - profile.startTime) / 1e6
  const pct = (n: number) => `${((n / busy) * 100).toFixed(1).padStart(5)} %`
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => `  ${pct(hits)}  ${name}`)
      .join('\n')
  return [
    `${total} samples over ${seconds.toFixed(1)} s; busy (not idle) samples: ${busy}. Self time, share of busy:`,
    'by package:',
    rows(byPackage),
    'by function:',
    rows(byFunction),
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top] = process.argv.slice(2)
  if (!file) {
    console.error('usage: tsx bench/lib/profile.ts <file.cpuprofile> [top]')
    process.exit(2)
  }
  console.log(summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(top ?? 25)))
}
