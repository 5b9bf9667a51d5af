/**
 * @file What every benchmark suite shares: the hardware line, the measured fp32 GEMM peak that each
 * figure is set beside, and a monotonic timer.
 */
import { cpus } from 'node:os';
import { OrtLinalgBackend } from '@synood/onnx';
import { Rng, randomNormalMatrix } from '@synood/tensor';

/** The machine a report was measured on. */
export interface Hardware {
  cpu: string;
  cores: number;
  node: string;
  date: string;
}

/** The CPU model, core count, Node version and date of this run. */
export function hardwareInfo(): Hardware {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown CPU',
    cores: list.length,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Seconds an async call takes, with its value. */
export async function timed<T>(f: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await f();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

/**
 * Best GFLOP/s of square fp32 GEMMs of each size in `sizes` (best of `repeats` runs each) through
 * onnxruntime on `threads` intra-op threads: the practical peak that achieved rates are divided by.
 * Several sizes, because the best blocking differs between them and a single size can understate the
 * machine (onnxruntime's NCHWc convolutions can run closer to the FMA limit than its SGEMM does).
 */
export async function measureGemmPeak(
  threads: number,
  sizes: number | readonly number[] = [1024, 2048, 3072],
  repeats = 3,
): Promise<number> {
  const backend = await OrtLinalgBackend.create({ executionProvider: 'cpu', intraOpThreads: threads });
  try {
    let bestRate = 0;
    for (const n of typeof sizes === 'number' ? [sizes] : sizes) {
      const rng = new Rng('bench-peak');
      const a = randomNormalMatrix(rng, n, n);
      const b = randomNormalMatrix(rng, n, n);
      await backend.gemm(a, b); // warm-up: session creation, page faults
      for (let r = 0; r < repeats; r++) {
        const seconds = (await timed(() => backend.gemm(a, b))).seconds;
        bestRate = Math.max(bestRate, (2 * n ** 3) / seconds / 1e9);
      }
    }
    return bestRate;
  } finally {
    await backend.dispose();
  }
}
