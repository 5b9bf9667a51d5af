#!/usr/bin/env node
/**
 * Entry point of the `synood` binary: one `register<Name>Command` call per subcommand, then run.
 * The shebang lets dist/main.js serve as the bin directly too (an install may link it there).
 * @packageDocumentation
 */
import { registerBenchCommand } from './commands/bench';
import { registerCaptionCommand } from './commands/caption';
import { registerClientCommands } from './commands/client';
import { registerDemoCommand } from './commands/demo';
import { registerDiffusionCommand } from './commands/diffusion';
import { registerEmbedCommand } from './commands/embed';
import { registerEvalCommand } from './commands/eval';
import { registerGraphCommand } from './commands/graph';
import { registerMetricsCommand } from './commands/metrics';
import { registerModelsCommand } from './commands/models';
import { registerPreprocessCommand } from './commands/preprocess';
import { registerSynthesizeCommand } from './commands/synthesize';
import { registerUpCommand } from './commands/up';
import { loadCommonConfig } from '@synood/config';
import { buildProgram, runProgram } from './program';

// The environment is parsed once; a bad variable fails here with one coded error listing every problem.
const config = loadCommonConfig();
const program = buildProgram();
registerMetricsCommand(program);
registerBenchCommand(program);
registerDemoCommand(program);
registerGraphCommand(program);
registerEmbedCommand(program);
registerEvalCommand(program);
registerPreprocessCommand(program);
registerModelsCommand(program, config.models);
registerCaptionCommand(program);
registerDiffusionCommand(program);
registerSynthesizeCommand(program);
registerClientCommands(program, config.client);
registerUpCommand(program);

// exitCode rather than process.exit(), so buffered stdout is flushed before the process ends.
void runProgram(program, process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
