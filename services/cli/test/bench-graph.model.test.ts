import { describe, expect, it } from '@jest/globals';
import { GRAPH_QUICK_SIZES, formatGraphBench, runGraphBench } from '../src/bench/graph';

describe('bench graph (quick sizes)', () => {
  it('times forward and gradient models and counts their FLOPs from the graphs', async () => {
    const report = await runGraphBench({ ...GRAPH_QUICK_SIZES, repeats: 1 });
    expect(report.peak).toBeGreaterThan(0);
    expect(report.rows.map((r) => r.ratioToForward === undefined)).toEqual([true, false, false, true, false]);
    for (const row of report.rows) {
      expect(row.imagesPerSecond).toBeCloseTo(row.images / row.seconds, 6);
      expect(row.gflops).toBeCloseTo((row.flopsPerImage * row.images) / row.seconds / 1e9, 6);
    }
    // Input gradients only: the backward pass adds about one forward's matrix products, not two.
    const [fwd, grad] = report.rows;
    expect(grad!.flopsPerImage / fwd!.flopsPerImage).toBeGreaterThan(1.5);
    expect(grad!.flopsPerImage / fwd!.flopsPerImage).toBeLessThan(2.5);
    expect(
      formatGraphBench(report)
        .split('\n')
        .filter((l) => l.startsWith('| ')),
    ).toHaveLength(6);
  });
});
