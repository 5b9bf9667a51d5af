/**
 * The trainer process (`node services/trainer/dist/main.js`): config → deps → workers, SIGTERM → graceful
 * shutdown. Exit codes: 0 after a clean shutdown, 78 (EX_CONFIG) for a bad configuration or a missing model
 * file, 1 for any other startup failure.
 */
import { loadTrainerConfig } from './config';
import { createTrainerDeps } from './deps';
import { runMain } from '@synood/service-kit';
import { startTrainer, trainerStartOptions } from './worker';

void runMain('trainer', async (logger) => {
  const config = loadTrainerConfig();
  const deps = await createTrainerDeps(config, { logger });
  return startTrainer(deps, trainerStartOptions(config));
});
