import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type GroupBlock,
  l2NormalizeRows,
  type Matrix,
  matrix,
  Rng,
  rowSlice,
  TypeScriptBackend,
} from '@synood/tensor';

import { OrtLinalgBackend } from '../src';

const reference = new TypeScriptBackend();
let backend: OrtLinalgBackend;

beforeAll(async () => {
  backend = await OrtLinalgBackend.create({ intraOpThreads: 1 });
});

afterAll(async () => {
  await backend.dispose();
});

function randomMatrix(rows: number, cols: number, seed: string): Matrix {
  const data = new Float32Array(rows * cols);
  new Rng(seed).fillNormal(data);
  return matrix(rows, cols, data);
}

function absMatrix(m: Matrix): Matrix {
  return matrix(m.rows, m.cols, m.data.map(Math.abs));
}

/**
 * Asserts |actual − expected| ≤ rtol·scale + atol elementwise, where `scale` is the float32 error scale of
 * each entry (|alpha|·Σ|a||b| for a product), so the tolerance tracks cancellation rather than |expected|.
 * Lists the first few mismatches.
 */
function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  scale: ArrayLike<number> | number,
  rtol: number,
  atol = 0,
): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length && bad.length < 5; i++) {
    const s = typeof scale === 'number' ? scale : scale[i]!;
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= rtol * s + atol)) {
      bad.push(`[${i}] got ${a}, expected ${e} (scale ${s})`);
    }
  }
  expect(bad).toEqual([]);
}

/** Per-row maximum of |alpha|·Σ|a||b|: the error scale of a row's log-sum-exp (1-Lipschitz in the logits). */
async function rowLogitScale(a: Matrix, b: Matrix, alpha: number): Promise<Float64Array> {
  const s = await reference.gemm(absMatrix(a), absMatrix(b), { transB: true, alpha: Math.abs(alpha) });
  const out = new Float64Array(a.rows);
  for (let i = 0; i < a.rows; i++) {
    out[i] = Math.max(...s.data.subarray(i * s.cols, (i + 1) * s.cols));
  }
  return out;
}

function perColumn(rowValues: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(rowValues.length * cols);
  rowValues.forEach((v, i) => out.fill(v, i * cols, (i + 1) * cols));
  return out;
}

/**
 * Tolerance relative to each entry's error scale. Observed errors are about 2e-7 of the scale (a few float32
 * ulps); 1e-5 leaves room for other GEMM kernels' summation orders while still catching, say, a 3e-4
 * relative error in alpha.
 */
const RTOL = 1e-5;

describe('OrtLinalgBackend.gemm', () => {
  // [m, k, n]: vectors, single entries, and sizes that are not multiples of the SIMD width.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 37, 5],
    [6, 9, 1],
    [13, 17, 11],
    [33, 70, 65],
    [100, 513, 7],
  ];
  const transposes: [boolean, boolean][] = [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ];
  for (const [m, k, n] of shapes) {
    for (const [transA, transB] of transposes) {
      it(`matches the TypeScript backend for ${m}×${k}·${k}×${n}, transA=${transA}, transB=${transB}`, async () => {
        const seed = `gemm:${m}:${k}:${n}:${transA}:${transB}`;
        const a = transA ? randomMatrix(k, m, `${seed}:a`) : randomMatrix(m, k, `${seed}:a`);
        const b = transB ? randomMatrix(n, k, `${seed}:b`) : randomMatrix(k, n, `${seed}:b`);
        for (const alpha of [1, -0.37]) {
          const options = { transA, transB, alpha };
          const got = await backend.gemm(a, b, options);
          const want = await reference.gemm(a, b, options);
          const scale = await reference.gemm(absMatrix(a), absMatrix(b), {
            transA,
            transB,
            alpha: Math.abs(alpha),
          });
          expect([got.rows, got.cols]).toEqual([m, n]);
          expectClose(got.data, want.data, scale.data, RTOL, 1e-30);
        }
      });
    }
  }

  it('reads row views in place (matrices sharing a larger buffer)', async () => {
    const big = randomMatrix(40, 24, 'views');
    const a = rowSlice(big, 3, 13);
    const b = rowSlice(big, 20, 37);
    const got = await backend.gemm(a, b, { transB: true });
    const want = await reference.gemm(a, b, { transB: true });
    const scale = await reference.gemm(absMatrix(a), absMatrix(b), { transB: true });
    expectClose(got.data, want.data, scale.data, RTOL);
  });

  it('is deterministic and reuses one session per graph', async () => {
    const a = randomMatrix(9, 31, 'det:a');
    const b = randomMatrix(31, 12, 'det:b');
    const first = await backend.gemm(a, b, { alpha: 0.5 });
    const sessions = backend.cachedSessions;
    const second = await backend.gemm(randomMatrix(9, 31, 'det:a'), b, { alpha: 0.5 });
    expect(second.data).toEqual(first.data);
    expect(backend.cachedSessions).toBe(sessions);
  });

  it('rejects mismatched inner dims, inconsistent data and non-finite alpha with TENSOR_ERR_SHAPE', async () => {
    const a = randomMatrix(3, 4, 'bad:a');
    const b = randomMatrix(5, 6, 'bad:b');
    await expect(backend.gemm(a, b)).rejects.toMatchObject({
      code: 'TENSOR_ERR_SHAPE',
      message: expect.stringContaining('inner dims differ'),
    });
    await expect(backend.gemm(a, b, { transA: true, transB: true })).rejects.toMatchObject({
      code: 'TENSOR_ERR_SHAPE',
    });
    const broken: Matrix = { rows: 3, cols: 5, data: new Float32Array(14) };
    await expect(backend.gemm(broken, b)).rejects.toMatchObject({ code: 'TENSOR_ERR_SHAPE' });
    await expect(backend.gemm(a, randomMatrix(4, 2, 'ok'), { alpha: Number.NaN })).rejects.toMatchObject({
      code: 'TENSOR_ERR_SHAPE',
    });
  });
});

