/**
 * `synood demo`: by default the whole platform end to end on fixture models and generated images (see
 * `demo/pipeline.ts`); `--core` runs the method's feature-space core alone on a generated problem.
 */
import { type Env, loadCommonConfig, processEnv } from '@synood/config';
import { OrtLinalgBackend } from '@synood/onnx';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { type DemoRow, runFeatureSpaceDemo } from '../demo/feature-space';
import { runPipelineDemo } from '../demo/pipeline';
import { CliError, writeErr, writeOut } from '../program';

interface DemoOptions {
  out: string;
  threads: string;
  seed: string;
  core?: boolean;
}

const pct = (v: number): string => (100 * v).toFixed(2).padStart(7);

/** The demo's metrics table (percentages, as papers report them). */
export function formatDemoTable(rows: readonly DemoRow[]): string {
  const width = Math.max(...rows.map((r) => r.method.length));
  const header = `${'method'.padEnd(width)}   AUROC↑   FPR95↓  AUPR-In  AUPR-Out`;
  return [
    header,
    '-'.repeat(header.length),
    ...rows.map(
      (r) =>
        `${r.method.padEnd(width)} ${pct(r.auroc)}  ${pct(r.fpr95)}  ${pct(r.auprIn)}  ${pct(r.auprOut)}`,
    ),
  ].join('\n');
}

/**
 * Registers `synood demo`.
 *
 * @param env - the environment (`REDIS_URL`, `SYNOOD_LOG_LEVEL`); the process's by default.
 */
export function registerDemoCommand(program: Command, env: Env = processEnv()): void {
  program
    .command('demo')
    .description(
      'run the whole platform on fixture models and a generated dataset (--core: the feature-space core only)',
    )
    .option('--out <dir>', 'where everything is written', '.synood/demo')
    .option('--threads <n>', 'onnxruntime intra-op threads (per session)', '2')
    .option('--seed <seed>', '--core: seed of the generated problem and of training', '0')
    .option('--core', "run only the method's feature-space core on a generated problem")
    .action(async (options: DemoOptions, command: Command) => {
      const say = (text: string) => {
        writeOut(command, `${text}\n`);
      };
      const threads = Number.parseInt(options.threads, 10);
      if (!Number.isInteger(threads) || threads < 1) {
        throw new CliError('CLI_ERR_USAGE', `--threads must be a positive integer, got "${options.threads}"`);
      }
      if (options.core !== true) {
        const common = loadCommonConfig(env);
        await runPipelineDemo({
          out: options.out,
          ...(env.REDIS_URL === undefined ? {} : { envRedisUrl: common.redis.url }),
          logLevel: env.SYNOOD_LOG_LEVEL === undefined ? 'error' : common.log.level,
          threads,
          interactive: process.stderr.isTTY,
          say,
          note: (text) => {
            writeErr(command, text);
          },
        });
        return;
      }
      say("synood demo: the method's feature-space core on a generated near-boundary OOD problem.");
      say('Features are synthetic, so the numbers say nothing about accuracy on real images.');
      const backend = await OrtLinalgBackend.create({
        executionProvider: 'cpu',
        intraOpThreads: threads,
      });
      const interactive = process.stdout.isTTY;
      let bar: SingleBar | undefined;
      const finishBar = () => {
        bar?.stop();
        bar = undefined;
      };
      try {
        const result = await runFeatureSpaceDemo(backend, resolve(options.out), {
          stage: (name) => {
            finishBar();
            say(`▸ ${name}`);
          },
          step: (_stage, info) => {
            const done = info.epoch * info.stepsPerEpoch + info.step + 1;
            const total = info.epochs * info.stepsPerEpoch;
            if (interactive) {
              bar ??= new SingleBar(
                { format: `  {bar} {value}/{total} steps | loss {loss} | lr {lr}`, hideCursor: true },
                Presets.shades_classic,
              );
              if (done === 1) {
                bar.start(total, 0, { loss: '-', lr: '-' });
              }
              bar.update(done, { loss: info.loss.toFixed(4), lr: info.lr.toExponential(2) });
            } else if (info.step + 1 === info.stepsPerEpoch) {
              say(
                `  epoch ${info.epoch + 1}/${info.epochs}: last batch loss ${info.loss.toFixed(4)}, lr ${info.lr.toExponential(2)}`,
              );
            }
          },
        });
        finishBar();
        say('');
        say(formatDemoTable(result.rows));
        say('');
        say(
          `Detector bundle: ${result.detectorDir} (threshold ${result.threshold.toFixed(4)} at 95% InD TPR; ` +
            `accepts ${(100 * result.acceptedInd).toFixed(1)}% of test InD, ${(100 * result.acceptedOod).toFixed(1)}% of test OOD)`,
        );
      } finally {
        finishBar();
        await backend.dispose();
      }
    });
}
