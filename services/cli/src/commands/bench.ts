/**
 * `synood bench <suite>`: speed benchmarks with the hardware named and each figure beside the
 * measured fp32 peak. The suites are listed in `bench/index.ts`.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { BENCH_SUITES } from '../bench';
import { CliError, writeOut } from '../program';

interface BenchOptions {
  quick?: boolean;
  json?: string;
}

/** Registers `synood bench`. */
export function registerBenchCommand(program: Command): void {
  const names = BENCH_SUITES.map((s) => s.name);
  program
    .command('bench')
    .description(
      `run a benchmark suite and print a markdown table (${BENCH_SUITES.map((s) => `${s.name}: ${s.description}`).join('; ')})`,
    )
    .argument('[suite]', `benchmark suite: ${names.join(', ')} or all`, 'ood')
    .option('--quick', 'small sizes that finish in seconds (a smoke test, not the targets)')
    .option('--json <file>', 'also write the raw report as JSON')
    .action(async (suite: string, options: BenchOptions, command: Command) => {
      const selected = suite === 'all' ? BENCH_SUITES : BENCH_SUITES.filter((s) => s.name === suite);
      if (selected.length === 0) {
        throw new CliError(
          'CLI_ERR_USAGE',
          `unknown benchmark suite "${suite}"; available: ${names.join(', ')}, all`,
        );
      }
      const reports: Record<string, unknown> = {};
      for (const s of selected) {
        const result = await s.run({
          quick: options.quick === true,
          log: (line) => {
            writeOut(command, `${line}\n`);
          },
        });
        writeOut(command, `\n${result.markdown}\n`);
        reports[s.name] = result.report;
      }
      if (options.json !== undefined) {
        const body = selected.length === 1 ? reports[selected[0]!.name] : reports;
        await writeFile(options.json, `${JSON.stringify(body, null, 2)}\n`);
      }
    });
}
