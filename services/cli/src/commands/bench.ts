/**
 * `synood bench <suite>`: speed benchmarks with the hardware named and each figure beside the
 * measured fp32 peak. Suites: `ood` (scoring, projection training, label fine-tuning).
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { FULL_SIZES, QUICK_SIZES, formatOodBench, runOodBench } from '../bench/ood';
import { CliError, writeOut } from '../program';

interface BenchOptions {
  quick?: boolean;
  json?: string;
}

/** Registers `synood bench`. */
export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark suite and print a markdown table (suites: ood)')
    .argument('[suite]', 'benchmark suite', 'ood')
    .option('--quick', 'small sizes that finish in seconds (a smoke test, not the targets)')
    .option('--json <file>', 'also write the raw report as JSON')
    .action(async (suite: string, options: BenchOptions, command: Command) => {
      if (suite !== 'ood') {
        throw new CliError('CLI_ERR_USAGE', `unknown benchmark suite "${suite}"; available: ood`);
      }
      const report = await runOodBench(options.quick ? QUICK_SIZES : FULL_SIZES, (line) => {
        writeOut(command, `${line}\n`);
      });
      writeOut(command, `\n${formatOodBench(report)}\n`);
      if (options.json !== undefined) {
        await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
      }
    });
}
