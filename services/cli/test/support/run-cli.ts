/** Runs CLI commands in-process for the tests, capturing what they print. */
import type { Command } from 'commander';

import { buildProgram, runProgram } from '../../src/program';

/** Exit code and printed text of one in-process CLI invocation. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Builds a fresh program, lets `register` add the command(s) under test, and runs `args` on it. */
export async function runCli(register: (program: Command) => void, args: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const program = buildProgram({
    writeOut: (t) => {
      out += t;
    },
    writeErr: (t) => {
      err += t;
    },
  });
  register(program);
  const code = await runProgram(program, args);
  return { code, out, err };
}
