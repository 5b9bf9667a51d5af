/**
 * A JSON-lines logger in pino's `(fields, message)` call form (the `QueueLogger` shape), so the worker
 * harness, the handlers and `main.ts` log one way without a logging dependency. Shared verbatim by the four
 * worker services.
 */
import type { QueueLogger } from '@synood/queue';

/** Log levels, most severe first, as in `SYNOOD_LOG_LEVEL`. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

const RANK: Record<LogLevel, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 };

/** A {@link QueueLogger} with `fatal` for the last line before a failed start. */
export interface ServiceLogger extends QueueLogger {
  fatal(fields: Record<string, unknown>, message: string): void;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The service name, on every line as `service`. */
  service: string;
  /** Lines below this level are dropped. @defaultValue `'info'` */
  level?: LogLevel;
  /** Where a finished line goes. @defaultValue `process.stdout.write` */
  write?: (line: string) => void;
  /** Clock for the `time` field. @defaultValue `Date.now` */
  now?: () => number;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, ...(value.stack ? { stack: value.stack } : {}) };
  }
  return value;
}

/** A logger writing one JSON object per line: `{level, time, service, msg, ...fields}`. */
export function createLogger(options: LoggerOptions): ServiceLogger {
  const min = RANK[options.level ?? 'info'];
  const write =
    options.write ??
    ((line: string) => {
      process.stdout.write(line);
    });
  const now = options.now ?? Date.now;
  const at =
    (level: LogLevel) =>
    (fields: Record<string, unknown>, message: string): void => {
      if (RANK[level] < min) {
        return;
      }
      const body: Record<string, unknown> = { level, time: now(), service: options.service, msg: message };
      for (const [k, v] of Object.entries(fields)) {
        body[k] = serialise(v);
      }
      let line: string;
      try {
        line = JSON.stringify(body);
      } catch {
        // A circular field must not take the process down with it.
        line = JSON.stringify({ level, time: body.time, service: options.service, msg: message });
      }
      write(`${line}\n`);
    };
  return {
    fatal: at('fatal'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
  };
}
