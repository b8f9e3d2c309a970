#!/usr/bin/env node
// The package's command line, on plain node: the compiled CLI (dist/, built by `npm run build`
// and shipped in the package). In a source checkout (server/cli.ts beside this file) it runs the
// TypeScript source through tsx instead, so the repository's own tests never run a stale build.
import { existsSync } from 'node:fs'

const source = new URL('../server/cli.ts', import.meta.url)
let cli
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api')
  register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname })
  cli = await import(source.href)
} else {
  cli = await import('../dist/server/cli.js')
}
process.exitCode = await cli.runCli(process.argv.slice(2), process.env)
