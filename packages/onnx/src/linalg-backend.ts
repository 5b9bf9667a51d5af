import {
  checkGroupBlocks,
  type GemmOptions,
  gemmShape,
  type GroupBlock,
  type LinalgBackend,
  type Matrix,
  type SoftmaxResult,
  TensorError,
} from '@synood/tensor';
import { type InferenceSession, Tensor } from 'onnxruntime-node';

import { OnnxError, OnnxErrorCode } from './errors';
import {
  buildModel,
  floatAttr,
  type InitializerSpec,
  intAttr,
  intsAttr,
  type NodeSpec,
  type ValueSpec,
} from './model-builder';
import { createSession, runSession, type SessionConfig, sessionOptions } from './session';

type Feeds = Record<string, Tensor>;

function checkMatrix(m: Matrix, name: string): void {
  if (m.data.length !== m.rows * m.cols) {
    throw new TensorError(`${name} has ${m.data.length} values, expected ${m.rows}×${m.cols}`);
  }
}

function checkAlpha(alpha: number): void {
  if (!Number.isFinite(alpha)) {
    throw new TensorError(`alpha must be finite, got ${alpha}`);
  }
}

function checkSameCols(a: Matrix, b: Matrix, op: string): void {
  if (a.cols !== b.cols) {
    throw new TensorError(
      `${op}: A is ${a.rows}×${a.cols}, B is ${b.rows}×${b.cols}; their columns must match`,
    );
  }
}

/** Shares the matrix's storage: onnxruntime reads CPU tensors in place and never writes inputs. */
function toTensor(m: Matrix): Tensor {
  return new Tensor('float32', m.data, [m.rows, m.cols]);
}

function int64(values: readonly number[]): Tensor {
  return new Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    [values.length],
  );
}

function output(results: InferenceSession.ReturnType, name: string, length: number): Float32Array {
  const t = results[name];
  if (t?.type !== 'float32' || !(t.data instanceof Float32Array) || t.data.length !== length) {
    throw new OnnxError(
      OnnxErrorCode.Run,
      `output ${name}: expected float32 with ${length} values, got ${t === undefined ? 'nothing' : `${t.type}[${t.dims.join(', ')}]`}`,
    );
  }
  return t.data;
}

/** The float32 value onnxruntime will use for a float attribute, so equal attributes share one graph. */
function alphaKey(alpha: number): string {
  return String(Math.fround(alpha));
}

function gemmGraph(transA: boolean, transB: boolean, alpha: number): Uint8Array {
  return buildModel({
    name: 'gemm',
    nodes: [
      {
        opType: 'Gemm',
        inputs: ['a', 'b'],
        outputs: ['c'],
        attributes: {
          transA: intAttr(transA ? 1 : 0),
          transB: intAttr(transB ? 1 : 0),
          alpha: floatAttr(alpha),
        },
      },
    ],
    inputs: [
      { name: 'a', dims: transA ? ['k', 'm'] : ['m', 'k'] },
      { name: 'b', dims: transB ? ['n', 'k'] : ['k', 'n'] },
    ],
    outputs: [{ name: 'c', dims: ['m', 'n'] }],
  });
}

const LOGITS_INPUTS: readonly ValueSpec[] = [
  { name: 'a', dims: ['n', 'd'] },
  { name: 'b', dims: ['m', 'd'] },
];

function logitsNode(alpha: number): NodeSpec {
  return {
    opType: 'Gemm',
    inputs: ['a', 'b'],
    outputs: ['logits'],
    attributes: { transB: intAttr(1), alpha: floatAttr(alpha) },
  };
}

/** Names of the intermediate values of {@link logSumExpNodes}, for graphs that reuse them. */
interface LogSumExpParts {
  readonly nodes: NodeSpec[];
  /** exp(x − max), same shape as x. */
  readonly exp: string;
  /** Σ exp(x − max) with the reduced axis kept (size 1). */
  readonly sum: string;
}

