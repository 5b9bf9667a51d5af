/**
 * @file The onnxruntime-node adapter: session options, session creation and input checks. This module
 * (with the rest of `@synood/onnx`) is the only code allowed to import onnxruntime-node; lint enforces it.
 *
 * Platform constraints encoded here:
 * - The onnxruntime-node npm package ships CPU binaries only (plus WebGPU). On linux/x64 the CUDA 12
 *   execution provider (`libonnxruntime_providers_{shared,cuda}.so`) is downloaded from NuGet by the
 *   package's install script. npm 11 here does not run that script (the root package.json `allowScripts`
 *   turns off onnxruntime-node's postinstall, and CI sets `ONNXRUNTIME_NODE_INSTALL=skip`), so a GPU
 *   host installs the provider as a separate, explicit step. Asking onnxruntime for `cuda` without it
 *   fails with "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library" (and a
 *   native log line on stderr); there is no silent CPU fallback. We check for the provider first and
 *   turn either failure into `ONNX_ERR_CUDA_UNAVAILABLE` with the install command.
 * - onnxruntime-common checks `data instanceof Float32Array` against the host realm, which fails for
 *   typed arrays created inside jest's per-file vm realm. That is handled by `@synood/testing`'s jest
 *   environment, not here: production code runs in one realm.
 * - `session.run()` in onnxruntime-node executes synchronously on the main thread (inside a
 *   `setImmediate`), so a long run blocks the event loop for its duration; the parallelism is ORT's
 *   intra-op thread pool. Keep single runs short in processes that must stay responsive.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { InferenceSession, type Tensor } from 'onnxruntime-node';

import { type InputProblem, OnnxError, OnnxErrorCode, OnnxInputError, type TensorSignature } from './errors';

/** Execution providers this project supports. */
export type ExecutionProvider = 'cpu' | 'cuda';

/** onnxruntime graph optimisation levels. */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** How to run a model: device and threading. Every field is optional. */
export interface SessionConfig {
  /** Where to run. @defaultValue `'cpu'` */
  executionProvider?: ExecutionProvider;
  /** CUDA device ordinal; ignored on CPU. @defaultValue 0 */
  deviceId?: number;
  /** Threads inside one operator (the GEMM thread count). @defaultValue onnxruntime's: one per physical core */
  intraOpThreads?: number;
  /** Threads across independent operators; only used by the parallel execution mode. @defaultValue onnxruntime's */
  interOpThreads?: number;
  /** @defaultValue `'all'` (onnxruntime's default) */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Let intra-op threads spin between runs. Lowers latency for one session called in a tight loop,
   * but starves other sessions on the same cores, so it is off unless asked for. @defaultValue false
   */
  allowSpinning?: boolean;
}

/** The command that installs the CUDA 12 provider next to the CPU binaries, run from the repository root. */
export const CUDA_INSTALL_COMMAND =
  'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js';

const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda'];
const OPTIMIZATION_LEVELS: readonly GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'all'];

function checkCount(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
    throw new OnnxError(
      OnnxErrorCode.Config,
      `session config ${name} must be an integer ≥ ${min}, got ${String(value)}`,
    );
  }
}

/**
 * onnxruntime session options for a config, validated. Unset thread counts are left out so that
 * onnxruntime applies its own defaults.
 */
