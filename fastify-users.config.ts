// The command line's configuration in this repository: the reference service's user model and
// environment (`npm run cli -- migrate`). An app's own file looks like examples/fastify-users.config.mjs.
import { serviceCliConfig } from './server/cli.js'

export default serviceCliConfig
