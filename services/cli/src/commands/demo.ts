/**
 * `synood demo`: the OOD core end to end on a generated feature-space problem, with progress and the
 * metrics table. The image stages join the demo as they land.
 */
import { OrtLinalgBackend } from '@synood/onnx';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { type DemoRow, runFeatureSpaceDemo } from '../demo/feature-space';
import { writeOut } from '../program';

interface DemoOptions {
  out: string;
  threads: string;
  seed: string;
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

/** Registers `synood demo`. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the OOD core end to end on a generated feature-space problem')
    .option('--out <dir>', 'where the detector bundle is written', '.synood/demo')
    .option('--threads <n>', 'onnxruntime intra-op threads', '2')
    .option('--seed <seed>', 'seed of the generated problem and of training', '0')
    .action(async (options: DemoOptions, command: Command) => {
      const say = (text: string) => {
        writeOut(command, `${text}\n`);
      };
      say("synood demo: the method's feature-space core on a generated near-boundary OOD problem.");
      say('Features are synthetic, so the numbers say nothing about accuracy on real images.');
      const backend = await OrtLinalgBackend.create({
        executionProvider: 'cpu',
        intraOpThreads: Number.parseInt(options.threads, 10),
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
