#!/usr/bin/env node
// The package's command line (src/cli): runs the TypeScript source through tsx.
import { register } from 'tsx/esm/api'

register()
const { runCli } = await import('../src/cli/index.ts')
process.exitCode = await runCli(process.argv.slice(2), process.env)
