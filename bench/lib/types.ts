/** What one load run sends: given to the loader process (bench/lib/load.ts) as JSON. */
export interface LoadSpec {
  /** Base URL of the server under test, on loopback. */
  url: string
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  /** Request body; every `{{unique}}` in it is replaced by a value unique to the request (a fresh e-mail each time). */
  body?: string
  connections: number
  /** Seconds. */
  duration: number
  /**
   * Seconds of load before the measured `duration`, not counted (autocannon): slow routes answer
   * nothing until their first password hashes are through, and that fill time would understate them.
   */
  skipSeconds?: number
  /** Requests per second over all connections (a fixed-rate probe); unset: as fast as the server answers. */
  overallRate?: number
  /** The status a successful answer has; any other status counts as an error. */
  expectStatus: number
  /**
   * Token chains (a refresh token is single-use): before the run, the loader logs in `logins` times
   * (POST `loginPath` with `loginBody`, form-encoded) and gives each connection a token of its own
   * (the `field` of a login's JSON answer); every request's `{{chain}}` is a current token, used by
   * that request alone, and each answer's `field` replaces it. Always run by autocannon.
   */
  chain?: { loginPath: string; loginBody: string; logins: number; field: string }
  /**
   * A second-factor login per request (always autocannon): POST `loginPath` (form) answered 400
   * LOGIN_2FA_REQUIRED with a ticket, then POST `codePath` with the ticket and the TOTP code of one
   * of `users` (base32 secrets), computed by the loader. The request counts once, the second step's
   * 200 as its success, its latency from the first step's start. A code is accepted once per user
   * and time step (30 s, one either side): each user serves at most one login per step, as the
   * state file (the last step used, by user, across runs) tells; the run ends early when every
   * user's codes are used up, or after `maxLogins`.
   */
  secondFactor?: {
    loginPath: string
    codePath: string
    password: string
    /** Each with the time step its enrolment used (the server accepts only later ones). */
    users: { email: string; secret: string; lastStep: number }[]
    stateFile: string
    /** Logins one run starts at most (the users' codes are shared by the warm-up and the repetitions). */
    maxLogins: number
  }
  /**
   * Many clients: each request adds the next of these header sets to `headers`, in turn (say, 64
   * users' tokens), so that the server looks up a different row each time. Always run by autocannon.
   */
  headerSets?: Record<string, string>[]
  /** The load generator: wrk (when installed) or autocannon; a fixed-rate run always uses autocannon. */
  tool?: 'wrk' | 'autocannon'
  /** The server's process id: its CPU use is read over exactly the measured window. */
  serverPid?: number
  /** The command name of a database server's processes (`postgres`), whose CPU is counted apart. */
  databaseCommand?: string
}

/** What one load run measured. Latencies in milliseconds, over the successful answers only. */
export interface LoadResult {
  ok: number
  errors: number
  /** Status codes other than the expected one, and socket errors or time-outs, by kind. */
  errorKinds: Record<string, number>
  seconds: number
  rps: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
  /** Seconds of CPU the server used during the run, divided by the run's seconds (1 = one core busy). */
  serverCpu?: number
  /** The same for the load generator itself. */
  loaderCpu?: number
  /** The same for the database server's processes (PostgreSQL; SQLite works inside the server). */
  databaseCpu?: number
  /** The same for every other process on the machine (other work sharing the cores: noise). */
  otherCpu?: number
}