export function sessionOptions(config: SessionConfig = {}): InferenceSession.SessionOptions {
  const ep = config.executionProvider ?? 'cpu';
  if (!EXECUTION_PROVIDERS.includes(ep)) {
    throw new OnnxError(
      OnnxErrorCode.Config,
      `session config executionProvider is ${ep}. Should be one of: ${EXECUTION_PROVIDERS.join(', ')}`,
    );
  }
  const level = config.graphOptimizationLevel ?? 'all';
  if (!OPTIMIZATION_LEVELS.includes(level)) {
    throw new OnnxError(
      OnnxErrorCode.Config,
      `session config graphOptimizationLevel is ${level}. Should be one of: ${OPTIMIZATION_LEVELS.join(', ')}`,
    );
  }
  checkCount('deviceId', config.deviceId, 0);
  checkCount('intraOpThreads', config.intraOpThreads, 1);
  checkCount('interOpThreads', config.interOpThreads, 1);
  return {
    executionProviders: ep === 'cuda' ? [{ name: 'cuda', deviceId: config.deviceId ?? 0 }] : ['cpu'],
    graphOptimizationLevel: level,
    ...(config.intraOpThreads === undefined ? {} : { intraOpNumThreads: config.intraOpThreads }),
    ...(config.interOpThreads === undefined ? {} : { interOpNumThreads: config.interOpThreads }),
    // Every session owns an intra-op thread pool whose threads spin after each run by default. Callers
    // alternate between several small sessions (a training step runs four), so spinning pools of idle
    // sessions would steal the cores from the busy one.
    extra: { session: { intra_op: { allow_spinning: config.allowSpinning === true ? '1' : '0' } } },
  };
}

/**
 * Why the CUDA provider cannot load, checked on disk before onnxruntime tries (which would also print a
 * native error). Only linux/x64 gets the provider from the install script; elsewhere we let onnxruntime
 * decide.
 */
function missingCudaProvider(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return undefined;
  }
  const binDir = join(
    dirname(require.resolve('onnxruntime-node/package.json')),
    'bin',
    'napi-v6',
    'linux',
    'x64',
  );
  for (const lib of ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so']) {
    if (!existsSync(join(binDir, lib))) {
      return `${lib} is not in ${binDir}`;
    }
  }
  return undefined;
}

/** True for the errors onnxruntime raises when the CUDA provider library (or what it links) cannot load. */
function isCudaLoadFailure(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /cuda|providers_shared|failed to load shared library/i.test(message);
}

