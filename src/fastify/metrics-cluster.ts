import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'

const REQUEST = 'fastify-users:metrics-request'
const ANSWER = 'fastify-users:metrics-answer'

interface Answer {
  type: typeof ANSWER
  id: number
  text?: string
  error?: string
}

/**
 * In the node:cluster primary: answers a worker's request (`clusterWorkerScrape`) with the figures
 * of every worker, summed by prom-client's AggregatorRegistry. Returns the function that stops it.
 */
export function serveClusterMetrics(): () => void {
  const aggregator = new AggregatorRegistry()
  const onMessage = (worker: Worker, message: { type?: unknown; id?: unknown }) => {
    if (message?.type !== REQUEST || typeof message.id !== 'number') return
    const id = message.id
    const reply = (answer: Omit<Answer, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id, ...answer })
    }
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: Error) => reply({ error: error.message }),
    )
  }
  cluster.on('message', onMessage)
  return () => void cluster.off('message', onMessage)
}

/**
 * In a node:cluster worker: reports `registry` when the primary gathers, and returns the `scrape`
 * for metricsPlugin that asks the primary (serveClusterMetrics) for every worker's figures, so that
 * whichever worker a scrape reaches answers for all of them. Rejects after `timeoutMs`.
 */
export function clusterWorkerScrape(registry: Registry, timeoutMs = 10_000): () => Promise<string> {
  if (!cluster.isWorker) throw new TypeError('clusterWorkerScrape: this process is not a node:cluster worker')
  AggregatorRegistry.setRegistries([registry])
  new AggregatorRegistry() // installs prom-client's answer to the primary's gathering
  let next = 0
  const pending = new Map<number, { resolve(text: string): void; reject(error: Error): void }>()
  process.on('message', (message: Partial<Answer>) => {
    if (message?.type !== ANSWER || typeof message.id !== 'number') return
    const waiter = pending.get(message.id)
    pending.delete(message.id)
    if (message.error !== undefined || message.text === undefined)
      waiter?.reject(new Error(`the primary could not gather metrics: ${message.error}`))
    else waiter?.resolve(message.text)
  })
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`the primary did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      pending.set(id, {
        resolve(text) {
          clearTimeout(timer)
          resolve(text)
        },
        reject(error) {
          clearTimeout(timer)
          reject(error)
        },
      })
      process.send?.({ type: REQUEST, id })
    })
}
