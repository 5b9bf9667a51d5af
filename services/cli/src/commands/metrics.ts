/**
 * `synood metrics`: the four OOD metrics of two score files.
 */
import { readFile } from 'node:fs/promises';
import { oodMetrics } from '@synood/ood';
import type { Command } from 'commander';
import { CliError, writeOut } from '../program';

interface MetricsOptions {
  ind: string;
  ood: string;
  json?: boolean;
}

/** The `--json` output of `synood metrics`: score counts and the metrics as fractions in [0, 1]. */
export interface MetricsReport {
  readonly ind: number;
  readonly ood: number;
  readonly auroc: number;
  readonly fpr95: number;
  readonly auprIn: number;
  readonly auprOut: number;
}

// Plain decimal or scientific notation only: Number() would also take '', '0x1f', 'Infinity'.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
// What numpy and friends print for non-finite values, reported as such rather than as "not a number".
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;

/**
 * Parses a score file: one decimal number per line; surrounding whitespace is trimmed, and blank
 * lines and lines starting with `#` are skipped.
 *
 * @param text - the file's contents.
 * @param file - the file name, used in error messages.
 * @throws {@link CliError} `CLI_ERR_BAD_SCORE` (`file:line: "text" is not a number` or
 *   `… is not a finite number`) or `CLI_ERR_NO_SCORES` when no line holds a score.
 */
export function parseScores(text: string, file: string): Float64Array {
  const scores: number[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const value = DECIMAL.test(line) ? Number(line) : NaN;
    if (!Number.isFinite(value)) {
      // A decimal that overflows to Infinity (1e999) is non-finite too, not malformed.
      const what = NON_FINITE.test(line) || DECIMAL.test(line) ? 'a finite number' : 'a number';
      throw new CliError('CLI_ERR_BAD_SCORE', `${file}:${i + 1}: ${JSON.stringify(line)} is not ${what}`);
    }
    scores.push(value);
  }
  if (scores.length === 0) {
    throw new CliError('CLI_ERR_NO_SCORES', `${file} has no scores (only blank lines or # comments)`);
  }
  return Float64Array.from(scores);
}

/**
 * Reads and parses a score file (see {@link parseScores}).
 *
 * @throws {@link CliError} `CLI_ERR_FILE_NOT_FOUND`, `CLI_ERR_FILE_READ`, or those of
 *   {@link parseScores}.
 */
export async function readScores(file: string): Promise<Float64Array> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    // Duck-typed, not instanceof Error: fs errors may come from another realm (jest's sandbox).
    const err = typeof e === 'object' && e !== null ? (e as { code?: unknown; message?: unknown }) : {};
    if (err.code === 'ENOENT') {
      throw new CliError('CLI_ERR_FILE_NOT_FOUND', `${file}: no such file`);
    }
    const reason = typeof err.message === 'string' ? err.message : String(e);
    throw new CliError('CLI_ERR_FILE_READ', `${file}: cannot read (${reason})`);
  }
  return parseScores(text, file);
}

/** Computes the report of `synood metrics` from two score files. */
export async function metricsReport(indFile: string, oodFile: string): Promise<MetricsReport> {
  const [ind, ood] = await Promise.all([readScores(indFile), readScores(oodFile)]);
  return { ind: ind.length, ood: ood.length, ...oodMetrics(ind, ood) };
}

/** The human-readable form: two aligned columns, metrics as fractions with 6 decimals. */
export function formatMetricsTable(report: MetricsReport, indFile: string, oodFile: string): string {
  const rows: [string, string][] = [
    ['InD scores', `${report.ind}  ${indFile}`],
    ['OOD scores', `${report.ood}  ${oodFile}`],
    ['AUROC', report.auroc.toFixed(6)],
    ['FPR95', report.fpr95.toFixed(6)],
    ['AUPR-In', report.auprIn.toFixed(6)],
    ['AUPR-Out', report.auprOut.toFixed(6)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}\n`).join('');
}

/**
 * Registers `synood metrics --ind FILE --ood FILE [--json]` on `program`.
 */
export function registerMetricsCommand(program: Command): void {
  program
    .command('metrics')
    .description('AUROC, FPR95, AUPR-In and AUPR-Out of InD versus OOD scores (InD is the positive class)')
    .requiredOption('--ind <file>', 'InD scores, one per line (higher = more in-distribution)')
    .requiredOption('--ood <file>', 'OOD scores, one per line')
    .option('--json', 'print one JSON object instead of a table')
    .addHelpText(
      'after',
      '\nScore files: one number per line; blank lines and lines starting with # are skipped.\n' +
        'Metrics are fractions in [0, 1], computed as NegLabel does (FPR95 at the recall nearest 0.95).',
    )
    .action(async (opts: MetricsOptions, command: Command) => {
      const report = await metricsReport(opts.ind, opts.ood);
      writeOut(
        command,
        opts.json === true ? `${JSON.stringify(report)}\n` : formatMetricsTable(report, opts.ind, opts.ood),
      );
    });
}
