import { describe, expect, it } from '@jest/globals';

import {
  SD2_RECIPE,
  SYNTH_QUICK_SIZES,
  formatSynthBench,
  recipeTotals,
  runSynthBench,
} from '../src/bench/synth';

describe('bench synth (quick sizes)', () => {
  it('totals the real recipe as perf-anchors §3 does (≈ 85 TFLOP with input gradients only)', () => {
    const { reference, ours } = recipeTotals();
    // 3·12·1.78 + 3·2·2.54 + 4·1.13 + 6·0.0471 + 3·0.0164, worked out by hand.
    expect(reference).toBeCloseTo(64.08 + 15.24 + 4.52 + 0.2826 + 0.0492, 6);
    expect(Math.round(reference)).toBe(84);
    // 3·13·1.78 + (2·5.08 + 2.54) + 1.13 + 0.0471 + 2·0.0164.
    expect(ours).toBeCloseTo(69.42 + 12.7 + 1.13 + 0.0471 + 0.0328, 6);
    expect(SD2_RECIPE).toHaveLength(5);
  });

  it('times the whole guided synthesis and counts its FLOPs', async () => {
    const report = await runSynthBench({ ...SYNTH_QUICK_SIZES, threads: 1 });
    expect(report.secondsPerImage).toBeGreaterThan(0);
    expect(report.flopsPerImage).toBeGreaterThan(0);
    expect(report.gflops).toBeCloseTo(report.flopsPerImage / report.secondsPerImage / 1e9, 6);
    expect(report.unetCallsPerPass).toBe(13);
    const table = formatSynthBench(report);
    expect(table).toContain('| guided synthesis, 32², CPU |');
    expect(table).toContain('| **total** |');
  });
});