function cudaUnavailable(reason: string, cause?: unknown): OnnxError {
  return new OnnxError(
    OnnxErrorCode.CudaUnavailable,
    `executionProvider 'cuda' was requested but onnxruntime's CUDA provider cannot be loaded (${reason}). ` +
      'The onnxruntime-node npm package ships CPU binaries only; its install script downloads the CUDA 12 ' +
      'provider from NuGet, and npm 11 does not run it here (root package.json allowScripts disables ' +
      "onnxruntime-node's postinstall). On the GPU host, from the repository root, run: " +
      `${CUDA_INSTALL_COMMAND} (needs network access to api.nuget.org; the provider also needs the ` +
      "CUDA 12 runtime and cuDNN 9 on the library path), or use executionProvider 'cpu'.",
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Creates an onnxruntime session from model bytes or a file path.
 *
 * @throws OnnxError `ONNX_ERR_CONFIG` for a bad config, `ONNX_ERR_CUDA_UNAVAILABLE` when CUDA is requested
 * but its provider cannot be loaded (the message gives the install command), `ONNX_ERR_SESSION` when
 * onnxruntime rejects the model.
 */
export async function createSession(
  model: Uint8Array | string,
  config: SessionConfig = {},
): Promise<InferenceSession> {
  const options = sessionOptions(config);
  const cuda = config.executionProvider === 'cuda';
  if (cuda) {
    const missing = missingCudaProvider();
    if (missing !== undefined) {
      throw cudaUnavailable(missing);
    }
  }
  try {
    return typeof model === 'string'
      ? await InferenceSession.create(model, options)
      : await InferenceSession.create(model, options);
  } catch (err) {
    if (cuda && isCudaLoadFailure(err)) {
      throw cudaUnavailable(err instanceof Error ? err.message : String(err), err);
    }
    const source = typeof model === 'string' ? model : `a ${model.byteLength}-byte buffer`;
    const detail = err instanceof Error ? err.message : String(err);
    throw new OnnxError(OnnxErrorCode.Session, `onnxruntime could not load ${source}: ${detail}`, {
      cause: err,
    });
  }
}

/** Element type and dims of a fed tensor. */
export function describeTensor(t: Tensor): TensorSignature {
  return { type: t.type, dims: t.dims };
}

function formatSignature(s: TensorSignature | undefined): string {
  return s === undefined ? 'nothing' : `${s.type}[${s.dims.join(', ')}]`;
}

function checkInput(
  meta: InferenceSession.ValueMetadata,
  feed: Tensor | undefined,
): InputProblem | undefined {
  const name = meta.name;
  if (!meta.isTensor) {
    // Our feeds are tensors only; a sequence/map input cannot be satisfied through this adapter.
    return feed === undefined
      ? { name, kind: 'missing' }
      : { name, kind: 'not-tensor', got: describeTensor(feed) };
  }
  const expected: TensorSignature = { type: meta.type, dims: meta.shape };
  if (feed === undefined) {
    return { name, kind: 'missing', expected };
  }
  const got = describeTensor(feed);
  if (feed.type !== meta.type) {
    return { name, kind: 'dtype', expected, got };
  }
  // onnxruntime reports an undeclared shape as [], the same as a scalar; treat [] as "unknown".
  if (meta.shape.length === 0) {
    return undefined;
  }
  if (feed.dims.length !== meta.shape.length) {
    return { name, kind: 'rank', expected, got };
  }
  const fixedMismatch = meta.shape.some((d, i) => typeof d === 'number' && d !== feed.dims[i]);
  return fixedMismatch ? { name, kind: 'dim', expected, got } : undefined;
}

/**
 * Checks feeds against the model's declared inputs: every input present, with the declared element type,
 * rank (where the model declares a shape) and fixed dims. All problems are reported in one error.
 *
 * Feeds the model does not declare are not an error (onnxruntime ignores them); they are returned so
 * that the caller can log a warning.
 *
 * @returns the names of fed values the model does not take.
 * @throws OnnxInputError `ONNX_ERR_INPUT` listing, for each bad input, its name, expected type/dims and
 * what was fed.
 */
export function validateInputs(
  session: Pick<InferenceSession, 'inputMetadata'>,
  feeds: InferenceSession.FeedsType,
): string[] {
  const problems: InputProblem[] = [];
  const declared = new Set<string>();
  for (const meta of session.inputMetadata) {
    declared.add(meta.name);
    const problem = checkInput(meta, Object.hasOwn(feeds, meta.name) ? feeds[meta.name] : undefined);
    if (problem !== undefined) {
      problems.push(problem);
    }
  }
  if (problems.length > 0) {
    const lines = problems.map(
      (p) =>
        `  ${p.name} (${p.kind}): expected ${formatSignature(p.expected)}, got ${formatSignature(p.got)}`,
    );
    throw new OnnxInputError(
      problems,
      `${problems.length} model input(s) do not match:\n${lines.join('\n')}\n` +
        `Model inputs: ${[...declared].join(', ')}`,
    );
  }
  return Object.keys(feeds).filter((name) => !declared.has(name));
}

/** One line per feed (name, dtype, dims; never the data), for error messages after a failed run. */
export function describeFeeds(feeds: InferenceSession.FeedsType): string {
  return Object.entries(feeds)
    .map(([name, t]) => `${name}: ${formatSignature(describeTensor(t))}`)
    .join('; ');
}

/**
 * Runs a session and wraps onnxruntime failures in `ONNX_ERR_RUN` naming each feed's dtype and dims.
 * It does not validate first: call {@link validateInputs} once per model, not on every hot call.
 */
export async function runSession(
  session: InferenceSession,
  feeds: InferenceSession.FeedsType,
): Promise<InferenceSession.ReturnType> {
  try {
    return await session.run(feeds);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new OnnxError(
      OnnxErrorCode.Run,
      `onnxruntime run failed: ${detail} (feeds: ${describeFeeds(feeds)})`,
      {
        cause: err,
      },
    );
  }
}

/** Releases a session's native memory; safe to call on `undefined`. */
export async function releaseSession(session: InferenceSession | undefined): Promise<void> {
  await session?.release();
}
