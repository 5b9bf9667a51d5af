/**
 * The synthesizer process (`node services/synthesizer/dist/main.js`): config → deps → worker, SIGTERM →
 * graceful shutdown. Exit codes: 0 after a clean shutdown, 78 (EX_CONFIG) for a bad configuration or a
 * missing model file, 1 for any other startup failure.
 */
import { loadSynthesizerConfig } from './config';
import { createSynthesizerDeps } from './deps';
import { runMain } from '@synood/service-kit';
import { startSynthesizer, synthesizerStartOptions } from './worker';

void runMain('synthesizer', async (logger) => {
  const config = loadSynthesizerConfig();
  const deps = await createSynthesizerDeps(config, { logger });
  return startSynthesizer(deps, synthesizerStartOptions(config));
});