/**
 * Stable log-sum-exp of `x` over `axis` into `out` (axis removed): max + log Σ exp(x − max). The axis is
 * read from an int64 initializer named `axis{axis}`.
 *
 * onnxruntime's CPU ReduceLogSumExp is stable too (it also shifts by the maximum; a test pins that), but
 * it exponentiates one element at a time: on this 2-core box it added ~50 ms
 * to a 1000×11,400 group reduction (~110 ms of GEMM) and ~40% to a 128×6,620 softmax step. Exp is
 * vectorised, so this six-op form costs a few milliseconds instead.
 */
function logSumExpNodes(x: string, axis: number, out: string): LogSumExpParts {
  const p = `${out}_`;
  const axes = `axis${axis}`;
  return {
    nodes: [
      {
        opType: 'ReduceMax',
        inputs: [x],
        outputs: [`${p}max`],
        attributes: { axes: intsAttr([axis]), keepdims: intAttr(1) },
      },
      { opType: 'Sub', inputs: [x, `${p}max`], outputs: [`${p}shifted`] },
      { opType: 'Exp', inputs: [`${p}shifted`], outputs: [`${p}exp`] },
      {
        opType: 'ReduceSum',
        inputs: [`${p}exp`, axes],
        outputs: [`${p}sum`],
        attributes: { keepdims: intAttr(1) },
      },
      { opType: 'Log', inputs: [`${p}sum`], outputs: [`${p}logsum`] },
      { opType: 'Add', inputs: [`${p}logsum`, `${p}max`], outputs: [`${p}kept`] },
      { opType: 'Squeeze', inputs: [`${p}kept`, axes], outputs: [out] },
    ],
    exp: `${p}exp`,
    sum: `${p}sum`,
  };
}

function axisInitializer(axis: number): InitializerSpec {
  return { name: `axis${axis}`, type: 'int64', dims: [1], values: [axis] };
}

/** probs = exp(l − max) / Σ and lse = max + log Σ share one exponentiation of the logits. */
function softmaxGraph(alpha: number): Uint8Array {
  const lse = logSumExpNodes('logits', 1, 'lse');
  return buildModel({
    name: 'softmax',
    nodes: [
      logitsNode(alpha),
      ...lse.nodes,
      { opType: 'Div', inputs: [lse.exp, lse.sum], outputs: ['probs'] },
    ],
    inputs: LOGITS_INPUTS,
    outputs: [
      { name: 'probs', dims: ['n', 'm'] },
      { name: 'lse', dims: ['n'] },
    ],
    initializers: [axisInitializer(1)],
  });
}

/**
 * Per-group log-sum-exp for `blockCount` non-empty blocks. Block bounds and shapes are int64 inputs
 * (`start{i}`, `end{i}`: [1]; `shape{i}`: [0, count, size], 0 copying N), so one graph serves every
 * layout with that many blocks.
 */
function groupGraph(alpha: number, blockCount: number): Uint8Array {
  const nodes: NodeSpec[] = [logitsNode(alpha)];
  const inputs: ValueSpec[] = [...LOGITS_INPUTS];
  const reduced: string[] = [];
  for (let i = 0; i < blockCount; i++) {
    let cols = 'logits';
    if (blockCount > 1) {
      cols = `cols${i}`;
      inputs.push(
        { name: `start${i}`, type: 'int64', dims: [1] },
        { name: `end${i}`, type: 'int64', dims: [1] },
      );
      nodes.push({ opType: 'Slice', inputs: ['logits', `start${i}`, `end${i}`, 'axis1'], outputs: [cols] });
    }
    const lse = blockCount > 1 ? `lse${i}` : 'out';
    inputs.push({ name: `shape${i}`, type: 'int64', dims: [3] });
    nodes.push(
      { opType: 'Reshape', inputs: [cols, `shape${i}`], outputs: [`grouped${i}`] },
      ...logSumExpNodes(`grouped${i}`, 2, lse).nodes,
    );
    reduced.push(lse);
  }
  if (blockCount > 1) {
    nodes.push({ opType: 'Concat', inputs: reduced, outputs: ['out'], attributes: { axis: intAttr(1) } });
  }
  return buildModel({
    name: 'group_logsumexp',
    nodes,
    inputs,
    outputs: [{ name: 'out', dims: ['n', 'groups'] }],
    initializers: blockCount > 1 ? [axisInitializer(1), axisInitializer(2)] : [axisInitializer(2)],
  });
}

