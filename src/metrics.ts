/**
 * `fastify-users/metrics`: Prometheus metrics through prom-client, loaded only by apps that import
 * this entry. `metricsPlugin` registers the series and serves `GET /metrics`; with node:cluster, the
 * primary runs `serveClusterMetrics()` and each worker passes `scrape: clusterWorkerScrape(registry)`.
 */

export {
  DEFAULT_METRICS_PREFIX,
  LOGIN_FAILURE_REASONS,
  type MetricsOptions,
  metricsPlugin,
} from './fastify/metrics.js'
export { clusterWorkerScrape, serveClusterMetrics } from './fastify/metrics-cluster.js'
