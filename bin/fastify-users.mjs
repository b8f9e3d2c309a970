#!/usr/bin/env node
// The package's command line (src/cli), on plain node: the compiled CLI (dist/, built by `npm run build`
// and shipped in the package). In a source checkout (src/cli/index.ts beside this file) it runs the
// TypeScript source through tsx instead, so the repository's own tests never run a stale build.
import { existsSync } from 'node:fs'

const source = new URL('../src/cli/index.ts', import.meta.url)
let cli
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api')
  register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname })
  cli = await import(source.href)
} else {
  cli = await import('../dist/src/cli/index.js')
}
process.exitCode = await cli.runCli(process.argv.slice(2), process.env)
