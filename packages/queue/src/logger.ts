/**
 * The logger shape the queue package writes to: pino's `(fields, message)` call form, so a pino (or
 * Fastify) logger is passed as is.
 */
export interface QueueLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const ignore = (): void => undefined;

/** A logger that drops everything: the default when none is given. */
export const silentLogger: QueueLogger = Object.freeze({
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
});

/** A logger that adds `bound` fields to every call of `logger`. */
export function withFields(logger: QueueLogger, bound: Record<string, unknown>): QueueLogger {
  return {
    debug: (fields, message) => {
      logger.debug({ ...bound, ...fields }, message);
    },
    info: (fields, message) => {
      logger.info({ ...bound, ...fields }, message);
    },
    warn: (fields, message) => {
      logger.warn({ ...bound, ...fields }, message);
    },
    error: (fields, message) => {
      logger.error({ ...bound, ...fields }, message);
    },
  };
}
