/**
 * The body of every worker service's `main.ts`, shared verbatim: a logger, the service's start function,
 * the SIGTERM/SIGINT handlers, and exit codes that tell an orchestrator whether restarting can help.
 */
import { loadCommonConfig } from '@synood/config';

import { hasCode } from './errors';
import { type ServiceLogger, createLogger } from './logger';
import { type RunningService, installShutdown } from './serve';

/** Exit code of a start that no restart can fix: bad configuration, missing model files (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;
/** Exit code of any other failed start (Redis down, a model that fails to load). */
export const EXIT_FAILURE = 1;

const CONFIG_CODES = [
  'CONFIG_ERR_INVALID',
  'WORKER_ERR_CONFIG',
  'WORKER_ERR_MODEL_MISSING',
  'WORKER_ERR_HANDLERS',
];

/** The exit code for an error that stopped the start. */
export function exitCodeOf(error: unknown): number {
  return CONFIG_CODES.some((c) => hasCode(error, c)) ? EXIT_CONFIG : EXIT_FAILURE;
}

/** Options of {@link runMain}. */
export interface RunMainOptions {
  /** Ends the process. @defaultValue `process.exit` */
  exit?: (code: number) => void;
  /** Where log lines go. @defaultValue stdout */
  write?: (line: string) => void;
}

/**
 * Starts a service and keeps it running until a signal; on a failed start logs the error and exits with
 * {@link exitCodeOf}.
 */
export async function runMain(
  service: string,
  start: (logger: ServiceLogger) => Promise<RunningService>,
  options: RunMainOptions = {},
): Promise<void> {
  const exit =
    options.exit ??
    ((code: number) => {
      process.exit(code);
    });
  const write = options.write === undefined ? {} : { write: options.write };
  let logger = createLogger({ service, ...write });
  try {
    logger = createLogger({ service, level: loadCommonConfig().log.level, ...write });
  } catch {
    // The service's own config parse reports every bad variable below.
  }
  try {
    const running = await start(logger);
    installShutdown(running, logger, { exit });
  } catch (error) {
    const code = exitCodeOf(error);
    logger.fatal(
      { err: error, code: (error as { code?: unknown } | null)?.code ?? null, exitCode: code },
      `${service} failed to start`,
    );
    exit(code);
  }
}
