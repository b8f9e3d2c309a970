import { buildApp } from './app'
import { type Config, ConfigError, loadConfig } from './config'

/** Starts the reference service and stops it gracefully on SIGTERM/SIGINT. */
async function main() {
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      process.exit(2)
    }
    throw error
  }
  const app = await buildApp(config)
  await app.listen({ host: config.host, port: config.port })
  app.log.info(`Swagger UI at ${config.publicUrl}/docs`)

  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: finishing requests in flight')
    await app.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

await main()
