// Docker HEALTHCHECK: exit 0 when the service answers /health/ready with 200. The port is PORT,
// else the service's default from its own config schema (the image holds only that service).
const { join } = require('node:path');

const port =
  process.env.PORT ||
  require(join(__dirname, 'apps', process.env.APP, 'dist', 'config.js')).envSchema.properties.PORT
    .default;
fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2500) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
