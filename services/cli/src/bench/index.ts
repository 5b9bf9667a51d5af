/**
 * @file The benchmark suites `synood bench` knows, by name.
 */
import { FULL_SIZES, QUICK_SIZES, formatOodBench, runOodBench } from './ood';
import { clipSuite } from './clip';
import { graphSuite } from './graph';
import { queueSuite } from './queue';
import { synthSuite } from './synth';
import type { BenchSuite } from './suite';

export type { BenchResult, BenchRunOptions, BenchSuite } from './suite';

const oodSuite: BenchSuite = {
  name: 'ood',
  description: 'NegLabel scoring, projection training and label fine-tuning',
  run: async ({ quick, log }) => {
    const report = await runOodBench(quick ? QUICK_SIZES : FULL_SIZES, log);
    return { markdown: formatOodBench(report), report };
  },
};

/** Every suite, in the order `synood bench all` runs them. */
export const BENCH_SUITES: readonly BenchSuite[] = [oodSuite, graphSuite, clipSuite, synthSuite, queueSuite];