describe('OrtLinalgBackend.softmax', () => {
  const cases: [number, number, number, number][] = [
    // [N, d, M, alpha]
    [1, 8, 5, 1],
    [7, 33, 100, 2.5],
    [16, 512, 1000, 100],
  ];
  for (const [n, d, m, alpha] of cases) {
    it(`gives rows summing to 1 that match the TypeScript backend (${n}×${d} vs ${m}×${d}, alpha ${alpha})`, async () => {
      // Unit-norm rows, as CLIP features are: with alpha = 100 the logits span about ±100.
      const a = l2NormalizeRows(randomMatrix(n, d, `sm:${n}:${d}:a`));
      const b = l2NormalizeRows(randomMatrix(m, d, `sm:${m}:${d}:b`));
      const got = await backend.softmax(a, b, alpha);
      const want = await reference.softmax(a, b, alpha);
      expect([got.probs.rows, got.probs.cols]).toEqual([n, m]);
      expect(got.logSumExp).toHaveLength(n);
      for (let i = 0; i < n; i++) {
        const row = got.probs.data.subarray(i * m, (i + 1) * m);
        expect(Math.abs(row.reduce((s, p) => s + p, 0) - 1)).toBeLessThan(1e-5);
      }
      const scale = await rowLogitScale(a, b, alpha);
      expectClose(got.logSumExp, want.logSumExp, scale, RTOL);
      // A probability moves by at most about 2·p·δ for a logit error δ; compare with that scale.
      const probScale = want.probs.data.map((p, idx) => 2 * p * scale[Math.floor(idx / m)]!);
      expectClose(got.probs.data, want.probs.data, probScale, RTOL, 1e-7);
    });
  }

  it('rejects feature matrices of different widths', async () => {
    await expect(backend.softmax(randomMatrix(2, 3, 'x'), randomMatrix(4, 5, 'y'), 1)).rejects.toMatchObject({
      code: 'TENSOR_ERR_SHAPE',
    });
  });
});