/**
 * {@link LinalgBackend} on onnxruntime: each kernel is a tiny ONNX graph with symbolic dims, built once
 * and kept as a session. The point is the large similarity products (e.g. 1000×512 · (11,499×512)ᵀ):
 * onnxruntime's MLAS GEMM runs at roughly the core's fp32 peak (~87 GFLOP/s on one core of the 2-core
 * Zen 4 dev box, ~180 on two) where the TypeScript backend gets ~1.
 *
 * onnxruntime-node runs a session synchronously on the main thread, so each call holds the event loop
 * for its duration (~120 ms for a 1000×11,400 group reduction on one thread): split large batches in
 * processes that must stay responsive.
 *
 * Session cache: a graph depends only on the op, the transpose flags, alpha (a Gemm attribute, folded
 * into the GEMM instead of a separate pass over the N×M logits) and, for {@link OrtLinalgBackend.groupLogSumExp}, the
 * number of non-empty blocks. Dims are symbolic and block bounds are fed as int64 inputs, so the cache
 * stays at a handful of sessions for a run's fixed temperature; only a caller sweeping many alphas grows it
 * (one session per distinct float32 alpha).
 *
 * Shape errors throw `TensorError` (`TENSOR_ERR_SHAPE`), as the TypeScript reference backend does, so
 * callers handle both backends alike; onnxruntime failures throw `OnnxError`.
 *
 * @example
 * ```ts
 * const backend = await OrtLinalgBackend.create({ intraOpThreads: 2 });
 * try {
 *   const scores = await backend.groupLogSumExp(features, labels, 100, [{ count: 1, size: 1000 }]);
 * } finally {
 *   await backend.dispose();
 * }
 * ```
 */
export class OrtLinalgBackend implements LinalgBackend {
  readonly name: string;
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private disposed = false;

  private constructor(private readonly config: SessionConfig) {
    this.name = `onnxruntime-${config.executionProvider ?? 'cpu'}`;
  }

  /**
   * Creates the backend and its first session, so a bad config or a missing CUDA provider fails here
   * rather than in the middle of a job.
   *
   * @throws OnnxError `ONNX_ERR_CONFIG`, `ONNX_ERR_CUDA_UNAVAILABLE` (with the install command), `ONNX_ERR_SESSION`.
   */
  static async create(config: SessionConfig = {}): Promise<OrtLinalgBackend> {
    sessionOptions(config);
    const backend = new OrtLinalgBackend({ ...config });
    try {
      await backend.session(`gemm/0/1/${alphaKey(1)}`, () => gemmGraph(false, true, 1));
    } catch (err) {
      await backend.dispose();
      throw err;
    }
    return backend;
  }

  /** Number of sessions currently cached (one per distinct graph). */
  get cachedSessions(): number {
    return this.sessions.size;
  }

  /** C = alpha · op(A) · op(B) as one ONNX `Gemm`. */
  async gemm(a: Matrix, b: Matrix, options: GemmOptions = {}): Promise<Matrix> {
    const { transA = false, transB = false, alpha = 1 } = options;
    checkMatrix(a, 'A');
    checkMatrix(b, 'B');
    checkAlpha(alpha);
    const { m, n } = gemmShape(a, b, options);
    const key = `gemm/${Number(transA)}/${Number(transB)}/${alphaKey(alpha)}`;
    const results = await this.run(key, () => gemmGraph(transA, transB, alpha), {
      a: toTensor(a),
      b: toTensor(b),
    });
    return { rows: m, cols: n, data: output(results, 'c', m * n) };
  }

