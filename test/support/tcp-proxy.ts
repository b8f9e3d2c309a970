import { connect, createServer, type Server, type Socket } from 'node:net'

export type ProxyMode = 'forward' | 'refuse' | 'blackhole'

/**
 * A loopback TCP proxy an outage test controls, so that it cuts its own path to a shared
 * database or Redis and never the shared instance itself.
 * - forward: connections are piped to the target;
 * - refuse: the proxy stops listening (new connections are refused) and resets every open one;
 * - blackhole: connections are accepted and kept, open ones included, but nothing goes through in
 *   either direction (a network partition: the case where a client hangs unless it has a timeout).
 * After a blackhole, `forward()` resets the connections it held, as a partition that outlived TCP
 * would (clients reconnect), while `heal()` lets them go on: what was sent in the dark arrives late.
 */
export interface TcpProxy {
  readonly port: number
  readonly mode: ProxyMode
  /** The same URL with its host and port replaced by the proxy's. */
  url(target: string): string
  forward(): Promise<void>
  /** Ends a blackhole keeping its connections: the bytes held back are delivered now. */
  heal(): Promise<void>
  refuse(): Promise<void>
  blackhole(): Promise<void>
  close(): Promise<void>
}

interface Pair {
  client: Socket
  upstream: Socket | undefined
  /** Held by a blackhole: both sides paused, so bytes wait in the socket buffers. */
  stalled: boolean
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>()
  let mode: ProxyMode = 'forward'
  let port = 0

  const drop = (pair: Pair) => {
    pairs.delete(pair)
    if (!pair.client.destroyed) pair.client.resetAndDestroy()
    pair.upstream?.destroy()
  }

  const pipe = (pair: Pair) => {
    const upstream = connect(target.port, target.host)
    pair.upstream = upstream
    upstream.on('error', () => drop(pair))
    upstream.on('close', () => drop(pair))
    pair.client.on('data', (chunk) => upstream.write(chunk))
    upstream.on('data', (chunk) => pair.client.write(chunk))
  }
  const stall = (pair: Pair) => {
    pair.stalled = true
    pair.client.pause()
    pair.upstream?.pause()
  }

  const server: Server = createServer((client) => {
    const pair: Pair = { client, upstream: undefined, stalled: false }
    pairs.add(pair)
    client.on('error', () => drop(pair))
    client.on('close', () => drop(pair))
    if (mode === 'blackhole')
      stall(pair) // piped only if the partition heals
    else pipe(pair)
  })

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        port = (server.address() as { port: number }).port
        resolve()
      })
    })
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      for (const pair of [...pairs]) drop(pair)
    })

  await listen()

  return {
    get port() {
      return port
    },
    get mode() {
      return mode
    },
    url(targetUrl) {
      const url = new URL(targetUrl)
      url.hostname = '127.0.0.1'
      url.port = String(port)
      return url.toString()
    },
    async forward() {
      for (const pair of [...pairs]) if (pair.stalled) drop(pair)
      mode = 'forward'
      if (!server.listening) await listen()
    },
    async heal() {
      mode = 'forward'
      for (const pair of pairs) {
        if (!pair.stalled) continue
        pair.stalled = false
        if (!pair.upstream) pipe(pair)
        pair.upstream?.resume()
        pair.client.resume()
      }
      if (!server.listening) await listen()
    },
    async refuse() {
      mode = 'refuse'
      await stopListening()
    },
    async blackhole() {
      mode = 'blackhole'
      for (const pair of pairs) stall(pair)
      if (!server.listening) await listen()
    },
    async close() {
      mode = 'refuse'
      await stopListening()
    },
  }
}
