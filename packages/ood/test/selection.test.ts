import { describe, expect, it } from '@jest/globals';
import { informationRichness, selectInD } from '../src';

const img = (id: string, className: string, fileBytes: number, width = 10, height = 10) => ({
  id,
  className,
  fileBytes,
  width,
  height,
});

describe('selectInD', () => {
  it('keeps the top k per class by bytes per pixel, ties by id', () => {
    const images = [
      img('a3', 'cat', 150),
      img('b1', 'dog', 500, 20, 10), // 2.5 B/px
      img('a1', 'cat', 300), // 3 B/px
      img('a2', 'cat', 150), // ties with a3 at 1.5
      img('b2', 'dog', 100), // 1 B/px
      img('a4', 'cat', 50),
    ];
    const picked = selectInD(images, 2);
    expect(picked.map((p) => [p.id, p.rank])).toEqual([
      ['a1', 1],
      ['a2', 2],
      ['b1', 1],
      ['b2', 2],
    ]);
    expect(picked[2]!.richness).toBe(2.5);
  });

  it('rejects images without pixels and bad k', () => {
    expect(() => informationRichness(img('x', 'c', 10, 0, 5))).toThrow(/invalid dimensions 0×5/);
    expect(() => selectInD([], 0)).toThrow(/perClass must be a positive integer/);
  });
});
