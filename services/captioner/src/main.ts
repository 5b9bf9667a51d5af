/**
 * The captioner process (`node services/captioner/dist/main.js`): config → deps → worker, SIGTERM →
 * graceful shutdown. Exit codes: 0 after a clean shutdown, 78 (EX_CONFIG) for a bad configuration or a
 * missing model file, 1 for any other startup failure.
 */
import { loadCaptionerConfig } from './config';
import { createCaptionerDeps } from './deps';
import { runMain } from '@synood/service-kit';
import { startCaptioner, captionerStartOptions } from './worker';

void runMain('captioner', async (logger) => {
  const config = loadCaptionerConfig();
  const deps = await createCaptionerDeps(config, { logger });
  return startCaptioner(deps, captionerStartOptions(config));
});
