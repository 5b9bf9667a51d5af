/**
 * The encoder process (`node services/encoder/dist/main.js`): config → deps → workers, SIGTERM → graceful
 * shutdown. Exit codes: 0 after a clean shutdown, 78 (EX_CONFIG) for a bad configuration or a missing model
 * file, 1 for any other startup failure.
 */
import { loadEncoderConfig } from './config';
import { createEncoderDeps } from './deps';
import { runMain } from '@synood/service-kit';
import { startEncoder, encoderStartOptions } from './worker';

void runMain('encoder', async (logger) => {
  const config = loadEncoderConfig();
  const deps = await createEncoderDeps(config, { logger });
  return startEncoder(deps, encoderStartOptions(config));
});
