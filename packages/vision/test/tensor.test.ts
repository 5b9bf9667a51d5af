import { describe, expect, it } from '@jest/globals';

import { toNchwFloat32 } from '../src';
import { rgbImage } from './helpers';

describe('toNchwFloat32', () => {
  it('lays out N, C, H, W with (x/255 − mean)/std', () => {
    // Channel values 0, 51, 102, 255 → x/255 = 0, 0.2, 0.4, 1.
    const a = rgbImage(2, 2, (x, y) => {
      const v = [0, 51, 102, 255][y * 2 + x]!;
      return [v, 255 - v, 51];
    });
    const b = rgbImage(2, 2, () => [255, 0, 102]);
    const t = toNchwFloat32([a, b], [0.5, 0, 1], [0.25, 0.5, 2]);
    expect(t.dims).toEqual([2, 3, 2, 2]);
    expect(t.data.length).toBe(24);
    const expected = [
      // image a, R plane: (0 − .5)/.25, (.2 − .5)/.25, (.4 − .5)/.25, (1 − .5)/.25
      -2, -1.2, -0.4, 2,
      // G plane: 255 − v → 1, .8, .6, 0, over 0.5
      2, 1.6, 1.2, 0,
      // B plane: (.2 − 1)/2
      -0.4, -0.4, -0.4, -0.4,
      // image b
      2, 2, 2, 2, 0, 0, 0, 0, -0.3, -0.3, -0.3, -0.3,
    ];
    Array.from(t.data).forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i]!, 6);
    });
  });

  it('rounds every step to float32 as torch does', () => {
    // numpy float32: (f32(128) / f32(255) − f32(0.48145466)) / f32(0.26862954) = 0.07633614540100098,
    // while the same in double is 0.07633607351494368: the float32 chain is what torch computes.
    const t = toNchwFloat32([rgbImage(1, 1, () => [128, 0, 0])], [0.48145466, 0, 0], [0.26862954, 1, 1]);
    expect(t.data[0]).toBe(0.07633614540100098);
  });

  it('rejects mixed sizes (VISION_ERR_SHAPE), empty batches and bad mean/std', () => {
    const small = rgbImage(2, 2, () => [0, 0, 0]);
    const wide = rgbImage(3, 2, () => [0, 0, 0]);
    expect(() => toNchwFloat32([small, small, wide], [0, 0, 0], [1, 1, 1])).toThrow(
      expect.objectContaining({
        code: 'VISION_ERR_SHAPE',
        message: expect.stringMatching(/^images\[2\] is 3×2 but images\[0\] is 2×2/) as unknown,
      }),
    );
    expect(() => toNchwFloat32([], [0, 0, 0], [1, 1, 1])).toThrow(/at least one image/);
    expect(() => toNchwFloat32([small], [0, 0, 0], [1, 0, 1])).toThrow(
      /std must be three finite numbers > 0/,
    );
    expect(() => toNchwFloat32([small], [0, Number.NaN, 0], [1, 1, 1])).toThrow(
      /mean must be three finite numbers/,
    );
  });
});
