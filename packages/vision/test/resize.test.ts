import { describe, expect, it } from '@jest/globals';

import { type ResizeKernel, resizeExact, resizeShortSide, shortSideSize, type RgbImage } from '../src';
import { rgbImage, solid } from './helpers';

/** A grey row: one pixel per value, R = G = B. */
const greyRow = (values: number[]): RgbImage =>
  rgbImage(values.length, 1, (x) => [values[x]!, values[x]!, values[x]!]);
/** The red channel of every pixel, row-major. */
const reds = (image: RgbImage): number[] => Array.from(image.data.filter((_, i) => i % 3 === 0));

/** The pattern of test/reference/*.py: pixel (x, y) channel c = (37x + 91y + 53c + 13xy) mod 256. */
const pattern = (w: number, h: number): RgbImage =>
  rgbImage(
    w,
    h,
    (x, y) => [0, 1, 2].map((c) => (37 * x + 91 * y + 53 * c + 13 * x * y) % 256) as [number, number, number],
  );
const hex = (image: RgbImage): string => Buffer.from(image.data).toString('hex');

const KERNELS: ResizeKernel[] = ['bilinear', 'bicubic'];
const MODES = KERNELS.flatMap((kernel) => [true, false].map((antialias) => ({ kernel, antialias })));

describe('shortSideSize / resizeShortSide', () => {
  it('sets the short side and truncates the long side like torchvision', () => {
    expect(shortSideSize(640, 480, 224)).toEqual({ width: 298, height: 224 }); // int(298.67)
    expect(shortSideSize(480, 640, 224)).toEqual({ width: 224, height: 298 });
    expect(shortSideSize(500, 500, 224)).toEqual({ width: 224, height: 224 });
    expect(shortSideSize(225, 1000, 224)).toEqual({ width: 224, height: 995 }); // int(995.56)
    expect(shortSideSize(100, 50, 232)).toEqual({ width: 464, height: 232 }); // upscaling
    expect(shortSideSize(375, 500, 232)).toEqual({ width: 232, height: 309 }); // int(309.33)
  });

  it('resizes landscape and portrait images to those sizes', () => {
    const landscape = resizeShortSide(solid(64, 48, [1, 2, 3]), 24, { kernel: 'bicubic', antialias: true });
    expect([landscape.width, landscape.height, landscape.data.length]).toEqual([32, 24, 32 * 24 * 3]);
    const portrait = resizeShortSide(solid(48, 64, [1, 2, 3]), 24, { kernel: 'bilinear', antialias: false });
    expect([portrait.width, portrait.height]).toEqual([24, 32]);
  });

  it('rejects bad sizes and kernels with VISION_ERR_BAD_ARGUMENT', () => {
    const img = solid(4, 4, [0, 0, 0]);
    expect(() => resizeShortSide(img, 0, { kernel: 'bilinear', antialias: true })).toThrow(
      /short side size must be a positive integer, got 0/,
    );
    expect(() => resizeExact(img, 2.5, 2, { kernel: 'bilinear', antialias: true })).toThrow(/resize width/);
    expect(() => resizeExact(img, 2, 2, { kernel: 'lanczos' as ResizeKernel, antialias: true })).toThrow(
      expect.objectContaining({ code: 'VISION_ERR_BAD_ARGUMENT' }),
    );
    expect(() => resizeExact({ width: 2, height: 2, data: new Uint8Array(11) }, 1, 1, MODES[0]!)).toThrow(
      /must hold 12 bytes, got 11/,
    );
  });
});

