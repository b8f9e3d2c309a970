// After `npm install` on this machine, package-lock.json loses the optional platform binaries
// (biome, @node-rs/bcrypt) that the registry mirror does not carry, and `npm ci` then refuses it.
// Usage: node .ci/restore-platform-lock-entries.mjs <old-lockfile>  — copies those entries back.
import { readFileSync, writeFileSync } from 'node:fs'

const [oldPath] = process.argv.slice(2)
const old = JSON.parse(readFileSync(oldPath, 'utf8'))
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'))
let restored = 0
for (const [key, entry] of Object.entries(old.packages)) {
  if (lock.packages[key] || !entry.optional || !(entry.os || entry.cpu)) continue
  lock.packages[key] = entry
  restored++
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
)
writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`)
console.log(`restored ${restored} platform entries`)