  /**
   * Gemm(transB, alpha), then the row softmax and log-sum-exp of the same logits in one run (written
   * out as ReduceMax/Sub/Exp/ReduceSum so both share one exponentiation; see `logSumExpNodes`).
   */
  async softmax(a: Matrix, b: Matrix, alpha: number): Promise<SoftmaxResult> {
    checkMatrix(a, 'A');
    checkMatrix(b, 'B');
    checkAlpha(alpha);
    checkSameCols(a, b, 'softmax');
    const results = await this.run(`softmax/${alphaKey(alpha)}`, () => softmaxGraph(alpha), {
      a: toTensor(a),
      b: toTensor(b),
    });
    return {
      probs: { rows: a.rows, cols: b.rows, data: output(results, 'probs', a.rows * b.rows) },
      logSumExp: output(results, 'lse', a.rows),
    };
  }

  /**
   * Gemm(transB, alpha), then per block: Slice its columns, Reshape to [N, count, size],
   * a stable log-sum-exp over the last axis; Concat the blocks → [N, Σcount]. Empty blocks are skipped.
   */
  async groupLogSumExp(a: Matrix, b: Matrix, alpha: number, blocks: readonly GroupBlock[]): Promise<Matrix> {
    checkMatrix(a, 'A');
    checkMatrix(b, 'B');
    checkAlpha(alpha);
    checkSameCols(a, b, 'groupLogSumExp');
    const groups = checkGroupBlocks(blocks, b.rows);
    const used = blocks.filter((blk) => blk.count > 0);
    if (used.length === 0) {
      return { rows: a.rows, cols: 0, data: new Float32Array(0) };
    }
    const feeds: Feeds = { a: toTensor(a), b: toTensor(b) };
    let start = 0;
    used.forEach((blk, i) => {
      const end = start + blk.count * blk.size;
      if (used.length > 1) {
        feeds[`start${i}`] = int64([start]);
        feeds[`end${i}`] = int64([end]);
      }
      feeds[`shape${i}`] = int64([0, blk.count, blk.size]);
      start = end;
    });
    const key = `group/${alphaKey(alpha)}/${used.length}`;
    const results = await this.run(key, () => groupGraph(alpha, used.length), feeds);
    return { rows: a.rows, cols: groups, data: output(results, 'out', a.rows * groups) };
  }

  /** Waits for runs in progress, then releases every cached session. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    await Promise.allSettled(this.inflight);
    const sessions = await Promise.allSettled(this.sessions.values());
    this.sessions.clear();
    await Promise.all(sessions.flatMap((s) => (s.status === 'fulfilled' ? [s.value.release()] : [])));
  }

  private session(key: string, build: () => Uint8Array): Promise<InferenceSession> {
    let session = this.sessions.get(key);
    if (session === undefined) {
      session = createSession(build(), this.config);
      // A failed build is not cached: the next call retries (and reports) rather than replaying it.
      const created = session;
      void created.catch(() => {
        if (this.sessions.get(key) === created) {
          this.sessions.delete(key);
        }
      });
      this.sessions.set(key, created);
    }
    return session;
  }

  private async run(
    key: string,
    build: () => Uint8Array,
    feeds: Feeds,
  ): Promise<InferenceSession.ReturnType> {
    if (this.disposed) {
      throw new OnnxError(OnnxErrorCode.Disposed, `${this.name} backend used after dispose()`);
    }
    const pending = this.session(key, build).then((s) => runSession(s, feeds));
    this.inflight.add(pending);
    try {
      return await pending;
    } finally {
      this.inflight.delete(pending);
    }
  }
}
