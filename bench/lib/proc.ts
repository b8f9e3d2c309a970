/**
 * Processes: pinning with taskset, the servers under test (their CPU time and peak RSS read from
 * /proc), and the short-lived loader and hash-rate processes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The node flags of `npm start` (package.json's `start`: `node --flag … dist/…`), so that every tool
 * measures what `npm start` runs. `root` is the checkout whose package.json is read (ab.ts: each
 * build its own).
 */
export function startScriptNodeFlags(root = ROOT): string[] {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts
  const words = (scripts.start ?? '').split(/\s+/)
  if (words[0] !== 'node') return []
  return words.slice(1).filter((word) => word.startsWith('--'))
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * The server gets the last core, the load generators the others (on a 2-core machine: server on
 * core 1, loader on core 0). No taskset, or a single core: nothing is pinned.
 */
export interface Pinning {
  enabled: boolean
  serverCpus: string
  loaderCpus: string
  describe: string
}

export function pinning(): Pinning {
  const cores = availableParallelism()
  if (cores < 2 || !hasTaskset()) {
    return { enabled: false, serverCpus: '', loaderCpus: '', describe: 'not pinned (no taskset or a single core)' }
  }
  const last = cores - 1
  const loaderCpus = last === 1 ? '0' : `0-${last - 1}`
  return {
    enabled: true,
    serverCpus: String(last),
    loaderCpus,
    describe: `server pinned to CPU ${last}, load generator to CPU ${loaderCpus} (taskset)`,
  }
}

/** The command line for `node [--import tsx] <script> …args` (tsx for TypeScript only), under taskset when pinned. */
function nodeCommand(cpus: string, script: string, args: string[], nodeOptions: string[] = []): [string, string[]] {
  const tsx = script.endsWith('.ts') ? ['--import', 'tsx'] : []
  const node = [process.execPath, ...nodeOptions, ...tsx, script, ...args]
  return cpus ? ['taskset', ['-c', cpus, ...node]] : [node[0]!, node.slice(1)]
}

/**
 * Runs a script to completion and parses the JSON line it prints last; `options.env` is added to
 * this process's environment, `options.nodeOptions` go to node (the hash-rate probe runs as the server does).
 */
export function runJsonScript<T>(
  cpus: string,
  script: string,
  args: string[],
  timeoutMs: number,
  options: { env?: Record<string, string>; nodeOptions?: string[] } = {},
): Promise<T> {
  const [command, argv] = nodeCommand(cpus, script, args, options.nodeOptions)
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.env && { env: { ...process.env, ...options.env } }),
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    child.stderr.on('data', (chunk) => {
      err += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const last = out.trim().split('\n').pop() ?? ''
      try {
        if (code !== 0) throw new Error(`exit ${code}`)
        resolve(JSON.parse(last) as T)
      } catch (error) {
        reject(new Error(`${script} failed (${(error as Error).message}): ${err.trim().slice(-2000)}`))
      }
    })
  })
}

/** User + system CPU seconds a process (all its threads) has used so far (/proc/<pid>/stat). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (100 Hz)
  } catch {
    return Number.NaN
  }
}

/** CPU seconds used so far by each process of that command name (e.g. PostgreSQL's `postgres`), by pid. */
export function commandCpuSeconds(command: string): Map<number, number> {
  const byPid = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== command) continue
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      byPid.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / 100)
    } catch {
      // gone meanwhile
    }
  }
  return byPid
}

/** CPU seconds those processes used between two readings (a process that started meanwhile: all of its). */
export function cpuSecondsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0
  for (const [pid, seconds] of after) total += Math.max(0, seconds - (before.get(pid) ?? 0))
  return total
}

/** CPU seconds the whole machine has spent busy so far (/proc/stat: all but idle and iowait). */
export function machineBusySeconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
    return (total - fields[3]! - fields[4]!) / 100
  } catch {
    return Number.NaN
  }
}

/** A server under test: its process, its URL, and readings of its CPU time and memory. */
export class ServerProcess {
  private rssTimer: NodeJS.Timeout | undefined
  private polledPeakKb = 0
  private hwmReset = false
  private log = ''
  readonly child: ChildProcess
  databaseCommand: string | undefined

