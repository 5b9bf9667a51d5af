import { describe, expect, it } from '@jest/globals';

import { centerCrop, centerCropOffsets } from '../src';
import { pixel, rgbImage } from './helpers';

describe('centerCropOffsets', () => {
  it("rounds (W − w)/2 half to even, as torchvision's int(round(x / 2.0)) in Python 3", () => {
    // Differences 0…8 → halves 0, .5, 1, 1.5, 2, 2.5, 3, 3.5, 4 → 0, 0, 1, 2, 2, 2, 3, 4, 4.
    const lefts = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((d) => centerCropOffsets(224 + d, 224, 224, 224).left);
    expect(lefts).toEqual([0, 0, 1, 2, 2, 2, 3, 4, 4]);
    expect(centerCropOffsets(298, 224, 224, 224)).toEqual({ left: 37, top: 0 }); // 74/2
    expect(centerCropOffsets(232, 309, 224, 224)).toEqual({ left: 4, top: 42 }); // 85/2 = 42.5 → 42
  });
});

describe('centerCrop', () => {
  it('cuts the centred block', () => {
    // Pixel value encodes its position: (x, y, x + y).
    const img = rgbImage(9, 6, (x, y) => [x, y, x + y]);
    const out = centerCrop(img, 4, 3); // left round(2.5) = 2, top round(1.5) = 2
    expect([out.width, out.height]).toEqual([4, 3]);
    expect(pixel(out, 0, 0)).toEqual([2, 2, 4]);
    expect(pixel(out, 3, 2)).toEqual([5, 4, 9]);
    const odd = centerCrop(img, 8, 5); // left round(0.5) = 0, top round(0.5) = 0
    expect(pixel(odd, 0, 0)).toEqual([0, 0, 0]);
    expect(pixel(odd, 7, 4)).toEqual([7, 4, 11]);
    expect(Array.from(centerCrop(img, 9, 6).data)).toEqual(Array.from(img.data));
  });

  it('rejects a crop larger than the image', () => {
    const img = rgbImage(4, 4, () => [0, 0, 0]);
    expect(() => centerCrop(img, 5, 4)).toThrow(
      expect.objectContaining({
        code: 'VISION_ERR_BAD_ARGUMENT',
        message: expect.stringMatching(/crop 5×4 is larger than the 4×4 image/) as unknown,
      }),
    );
  });
});
