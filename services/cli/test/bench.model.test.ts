import { describe, expect, it } from '@jest/globals';
import { QUICK_SIZES, formatOodBench, runOodBench } from '../src/bench/ood';

describe('bench ood (quick sizes)', () => {
  it('measures the peak and every row, and formats the table', async () => {
    const report = await runOodBench(QUICK_SIZES);
    expect(report.peak[1]).toBeGreaterThan(0);
    expect(report.peak[2]).toBeGreaterThan(0);
    expect(report.rows.map((r) => r.threads)).toEqual([1, 2, 1, 2, 2]);
    for (const row of report.rows) {
      expect(row.seconds).toBeGreaterThan(0);
      expect(row.gflops).toBeCloseTo(row.flops / row.seconds / 1e9, 6);
    }
    const table = formatOodBench(report);
    expect(table).toContain('Measured fp32 GEMM peak');
    expect(table.split('\n').filter((l) => l.startsWith('| '))).toHaveLength(6);
  });
});