  private constructor(
    readonly name: string,
    readonly url: string,
    child: ChildProcess,
  ) {
    this.child = child
    const keep = (chunk: Buffer) => {
      this.log = (this.log + chunk.toString()).slice(-8000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
  }

  static async start(options: {
    name: string
    script: string
    env: Record<string, string>
    port: number
    cpus: string
    readyPath: string
    /** Extra node options, e.g. --cpu-prof. */
    nodeOptions?: string[]
    /** The command name of the database server's processes, when it has its own (`postgres`). */
    databaseCommand?: string
  }): Promise<ServerProcess> {
    const [command, argv] = nodeCommand(options.cpus, options.script, [], options.nodeOptions)
    const child = spawn(command, argv, {
      cwd: ROOT,
      env: { ...process.env, ...options.env, HOST: '127.0.0.1', PORT: String(options.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const server = new ServerProcess(options.name, `http://127.0.0.1:${options.port}`, child)
    server.databaseCommand = options.databaseCommand
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`${options.name} exited with ${code} before it was ready:\n${server.log.trim()}`)),
      ),
    )
    exited.catch(() => {})
    const deadline = Date.now() + 60_000
    for (;;) {
      if (Date.now() > deadline) {
        await server.stop()
        throw new Error(`${options.name} did not answer within 60 s:\n${server.log.trim()}`)
      }
      const ok = await Promise.race([
        fetch(server.url + options.readyPath).then(
          (r) => r.ok,
          () => false,
        ),
        exited,
      ])
      if (ok) return server
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  get pid(): number {
    return this.child.pid!
  }

  /**
   * Waits until the server has finished the work a previous load left queued (password hashes
   * still running after the loader closed its connections): its CPU use over 250 ms falls under
   * 5 % of a core, for at most `maxSeconds`.
   */
  async settle(maxSeconds = 30): Promise<void> {
    const deadline = Date.now() + maxSeconds * 1000
    while (Date.now() < deadline) {
      const before = processCpuSeconds(this.pid)
      await new Promise((r) => setTimeout(r, 250))
      if (processCpuSeconds(this.pid) - before < 0.0125) return
    }
  }

  private statusKb(field: 'VmHWM' | 'VmRSS'): number {
    try {
      const match = readFileSync(`/proc/${this.pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
      return match ? Number(match[1]) : 0
    } catch {
      return 0
    }
  }

  /**
   * Starts a new peak-memory window: resets the kernel's high-water mark (VmHWM) where allowed
   * (/proc/<pid>/clear_refs), and polls VmRSS every 100 ms as well.
   */
  startPeakWindow(): void {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5')
      this.hwmReset = true
    } catch {
      this.hwmReset = false // not allowed here: the polled RSS alone counts
    }
    this.polledPeakKb = this.statusKb('VmRSS')
    clearInterval(this.rssTimer)
    this.rssTimer = setInterval(() => {
      this.polledPeakKb = Math.max(this.polledPeakKb, this.statusKb('VmRSS'))
    }, 100)
    this.rssTimer.unref()
  }

  /** Peak resident memory, in MB, since startPeakWindow(). */
  peakRssMb(): number {
    return Math.max(this.polledPeakKb, this.hwmReset ? this.statusKb('VmHWM') : 0) / 1024
  }

  async stop(): Promise<void> {
    clearInterval(this.rssTimer)
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}

/**
 * Start-up: milliseconds from spawning `node <script>` (pinned like the server) to `readyPath`
 * answering 200, polled every 5 ms, and the CPU time the process used by then (which other work on
 * the machine does not inflate as much); the process is stopped then. Throws when it exits or does
 * not answer within 60 s.
 */
export async function startupMs(options: {
  script: string
  env: Record<string, string>
  port: number
  cpus: string
  readyPath: string
  nodeOptions?: string[]
}): Promise<{ ms: number; cpuMs: number }> {
  const [command, argv] = nodeCommand(options.cpus, options.script, [], options.nodeOptions)
  const started = performance.now()
  const child = spawn(command, argv, {
    cwd: ROOT,
    env: { ...process.env, ...options.env, HOST: '127.0.0.1', PORT: String(options.port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    const url = `http://127.0.0.1:${options.port}${options.readyPath}`
    while (performance.now() - started < 60_000) {
      if (child.exitCode !== null) throw new Error(`${options.script} exited with ${child.exitCode}: ${stderr.trim()}`)
      const status = await fetch(url).then(
        (r) => r.arrayBuffer().then(() => r.status),
        () => 0,
      )
      if (status === 200) return { ms: performance.now() - started, cpuMs: processCpuSeconds(child.pid!) * 1000 }
      await new Promise((r) => setTimeout(r, 5))
    }
    throw new Error(`${options.script} did not answer ${options.readyPath} within 60 s: ${stderr.trim()}`)
  } finally {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}
