#!/usr/bin/env node
// The package's command line: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api'

register()
const { runCli } = await import('../server/cli.ts')
process.exitCode = await runCli(process.argv.slice(2), process.env)
