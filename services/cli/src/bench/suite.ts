/**
 * @file The shape of a benchmark suite run by `synood bench <name>`.
 */

/** What a suite is given: the size preset and a sink for progress lines. */
export interface BenchRunOptions {
  /** Small sizes that finish in seconds: a smoke test, not the targets. */
  quick: boolean;
  /** Writes one progress line (without newline). */
  log: (line: string) => void;
}

/** A suite's result: a markdown table for people and a JSON-serialisable report for machines. */
export interface BenchResult {
  markdown: string;
  report: unknown;
}

/** One benchmark suite. */
export interface BenchSuite {
  /** The name given on the command line. */
  readonly name: string;
  /** One line for `synood bench --help`. */
  readonly description: string;
  run(options: BenchRunOptions): Promise<BenchResult>;
}
