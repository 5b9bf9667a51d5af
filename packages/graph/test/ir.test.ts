import { describe, expect, it } from '@jest/globals';

import {
  type Graph,
  type Node,
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  halfBitsToNumber,
  makeTensor,
  numberToBfloat16Bits,
  numberToHalfBits,
  renameValues,
  tensorToNumbers,
  topologicalSort,
} from '../src';

import { expectGraphError } from './helpers';

describe('float16 and bfloat16 conversions', () => {
  it('encodes IEEE binary16 patterns derived by hand, rounding halves to even', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff], // largest finite
      [65519, 0x7bff],
      [65520, 0x7c00], // halfway to 2^16 rounds up to infinity
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway between 0 and 2^-24: to even (0)
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 units: to even (2)
      [0.1, 0x2e66],
      [2049, 0x6800], // halfway between 2048 and 2050: to even mantissa (2048)
      [2051, 0x6802], // halfway between 2050 and 2052: to 2052
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-1e9, 0xfc00],
    ];
    expect(cases.map(([v]) => numberToHalfBits(v))).toEqual(cases.map(([, bits]) => bits));
    expect(numberToHalfBits(Number.NaN)).toBe(0x7e00);
    expect(Array.from(float16ToFloat32(Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7c00)))).toEqual([
      1,
      -2,
      2 ** -24,
      Infinity,
    ]);
    expect(Number.isNaN(halfBitsToNumber(0x7e01))).toBe(true);
  });

  it('round-trips every non-NaN binary16 pattern exactly', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i).filter(
      (h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0,
    );
    expect(float32ToFloat16(float16ToFloat32(bits))).toEqual(bits);
  });

  it('encodes bfloat16 as the rounded top half of float32, round half to even', () => {
    expect(numberToBfloat16Bits(1)).toBe(0x3f80);
    expect(numberToBfloat16Bits(Math.PI)).toBe(0x4049); // 0x40490fdb: lower half below the midpoint
    expect(numberToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // exact tie, even mantissa kept
    expect(numberToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // exact tie, rounds to even
    expect(numberToBfloat16Bits(Number.NaN)).toBe(0x7fc0);
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i).filter(
      (h) => (h & 0x7f80) !== 0x7f80 || (h & 0x7f) === 0,
    );
    expect(float32ToBfloat16(bfloat16ToFloat32(bits))).toEqual(bits);
  });
});

describe('makeTensor', () => {
  it('converts values per dtype and checks the element count', () => {
    expect(makeTensor('int8', [3], [127, 128, -129]).data).toEqual(Int8Array.of(127, -128, 127));
    expect(makeTensor('bool', [3], [0, 2, -1]).data).toEqual(Uint8Array.of(0, 1, 1));
    expect(tensorToNumbers(makeTensor('float16', [2], [0.5, -3]))).toEqual([0.5, -3]);
    expect(makeTensor('int64', [2], [-(2n ** 63n), 5]).data).toEqual(BigInt64Array.of(-(2n ** 63n), 5n));
    expectGraphError(
      () => makeTensor('float32', [2, 2], [1, 2, 3]),
      'GRAPH_ERR_ARGUMENT',
      '[2, 2] need 4 values',
    );
    expectGraphError(() => makeTensor('float32', [-1], []), 'GRAPH_ERR_ARGUMENT');
  });
});

describe('graph traversal', () => {
  const node = (name: string, inputs: string[], outputs: string[]): Node => ({
    name,
    opType: 'Op',
    domain: '',
    inputs,
    outputs,
    attributes: {},
  });
  const graph = (nodes: Node[]): Graph => ({
    name: 'g',
    nodes,
    inputs: [{ name: 'x', dtype: 'float32', dims: [1] }],
    outputs: [],
    initializers: new Map([['w', makeTensor('float32', [1], [1])]]),
    valueInfo: [],
  });

  it('sorts nodes topologically, keeping an already valid order', () => {
    const a = node('a', ['x', 'w'], ['ya']);
    const b = node('b', ['ya', ''], ['yb']);
    const c = node('c', ['yb', 'ya'], ['yc']);
    expect(topologicalSort(graph([c, b, a])).map((n) => n.name)).toEqual(['a', 'b', 'c']);
    const d = node('d', ['x'], ['yd']);
    expect(topologicalSort(graph([a, d, b, c])).map((n) => n.name)).toEqual(['a', 'd', 'b', 'c']);
  });

  it('reports undefined values and cycles naming the node', () => {
    expectGraphError(
      () => topologicalSort(graph([node('a', ['ghost'], ['y'])])),
      'GRAPH_ERR_NAME',
      /node a .*ghost/,
    );
    expectGraphError(
      () => topologicalSort(graph([node('p', ['q_out'], ['p_out']), node('q', ['p_out'], ['q_out'])])),
      'GRAPH_ERR_NAME',
      'cycle',
    );
  });

  it('renames values everywhere except absent inputs', () => {
    const g = renameValues(
      graph([node('a', ['x', '', 'w'], ['y'])]),
      (n) => `p/${n}`,
      (n) => `n/${n}`,
    );
    expect(g.nodes[0]).toMatchObject({ name: 'n/a', inputs: ['p/x', '', 'p/w'], outputs: ['p/y'] });
    expect([...g.initializers.keys()]).toEqual(['p/w']);
    expect(g.inputs[0]!.name).toBe('p/x');
  });
});