describe('OrtLinalgBackend.groupLogSumExp', () => {
  async function expectMatchesReference(
    a: Matrix,
    b: Matrix,
    alpha: number,
    blocks: GroupBlock[],
  ): Promise<Matrix> {
    const got = await backend.groupLogSumExp(a, b, alpha, blocks);
    const want = await reference.groupLogSumExp(a, b, alpha, blocks);
    expect([got.rows, got.cols]).toEqual([want.rows, want.cols]);
    expect(got.data.every(Number.isFinite)).toBe(true);
    const scale = perColumn(await rowLogitScale(a, b, alpha), want.cols);
    expectClose(got.data, want.data, scale, RTOL);
    return got;
  }

  it('matches the TypeScript backend for a NegLabel layout [{1, K}, {G, S}] at alpha 100', async () => {
    const [k, g, s] = [40, 7, 6];
    const a = l2NormalizeRows(randomMatrix(11, 64, 'gl:a'));
    const b = l2NormalizeRows(randomMatrix(k + g * s, 64, 'gl:b'));
    await expectMatchesReference(a, b, 100, [
      { count: 1, size: k },
      { count: g, size: s },
    ]);
  });

  it('handles one block, empty blocks and many blocks, and feeds sizes instead of rebuilding', async () => {
    const a = l2NormalizeRows(randomMatrix(5, 20, 'gm:a'));
    const b = l2NormalizeRows(randomMatrix(24, 20, 'gm:b'));
    await expectMatchesReference(a, b, 10, [{ count: 4, size: 6 }]);
    await expectMatchesReference(a, b, 10, [
      { count: 2, size: 3 },
      { count: 0, size: 5 },
      { count: 1, size: 18 },
    ]);
    const sessions = backend.cachedSessions;
    // Another two-block layout (the empty block is dropped) must reuse the same graph.
    await expectMatchesReference(a, b, 10, [
      { count: 3, size: 4 },
      { count: 6, size: 2 },
    ]);
    expect(backend.cachedSessions).toBe(sessions);
    await expectMatchesReference(a, b, 10, [
      { count: 1, size: 1 },
      { count: 1, size: 5 },
      { count: 3, size: 2 },
      { count: 2, size: 6 },
    ]);
  });

  it('stays finite and exact for logits of about ±300 (no overflow or underflow)', async () => {
    // Row i of A is a unit vector; B's first block is close to +A[0], and group g of the second block is
    // close to −A[g]. With alpha 300 a naive exp would overflow (e^300) or underflow to log(0).
    const d = 8;
    const n = 3;
    const a = l2NormalizeRows(randomMatrix(n, d, 'big:a'));
    const noise = randomMatrix(4 + 2 * n, d, 'big:noise');
    const rows = new Float32Array((4 + 2 * n) * d);
    for (let j = 0; j < 4 + 2 * n; j++) {
      const [src, sign] = j < 4 ? [0, 1] : [Math.floor((j - 4) / 2), -1];
      for (let p = 0; p < d; p++) {
        rows[j * d + p] = sign * a.data[src * d + p]! + 0.01 * noise.data[j * d + p]!;
      }
    }
    const b = l2NormalizeRows(matrix(4 + 2 * n, d, rows));
    const blocks = [
      { count: 1, size: 4 },
      { count: n, size: 2 },
    ];
    const got = await expectMatchesReference(a, b, 300, blocks);
    expect(got.data[0]).toBeGreaterThan(295);
    for (let i = 0; i < n; i++) {
      expect(got.data[i * (n + 1) + 1 + i]).toBeLessThan(-295);
    }
  });

  it('rejects bad block layouts and mismatched widths with TENSOR_ERR_SHAPE', async () => {
    const a = randomMatrix(2, 4, 'bl:a');
    const b = randomMatrix(10, 4, 'bl:b');
    const layouts: GroupBlock[][] = [
      [{ count: 1, size: 9 }],
      [{ count: 2, size: 6 }],
      [
        { count: 1, size: 5 },
        { count: 1, size: 0 },
        { count: 1, size: 5 },
      ],
      [{ count: 2.5, size: 4 }],
      [{ count: -1, size: 10 }],
    ];
    for (const blocks of layouts) {
      await expect(backend.groupLogSumExp(a, b, 1, blocks)).rejects.toMatchObject({
        code: 'TENSOR_ERR_SHAPE',
      });
    }
    await expect(
      backend.groupLogSumExp(a, randomMatrix(10, 5, 'bl:c'), 1, [{ count: 1, size: 10 }]),
    ).rejects.toMatchObject({ code: 'TENSOR_ERR_SHAPE' });
  });
});

describe('OrtLinalgBackend lifecycle', () => {
  it('refuses work after dispose() with ONNX_ERR_DISPOSED, and dispose() is idempotent', async () => {
    const sut = await OrtLinalgBackend.create({ intraOpThreads: 1, graphOptimizationLevel: 'basic' });
    expect(sut.name).toBe('onnxruntime-cpu');
    const a = randomMatrix(2, 3, 'life');
    const pending = sut.gemm(a, a, { transB: true });
    await sut.dispose();
    // A run already in flight completes before its session is released.
    await expect(pending).resolves.toMatchObject({ rows: 2, cols: 2 });
    expect(sut.cachedSessions).toBe(0);
    await expect(sut.gemm(a, a, { transB: true })).rejects.toMatchObject({ code: 'ONNX_ERR_DISPOSED' });
    await sut.dispose();
  });

  it('rejects a bad config with ONNX_ERR_CONFIG', async () => {
    await expect(OrtLinalgBackend.create({ intraOpThreads: 0 })).rejects.toMatchObject({
      code: 'ONNX_ERR_CONFIG',
    });
  });
});
