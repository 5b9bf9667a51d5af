/**
 * The `synood` program shell: name, version, output routing and the error-to-exit-code policy.
 * Subcommands live in `commands/<name>.ts` and are registered by `main.ts`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';

/** Where the program writes; tests pass a capture, the real binary uses the process streams. */
export interface CliOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/** Exit status of a failed command (bad input, missing file, failed computation). */
export const EXIT_FAILURE = 1;
/** Exit status of a usage error (unknown command or option, missing required option). */
export const EXIT_USAGE = 2;

/** A coded CLI error; `code` is stable and printed as `error [CODE]: message`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  /**
   * @param code - stable code, `CLI_ERR_*`; `CLI_ERR_USAGE` exits with {@link EXIT_USAGE}.
   * @param message - one line naming the file, line or option at fault.
   */
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const processOutput: CliOutput = {
  writeOut: (text) => process.stdout.write(text),
  writeErr: (text) => process.stderr.write(text),
};

/** The CLI package's version, read at run time so that `src/` (tests) and `dist/` agree. */
export function cliVersion(): string {
  // package.json sits one level above both src/ and dist/.
  const pkg: unknown = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
  if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') {
    return pkg.version;
  }
  throw new CliError('CLI_ERR_INTERNAL', 'services/cli/package.json has no version');
}

/**
 * The root `synood` command without subcommands. Register subcommands with
 * `program.command(...)` (not `addCommand`), so they inherit the output routing and the
 * exit override set here; then run it with {@link runProgram}.
 *
 * @param output - where stdout/stderr text goes; the process streams by default.
 */
export function buildProgram(output: CliOutput = processOutput): Command {
  return (
    new Command('synood')
      .description('SynOOD out-of-distribution detection')
      .version(cliVersion(), '-V, --version', 'print the version')
      .configureOutput({
        writeOut: (text) => {
          output.writeOut(text);
        },
        writeErr: (text) => {
          output.writeErr(text);
        },
        // runProgram prints usage errors itself, in the same coded form as every other error.
        outputError: () => undefined,
      })
      // Throw instead of process.exit, so runProgram owns exit codes and tests stay in-process.
      .exitOverride()
  );
}

/** Writes `text` to the program's stdout (the {@link CliOutput} given to {@link buildProgram}). */
export function writeOut(command: Command, text: string): void {
  const config = command.configureOutput();
  if (config.writeOut === undefined) {
    process.stdout.write(text);
  } else {
    config.writeOut(text);
  }
}

/** Writes `text` to the program's stderr (progress lines, warnings). */
export function writeErr(command: Command, text: string): void {
  const config = command.configureOutput();
  if (config.writeErr === undefined) {
    process.stderr.write(text);
  } else {
    config.writeErr(text);
  }
}

function coded(e: unknown): { code: string; message: string } | undefined {
  // Duck-typed, not instanceof Error: errors may come from another realm (a VM context, jest).
  if (typeof e !== 'object' || e === null) {
    return undefined;
  }
  const { code, message } = e as { code?: unknown; message?: unknown };
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) && typeof message === 'string'
    ? { code, message }
    : undefined;
}

/**
 * Parses `args` (user arguments, without `node` and the script) and runs the chosen command.
 * Never throws: errors are printed to the program's stderr as `error [CODE]: message`.
 *
 * @returns the exit status: 0, {@link EXIT_FAILURE}, or {@link EXIT_USAGE} for usage errors.
 */
export async function runProgram(program: Command, args: readonly string[]): Promise<number> {
  try {
    await program.parseAsync([...args], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') {
        return 0;
      }
      if (e.code === 'commander.help') {
        // Help was printed: asked for (`synood help`, exit 0) or as the error report itself when no
        // subcommand was given (exit 1 from commander, a usage error here).
        return e.exitCode === 0 ? 0 : EXIT_USAGE;
      }
      writeErr(program, `error [CLI_ERR_USAGE]: ${e.message.replace(/^error: /, '')}\n`);
      return EXIT_USAGE;
    }
    const c = coded(e);
    if (c !== undefined) {
      writeErr(program, `error [${c.code}]: ${c.message}\n`);
      return c.code === 'CLI_ERR_USAGE' ? EXIT_USAGE : EXIT_FAILURE;
    }
    const message = (e as { message?: unknown } | null)?.message;
    writeErr(program, `error [CLI_ERR_INTERNAL]: ${typeof message === 'string' ? message : String(e)}\n`);
    return EXIT_FAILURE;
  }
}
