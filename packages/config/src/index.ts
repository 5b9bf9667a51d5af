/**
 * Configuration from the environment, parsed once at startup (design §3, style guide §7.8): each
 * service declares a schema mapping environment variables to a typed, nested config object; a
 * bad deployment fails at boot with one error that lists every bad variable, not the first.
 * Nothing else in the codebase reads `process.env` (ESLint enforces it).
 * @packageDocumentation
 */
import { z } from 'zod';

/** Thrown when environment variables are missing or malformed; `issues` names each variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_ERR_INVALID';
  constructor(readonly issues: readonly { variable: string; message: string }[]) {
    super(
      `invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n'),
    );
  }
}

/** An environment: variable name → value (as `process.env`). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses `env` with a schema whose keys are environment variable names (flat), after treating empty
 * strings as unset. Returns the parsed values; throws {@link ConfigError} listing every problem.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Env): z.output<S> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') {
      cleaned[key] = v.trim();
    }
  }
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({
        variable: i.path.map(String).join('.') || '(environment)',
        message: i.message,
      })),
    );
  }
  return result.data;
}

/** Reads the process environment. The only `process.env` access in the codebase. */
export function processEnv(): Env {
  // eslint-disable-next-line no-restricted-properties -- this package is where the environment is read
  return process.env;
}

/** Helpers for common variable types, strings in, typed values out. */
export const envVar = {
  /** An integer within [min, max]. */
  int: (min: number, max: number = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max),
  /** `true/false/1/0/yes/no/on/off`, case-insensitive. */
  bool: () =>
    z.string().transform((s, ctx) => {
      const v = s.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) {
        return true;
      }
      if (['false', '0', 'no', 'off'].includes(v)) {
        return false;
      }
      ctx.addIssue({ code: 'custom', message: `expected true/false, got "${s}"` });
      return z.NEVER;
    }),
  /** A URL with one of the given schemes, e.g. `redis:`. */
  url: (...protocols: string[]) =>
    z.string().refine(
      (s) => {
        try {
          return protocols.length === 0 || protocols.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      { message: `expected a URL${protocols.length ? ` with scheme ${protocols.join(' or ')}` : ''}` },
    ),
  /** A comma-separated list of non-empty strings. */
  list: () =>
    z.string().transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    ),
};

/** Settings every service shares. */
export const commonEnvSchema = z.object({
  REDIS_URL: envVar.url('redis:', 'rediss:').default('redis://127.0.0.1:6379'),
  SYNOOD_STORAGE_URL: z.string().min(1).default('file://./.synood/storage'),
  SYNOOD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  SYNOOD_EXECUTION_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
  SYNOOD_CUDA_DEVICE: envVar.int(0, 64).default(0),
  SYNOOD_INTRA_OP_THREADS: envVar.int(1, 1024).optional(),
  SYNOOD_MODEL_CACHE: z.string().min(1).optional(),
  HF_ENDPOINT: envVar.url('https:', 'http:').default('https://huggingface.co'),
  HF_TOKEN: z.string().min(1).optional(),
  /** Where CLI clients find the API (`synood run`, `status`, `score`). */
  SYNOOD_API_URL: envVar.url('http:', 'https:').default('http://127.0.0.1:8080'),
  /** API key(s), comma-separated; clients send the first. */
  SYNOOD_API_KEY: envVar.list().optional(),
});

/** The shared settings as a nested object (what services pass down in their deps). */
export interface CommonConfig {
  redis: { url: string };
  storage: { url: string };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' };
  onnx: { executionProvider: 'cpu' | 'cuda'; deviceId: number; intraOpThreads?: number };
  /** Model downloads: cache folder (default `~/.cache/synood/models`), Hub endpoint and token. */
  models: { cacheDir?: string; endpoint: string; token?: string };
  /** How clients reach the API. */
  client: { apiUrl: string; apiKey?: string };
}

/** Parses the shared settings from `env` into {@link CommonConfig}. */
export function loadCommonConfig(env: Env = processEnv()): CommonConfig {
  const e = parseEnv(commonEnvSchema, env);
  return {
    redis: { url: e.REDIS_URL },
    storage: { url: e.SYNOOD_STORAGE_URL },
    log: { level: e.SYNOOD_LOG_LEVEL },
    onnx: {
      executionProvider: e.SYNOOD_EXECUTION_PROVIDER,
      deviceId: e.SYNOOD_CUDA_DEVICE,
      ...(e.SYNOOD_INTRA_OP_THREADS === undefined ? {} : { intraOpThreads: e.SYNOOD_INTRA_OP_THREADS }),
    },
    models: {
      endpoint: e.HF_ENDPOINT,
      ...(e.SYNOOD_MODEL_CACHE === undefined ? {} : { cacheDir: e.SYNOOD_MODEL_CACHE }),
      ...(e.HF_TOKEN === undefined ? {} : { token: e.HF_TOKEN }),
    },
    client: {
      apiUrl: e.SYNOOD_API_URL,
      ...(e.SYNOOD_API_KEY?.[0] === undefined ? {} : { apiKey: e.SYNOOD_API_KEY[0] }),
    },
  };
}
