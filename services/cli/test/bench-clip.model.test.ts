import { describe, expect, it } from '@jest/globals';

import {
  FULL_CLIP_SIZES,
  QUICK_CLIP_SIZES,
  VIT_B16_TEXT,
  VIT_B16_VISION,
  formatClipBench,
  runClipBench,
  textFlops,
  transformerLayerFlops,
  visionFlops,
} from '../src/bench/clip';

describe('bench clip FLOP counts', () => {
  it('match the published ViT-B/16 figures (open_clip profile: 35.13 GF image, 5.96 GF text)', () => {
    expect(Math.abs(visionFlops(VIT_B16_VISION) / 35.13e9 - 1)).toBeLessThan(0.005);
    expect(Math.abs(textFlops(VIT_B16_TEXT, 77) / 5.96e9 - 1)).toBeLessThan(0.005);
  });

  it('counts one layer by hand: n = 2 tokens, d = 1, mlp = 4', () => {
    // QKV 2·2·1·3 = 12, scores and weighted sum 2·(2·2·1)·2 = 16, output 2·2·1·1 = 4, MLP 2·(2·2·1·4) = 32.
    expect(transformerLayerFlops(2, 1, 4)).toBe(12 + 16 + 4 + 32);
  });

  it('uses the ViT-B/16 towers at full size', () => {
    expect(FULL_CLIP_SIZES.vision).toBe(VIT_B16_VISION);
    expect(FULL_CLIP_SIZES.text).toBe(VIT_B16_TEXT);
  });
});

describe('bench clip (quick sizes)', () => {
  it('measures the peak and every row, and formats the table', async () => {
    const report = await runClipBench(QUICK_CLIP_SIZES);
    expect(report.peak[1]).toBeGreaterThan(0);
    expect(report.peak[2]).toBeGreaterThan(0);
    expect(report.rows.map((r) => r.threads)).toEqual([2, 1, 2, 2, 2]);
    for (const row of report.rows) {
      expect(row.seconds).toBeGreaterThan(0);
      if (row.flops > 0) {
        expect(row.gflops).toBeCloseTo(row.flops / row.seconds / 1e9, 6);
        expect(row.shareOfPeak).toBeCloseTo(row.gflops / report.peak[row.threads]!, 6);
      } else {
        expect(row.shareOfPeak).toBeNull();
      }
    }
    const table = formatClipBench(report);
    expect(table).toContain('Measured fp32 GEMM peak');
    expect(table.split('\n').filter((l) => l.startsWith('| '))).toHaveLength(6);
  });
});
