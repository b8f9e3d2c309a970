import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url))

export interface Finished {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `node <args>` to its end and gives its exit status and output, never throwing for a
 * failing status. `env` is added to a copy of this process's; undefined values remove a variable.
 */
export function runNode(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<Finished> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env }
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key]
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? REPOSITORY,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
