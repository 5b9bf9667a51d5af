#!/usr/bin/env node
/**
 * Entry point of the `synood` binary: one `register<Name>Command` call per subcommand, then run.
 * The shebang lets dist/main.js serve as the bin directly too (an install may link it there).
 * @packageDocumentation
 */
import { registerBenchCommand } from './commands/bench';
import { registerDemoCommand } from './commands/demo';
import { registerMetricsCommand } from './commands/metrics';
import { buildProgram, runProgram } from './program';

const program = buildProgram();
registerMetricsCommand(program);
registerBenchCommand(program);
registerDemoCommand(program);

// exitCode rather than process.exit(), so buffered stdout is flushed before the process ends.
void runProgram(program, process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