describe('resizeExact, antialias: false (torch F.interpolate, half-pixel centres)', () => {
  it('bilinear upsampling of [0, 255] to 4 samples 0, 63.75, 191.25, 255', () => {
    // u = (i + ½)/2 − ½ = −0.25 → 0 (clamped), 0.25, 0.75, 1.25 → index 1 repeated.
    const out = resizeExact(greyRow([0, 255]), 4, 1, { kernel: 'bilinear', antialias: false });
    expect(reds(out)).toEqual([0, 64, 191, 255]);
  });

  it('bilinear 2× downsampling averages pairs (no widening) and rounds half to even', () => {
    // u = 2i + ½: the mean of pixels 2i and 2i + 1: 50, 125, 127.5 → 128, 60; 2.5 → 2; 3.5 → 4.
    const out = resizeExact(greyRow([0, 100, 200, 50, 255, 0, 30, 90, 2, 3, 3, 4]), 6, 1, {
      kernel: 'bilinear',
      antialias: false,
    });
    expect(reds(out)).toEqual([50, 125, 128, 60, 2, 4]);
  });

  it('bilinear in 2D weighs the four neighbours by the product of the axis weights', () => {
    // [[0, 255], [255, 0]] to 4×4. Axis weights of the second sample: 0.75 on index 0, 0.25 on index 1.
    // (1, 1): 0.75·0.75·0 + 0.75·0.25·255 + 0.25·0.75·255 + 0.25·0.25·0 = 95.625 → 96.
    // (1, 0): row 0 only (u = −0.25 clamps to 0): 0.75·0 + 0.25·255 = 63.75 → 64.
    const img = rgbImage(2, 2, (x, y) => (x === y ? [0, 0, 0] : [255, 255, 255]));
    const out = resizeExact(img, 4, 4, { kernel: 'bilinear', antialias: false });
    expect(reds(out)).toEqual([0, 64, 191, 255, 64, 96, 159, 191, 191, 159, 96, 64, 255, 191, 64, 0]);
  });

  it("bicubic uses torch's a = −0.75 with edge-clamped taps", () => {
    // Keys' weights for t = 0.25: c2(1.25), c1(0.25), c1(0.75), c2(1.75) = −0.10546875, 0.87890625,
    // 0.26171875, −0.03515625. Taps for the 4 outputs (indices clamped to {0, 1}):
    //   i=0, u=−0.25: 0,0,0,1 with t = 0.75 → 255·(−0.10546875) < 0 → 0
    //   i=1, u=0.25: 0,0,1,1 → 255·(0.26171875 − 0.03515625) = 57.77 → 58
    //   i=2, u=0.75: 0,0,1,1 with t = 0.75 → 255·(0.87890625 − 0.10546875) = 197.23 → 197
    //   i=3, u=1.25: 0,1,1,1 → 255·1.10546875 = 281.9 → clamped 255
    const out = resizeExact(greyRow([0, 255]), 4, 1, { kernel: 'bicubic', antialias: false });
    expect(reds(out)).toEqual([0, 58, 197, 255]);
  });

  it('matches the numpy re-implementation of torch (test/reference/torch_resize_reference.py)', () => {
    const cases: [number, number, number, number, ResizeKernel, string][] = [
      [7, 5, 3, 2, 'bilinear', '6398cdd0467a7e9da85d929cd64a808e83b8'],
      [7, 5, 3, 2, 'bicubic', '549ff5e1356a77afb34690b9e63a6f909acc'],
      [
        9,
        4,
        4,
        6,
        'bilinear',
        '174c816a9fd4bed32811467b497eb3ab70958cb1766e73588ba5cad5506a7080b5c0a545cd7d628090c0c43e7392b7818f7479ab7095b86da264999e4076aaec405696ace04276ac',
      ],
      [
        5,
        4,
        9,
        7,
        'bicubic',
        '00285d003569154a7d2b5ea03e73c24f95d76ab8eb8eccffa5d8ff15498f235ea33b7fbc5ca3a17aaf7d9c8c89a071ae7b89cf5e9ee44d80c35e97e27abaff9eefa0bff42cf48030e01e65663d880e5d9f9bdf6db8b488da7babb08b8d7aae64998587af6797848a5e63a533aaf917d0a72ef83654a02d7a34699b438bd87fb1cfa2d65eb8ee0c48874b67766d9363998b887879ae4aa77f6fbe5e948e8a8168ad70002b7c1352a8408ed87cda7ab5ea05fe7515f417617a479d2173c4',
      ],
    ];
    for (const [w, h, ow, oh, kernel, expected] of cases) {
      expect(hex(resizeExact(pattern(w, h), ow, oh, { kernel, antialias: false }))).toBe(expected);
    }
  });
});

