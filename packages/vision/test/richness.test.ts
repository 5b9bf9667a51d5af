import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';

import { informationRichnessOf } from '../src';
import { raw, rgbImage } from './helpers';

const textured = rgbImage(40, 30, (x, y) => [(x * 13) % 256, (y * 29) % 256, (x * y) % 256]);

describe('informationRichnessOf', () => {
  it('is file bytes ÷ (width × height)', async () => {
    const jpeg = await raw(textured.data, 40, 30, 3).jpeg({ quality: 90 }).toBuffer();
    expect(await informationRichnessOf(jpeg, 'a.jpg')).toEqual({
      fileBytes: jpeg.length,
      width: 40,
      height: 30,
      richness: jpeg.length / 1200,
    });
  });

  it('uses the stored size (EXIF orientation does not change the pixel count) and reads only the header', async () => {
    const rotated = await raw(textured.data, 40, 30, 3).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const r = await informationRichnessOf(rotated, 'r.jpg');
    expect([r.width, r.height]).toEqual([40, 30]);
    // A truncated file still has its header: only decoding would notice.
    const cut = rotated.subarray(0, rotated.indexOf(Buffer.from([0xff, 0xda])) + 40); // into the scan data
    expect((await informationRichnessOf(cut, 'cut.jpg')).richness).toBe(cut.length / 1200);
  });

  it('fails unreadable bytes with VISION_ERR_DECODE naming the file', async () => {
    await expect(informationRichnessOf(new Uint8Array([7, 7, 7, 7]), 'junk.jpg')).rejects.toMatchObject({
      code: 'VISION_ERR_DECODE',
      message: expect.stringMatching(/junk\.jpg/) as unknown,
    });
    const svg = await sharp(
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'),
    ).metadata();
    expect(svg.format).toBe('svg');
    await expect(
      informationRichnessOf(
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'),
        'v.svg',
      ),
    ).rejects.toThrow(/v\.svg: format svg/);
  });
});