describe('resizeExact, antialias: true (Pillow Image.resize)', () => {
  it('bilinear upsampling agrees with half-pixel interpolation', () => {
    const out = resizeExact(greyRow([0, 255]), 4, 1, { kernel: 'bilinear', antialias: true });
    expect(reds(out)).toEqual([0, 64, 191, 255]);
  });

  it('bilinear 2× downsampling widens the triangle to 4 taps and renormalises at the edges', () => {
    // Centre c = 2i + 1, weights 1 − |j + ½ − c|/2 over j in [c − 2 + ½, c + 2 + ½) ∩ image:
    //   i=0: j=0,1,2 weights .75,.75,.25 (sum 1.75): (75 + 50)/1.75 = 71.43 → 71
    //   i=1: j=1..4 weights .25,.75,.75,.25 (sum 2): (25 + 150 + 37.5 + 63.75)/2 = 138.125 → 138
    //   i=2: j=3..6: (12.5 + 191.25 + 0 + 7.5)/2 = 105.625 → 106
    //   i=3: j=5,6,7 weights .25,.75,.75: (0 + 22.5 + 67.5)/1.75 = 51.43 → 51
    const out = resizeExact(greyRow([0, 100, 200, 50, 255, 0, 30, 90]), 4, 1, {
      kernel: 'bilinear',
      antialias: true,
    });
    expect(reds(out)).toEqual([71, 138, 106, 51]);
  });

  it("bicubic uses Pillow's a = −0.5 and drops out-of-image taps, renormalising", () => {
    // Upscale [0, 255] to 4: taps are the 2 pixels with weights k(j + ½ − c), c = (i + ½)/2,
    // k(0.25) = 0.8671875, k(0.75) = 0.2265625, k(1.25) = −0.0703125:
    //   i=0: 255·(−0.0703125)/0.796875 < 0 → 0;   i=1: 255·0.2265625/1.09375 = 52.82 → 53
    //   i=2: 255·0.8671875/1.09375 = 202.18 → 202; i=3: 255·0.8671875/0.796875 = 277.5 → 255
    const out = resizeExact(greyRow([0, 255]), 4, 1, { kernel: 'bicubic', antialias: true });
    expect(reds(out)).toEqual([0, 53, 202, 255]);
  });

  it('rounds half up (Pillow) where torch rounds half to even', () => {
    // [0, 2] widened to 4: weights (.75, .25) and (.25, .75) give exactly 0.5 and 1.5.
    const row = greyRow([0, 2]);
    expect(reds(resizeExact(row, 4, 1, { kernel: 'bilinear', antialias: true }))).toEqual([0, 1, 2, 2]);
    expect(reds(resizeExact(row, 4, 1, { kernel: 'bilinear', antialias: false }))).toEqual([0, 0, 2, 2]);
  });

  it('is byte-identical to Pillow 12.3 (test/reference/pillow_resize_reference.py)', () => {
    const cases: [number, number, number, number, ResizeKernel, string][] = [
      [7, 5, 3, 2, 'bilinear', '6e8a918d8a928d888e7a967a917b83896e97'],
      [7, 5, 3, 2, 'bicubic', '6c86918c909390878c7c9a7a907a7d896a9a'],
      [
        5,
        4,
        9,
        7,
        'bicubic',
        '002b6002376b194e822c609f4176bf5496d56ab3e78fcafea2d5ff1749892159993b7ab35696a073a886908d97997ab37b95d469a5e35085c26097db7fbbfc9ee6a0bef32ceb7f39e123635e4488135d9a94d56eabb485d17aa9ac8c8d7aaf649a8586af6998818e5e65a43dacf61ac9b12ef53657a1357a356a9b4b8bd07daed0a3d755b6eb0f417d535b75708a6ba08a907a80b541b07d66c5578c86868260a37a00317c15519e4790d27ccd7bb2e708f17422f31d6071519f2773be',
      ],
      [
        9,
        4,
        4,
        6,
        'bilinear',
        '1f54896a9fcdac9c673d3e735287a28b8b9a88978e806b698dafaaa37c6e6e8ba8b69b65ae886585938d98747686ab7f84826e94887e98728b708b91508587ab76678c76ab65679c',
      ],
      [
        9,
        4,
        4,
        6,
        'bicubic',
        '12477f65aae0bf9f5d2c33734986a68e8d99879a9480646493bcb6ac765b5c8bbac8a15ebb855e7c97939b6e7085b280837c69928d809d6a87698b9545858bb47b5e8d6fb063639e',
      ],
    ];
    for (const [w, h, ow, oh, kernel, expected] of cases) {
      expect(hex(resizeExact(pattern(w, h), ow, oh, { kernel, antialias: true }))).toBe(expected);
    }
  });
});

describe('resizeExact, every mode', () => {
  it('keeps a constant image constant, up, down and mixed', () => {
    const img = solid(13, 7, [17, 200, 255]);
    for (const mode of MODES) {
      for (const [w, h] of [
        [5, 3],
        [40, 11],
        [4, 20],
        [1, 1],
      ] as const) {
        const out = resizeExact(img, w, h, mode);
        expect([out.width, out.height]).toEqual([w, h]);
        for (let i = 0; i < out.data.length; i += 3) {
          expect([out.data[i], out.data[i + 1], out.data[i + 2]]).toEqual([17, 200, 255]);
        }
      }
    }
  });

  it('returns a copy when the size is unchanged', () => {
    const img = pattern(6, 4);
    for (const mode of MODES) {
      const out = resizeExact(img, 6, 4, mode);
      expect(out.data).not.toBe(img.data);
      expect(hex(out)).toBe(hex(img));
    }
  });
});
