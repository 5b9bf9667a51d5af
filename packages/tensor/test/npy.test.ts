import { describe, expect, it } from '@jest/globals';

import {
  decodeNpy,
  encodeNpy,
  matrix,
  matrixToNpy,
  NpyError,
  type NpyArray,
  type NpyErrorCode,
  npyToMatrix,
} from '../src';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

function ascii(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * A `.npy` file written from the format spec: magic, version, little-endian header length (uint16 for
 * 1.0, uint32 otherwise), the header padded with spaces and a final newline to a multiple of 64 bytes.
 */
function npyFile(major: number, header: string, data: number[], headerBytes = ascii(header)): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const unpadded = prefix + headerBytes.length + 1;
  const padded = Math.ceil(unpadded / 64) * 64;
  const len = padded - prefix;
  const lenBytes = major === 1 ? [len & 0xff, len >> 8] : [len & 0xff, (len >> 8) & 0xff, len >> 16, 0];
  return Uint8Array.from([
    ...MAGIC,
    major,
    0,
    ...lenBytes,
    ...headerBytes,
    ...new Array<number>(padded - unpadded).fill(0x20),
    0x0a,
    ...data,
  ]);
}

function expectNpyError(f: () => unknown, code: NpyErrorCode, message?: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NpyError);
    expect((e as NpyError).code).toBe(code);
    if (message !== undefined) {
      expect((e as NpyError).message).toMatch(message);
    }
    return;
  }
  throw new Error(`expected NpyError ${code}`);
}

/** The bytes numpy ≥ 1.23 writes for `np.save(f, np.arange(1, 7, dtype='<f4').reshape(2, 3))`. */
const NUMPY_2X3_F4 = Uint8Array.from([
  ...MAGIC,
  0x01,
  0x00,
  // Header length 118 = 0x76: data starts at 10 + 118 = 128.
  0x76,
  0x00,
  ...ascii("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"),
  // 20 spare spaces for the first axis to grow (21 − 1 digit), then 38 alignment spaces: 59 + 58 + 1 = 118.
  ...new Array<number>(58).fill(0x20),
  0x0a,
  // 1, 2, 3, 4, 5, 6 as little-endian IEEE single.
  ...[0x00, 0x00, 0x80, 0x3f],
  ...[0x00, 0x00, 0x00, 0x40],
  ...[0x00, 0x00, 0x40, 0x40],
  ...[0x00, 0x00, 0x80, 0x40],
  ...[0x00, 0x00, 0xa0, 0x40],
  ...[0x00, 0x00, 0xc0, 0x40],
]);

describe('encodeNpy', () => {
  it('writes the exact bytes np.save writes for a 2×3 float32 array', () => {
    const bytes = encodeNpy({ dtype: 'float32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
    expect(Array.from(bytes)).toEqual(Array.from(NUMPY_2X3_F4));
  });

  it('writes 1-D shapes as (n,) and scalars as (), always aligning the data to 64 bytes', () => {
    const vec = encodeNpy({ dtype: 'int32', shape: [3], data: Int32Array.of(1, -1, 7) });
    // 57 header characters + 20 spare + newline + 10 prefix bytes = 88, padded to 128.
    expect(String.fromCharCode(...vec.subarray(10, 10 + 57 + 20))).toBe(
      "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }" + ' '.repeat(20),
    );
    expect(vec.length).toBe(128 + 12);
    expect(vec[127]).toBe(0x0a);
    expect(Array.from(vec.subarray(128))).toEqual([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0]);
    // A scalar gets no spare growth room: 55 characters + newline + 10 = 66, padded to 128.
    const scalar = encodeNpy({ dtype: 'float64', shape: [], data: Float64Array.of(0.5) });
    expect(String.fromCharCode(...scalar.subarray(10, 127))).toBe(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" + ' '.repeat(62),
    );
    // 0.5 = 0x3FE0000000000000.
    expect(Array.from(scalar.subarray(128))).toEqual([0, 0, 0, 0, 0, 0, 0xe0, 0x3f]);
  });

  it('uses | for one-byte types and writes big-endian when asked', () => {
    const u8 = encodeNpy({ dtype: 'uint8', shape: [2], data: Uint8Array.of(3, 250) }, { byteOrder: 'big' });
    expect(String.fromCharCode(...u8.subarray(10, 25))).toBe("{'descr': '|u1'");
    const f4 = encodeNpy({ dtype: 'float32', shape: [1], data: Float32Array.of(1) }, { byteOrder: 'big' });
    expect(String.fromCharCode(...f4.subarray(10, 25))).toBe("{'descr': '>f4'");
    expect(Array.from(f4.subarray(128))).toEqual([0x3f, 0x80, 0x00, 0x00]);
    const b = encodeNpy({ dtype: 'bool', shape: [3], data: Uint8Array.of(1, 0, 1) });
    expect(String.fromCharCode(...b.subarray(10, 25))).toBe("{'descr': '|b1'");
  });

  it('switches to format 2.0 when the header does not fit in 65,535 bytes', () => {
    const shape = new Array<number>(30000).fill(1);
    const bytes = encodeNpy({ dtype: 'int8', shape, data: Int8Array.of(-5) });
    expect([bytes[6], bytes[7]]).toEqual([2, 0]);
    const len = new DataView(bytes.buffer).getUint32(8, true);
    expect((12 + len) % 64).toBe(0);
    expect(bytes[12 + len - 1]).toBe(0x0a);
    expect(bytes.length).toBe(12 + len + 1);
    const back = decodeNpy(bytes);
    expect(back.shape).toHaveLength(30000);
    expect(Array.from(back.data as Int8Array)).toEqual([-5]);
  });

  it('round-trips every dtype in both byte orders', () => {
    const arrays: NpyArray[] = [
      { dtype: 'float32', shape: [2, 2], data: Float32Array.of(1.5, -0, Infinity, 3e-39) },
      { dtype: 'float64', shape: [3], data: Float64Array.of(Math.PI, -1e300, Number.MIN_VALUE) },
      { dtype: 'float16', shape: [2], data: Uint16Array.of(0x3c00, 0xc000) },
      { dtype: 'int8', shape: [2], data: Int8Array.of(-128, 127) },
      { dtype: 'uint8', shape: [2], data: Uint8Array.of(0, 255) },
      { dtype: 'int16', shape: [2], data: Int16Array.of(-32768, 258) },
      { dtype: 'uint16', shape: [1, 1], data: Uint16Array.of(65535) },
      { dtype: 'int32', shape: [2], data: Int32Array.of(-2147483648, 16909060) },
      { dtype: 'uint32', shape: [1], data: Uint32Array.of(4294967295) },
      { dtype: 'int64', shape: [2], data: BigInt64Array.of(-1n, 2n ** 40n + 3n) },
      { dtype: 'uint64', shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
      { dtype: 'bool', shape: [3], data: Uint8Array.of(0, 1, 1) },
      { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
    ];
    for (const a of arrays) {
      for (const byteOrder of ['little', 'big'] as const) {
        const back = decodeNpy(encodeNpy(a, { byteOrder }));
        expect(back.dtype).toBe(a.dtype);
        expect(back.shape).toEqual(a.shape);
        expect(back.data.constructor.name).toBe(a.data.constructor.name);
        expect(Array.from(back.data as ArrayLike<number | bigint>)).toEqual(
          Array.from(a.data as ArrayLike<number | bigint>),
        );
      }
    }
  });

  it('encodes a view of a larger buffer from its own offset', () => {
    const backing = Float32Array.of(9, 9, 1, 2, 9);
    const bytes = encodeNpy({ dtype: 'float32', shape: [2], data: backing.subarray(2, 4) });
    expect(Array.from(bytes.subarray(128))).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  });

  it('rejects inconsistent arrays', () => {
    expectNpyError(
      () => encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array(5) }),
      'TENSOR_ERR_NPY_ARGUMENT',
      /\(2, 3\) needs 6 values, data has 5/,
    );
    expectNpyError(
      () => encodeNpy({ dtype: 'float32', shape: [2], data: new Float64Array(2) } as unknown as NpyArray),
      'TENSOR_ERR_NPY_ARGUMENT',
      /needs a Float32Array, got a Float64Array/,
    );
    expectNpyError(
      () => encodeNpy({ dtype: 'bool', shape: [1], data: Uint8Array.of(2) }),
      'TENSOR_ERR_NPY_ARGUMENT',
    );
    expectNpyError(
      () => encodeNpy({ dtype: 'int8', shape: [-1], data: new Int8Array(0) }),
      'TENSOR_ERR_NPY_ARGUMENT',
    );
  });
});

describe('decodeNpy', () => {
  it('reads the bytes np.save writes for a 2×3 float32 array', () => {
    const a = decodeNpy(NUMPY_2X3_F4);
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual([2, 3]);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads big-endian int16 and converts to host order', () => {
    const bytes = npyFile(
      1,
      "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }",
      [0x00, 0x01, 0xff, 0xfe, 0x01, 0x02],
    );
    const a = decodeNpy(bytes);
    expect(a.dtype).toBe('int16');
    expect(Array.from(a.data as Int16Array)).toEqual([1, -2, 258]);
  });

  it('reads little-endian int64 into a BigInt64Array and float64 into a Float64Array', () => {
    const i8 = decodeNpy(
      npyFile(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", [
        ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ...[0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00], // 2^40 + 3
      ]),
    );
    expect(i8.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(i8.data as BigInt64Array)).toEqual([-1n, 2n ** 40n + 3n]);
    const f8 = decodeNpy(
      npyFile(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", [
        0xc0,
        0x00,
        0,
        0,
        0,
        0,
        0,
        0, // -2.0 = 0xC000000000000000
      ]),
    );
    expect(Array.from(f8.data as Float64Array)).toEqual([-2]);
  });

  it('keeps float16 as raw half bits and reads | one-byte types', () => {
    const h = decodeNpy(
      npyFile(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", [0x00, 0x3c, 0x00, 0xc0]),
    );
    expect(h.dtype).toBe('float16');
    expect(Array.from(h.data as Uint16Array)).toEqual([0x3c00, 0xc000]); // 1.0, -2.0
    const u1 = decodeNpy(npyFile(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", [7, 200]));
    expect(Array.from(u1.data as Uint8Array)).toEqual([7, 200]);
    const i1 = decodeNpy(npyFile(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (1,), }", [0xff]));
    expect(Array.from(i1.data as Int8Array)).toEqual([-1]);
    const b1 = decodeNpy(npyFile(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [1, 0, 2]));
    expect(b1.dtype).toBe('bool');
    expect(Array.from(b1.data as Uint8Array)).toEqual([1, 0, 1]);
    const u4 = decodeNpy(
      npyFile(1, "{'descr': '>u4', 'fortran_order': False, 'shape': (1,), }", [0xff, 0, 0, 1]),
    );
    expect(Array.from(u4.data as Uint32Array)).toEqual([0xff000001]);
  });

  it('reads format 2.0 (uint32 header length) and 3.0 (UTF-8 header)', () => {
    const v2 = decodeNpy(
      npyFile(2, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", [5, 0, 0, 0]),
    );
    expect(Array.from(v2.data as Int32Array)).toEqual([5]);
    // A UTF-8 header needs 3.0; a non-ASCII character in a (tolerated) extra key proves the decoding.
    const header = "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), 'note': 'é', }";
    const v3 = decodeNpy(npyFile(3, header, [0x34, 0x12], Array.from(new TextEncoder().encode(header))));
    expect(Array.from(v3.data as Uint16Array)).toEqual([0x1234]);
  });

  it('accepts keys in any order, double quotes, Python 2 longs, scalars and empty arrays', () => {
    const a = decodeNpy(
      npyFile(1, '{"shape": (2L, 1L), "fortran_order": False, "descr": "<i2"}', [1, 0, 2, 0]),
    );
    expect(a.shape).toEqual([2, 1]);
    expect(Array.from(a.data as Int16Array)).toEqual([1, 2]);
    const s = decodeNpy(
      npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", [0, 0, 0x80, 0xbf]),
    );
    expect(s.shape).toEqual([]);
    expect(Array.from(s.data as Float32Array)).toEqual([-1]);
    const e = decodeNpy(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", []));
    expect(e.shape).toEqual([0, 3]);
    expect(e.data.length).toBe(0);
  });

  it('accepts fortran_order True when at most one dim exceeds 1 (same bytes as C order)', () => {
    const a = decodeNpy(
      npyFile(1, "{'descr': '<u2', 'fortran_order': True, 'shape': (1, 2), }", [1, 0, 2, 0]),
    );
    expect(Array.from(a.data as Uint16Array)).toEqual([1, 2]);
  });

  it('reorders column-major (Fortran-order) data to row-major', () => {
    // np.save(f, np.asfortranarray([[1, 2, 3], [4, 5, 6]], dtype='<i4')) stores the columns one after
    // another: 1, 4, 2, 5, 3, 6.
    const i4 = (values: number[]): number[] => values.flatMap((v) => [v & 0xff, 0, 0, 0]);
    const m = decodeNpy(
      npyFile(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", i4([1, 4, 2, 5, 3, 6])),
    );
    expect(m.shape).toEqual([2, 3]);
    expect(Array.from(m.data as Int32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    // a[i, j, k] = 100i + 10j + k for shape (2, 3, 2); column-major order runs i fastest, then j, then k.
    const fortranOrder: number[] = [];
    for (let k = 0; k < 2; k++) {
      for (let j = 0; j < 3; j++) {
        for (let i = 0; i < 2; i++) {
          fortranOrder.push(100 * i + 10 * j + k);
        }
      }
    }
    const u2 = fortranOrder.flatMap((v) => [v & 0xff, v >> 8]);
    const t = decodeNpy(npyFile(1, "{'descr': '<u2', 'fortran_order': True, 'shape': (2, 3, 2), }", u2));
    expect(Array.from(t.data as Uint16Array)).toEqual([0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121]);
  });

  it('reads a Node Buffer carved from a shared pool', () => {
    // Small Buffers share one pooled ArrayBuffer, so the data must be read from the Buffer's own offset.
    Buffer.from('occupy the start of the pool');
    const pooled = Buffer.from(NUMPY_2X3_F4);
    expect(pooled.byteOffset).toBeGreaterThan(0);
    expect(Array.from(decodeNpy(pooled).data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('does not alias the input bytes and aligns data read from an odd offset', () => {
    const backing = new Uint8Array(NUMPY_2X3_F4.length + 1);
    backing.set(NUMPY_2X3_F4, 1);
    const a = decodeNpy(backing.subarray(1));
    backing.fill(0);
    expect(Array.from(a.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('fails with a coded error for malformed files', () => {
    expectNpyError(() => decodeNpy(Uint8Array.from(ascii('PK\x03\x04 not npy'))), 'TENSOR_ERR_NPY_MAGIC');
    const v4 = NUMPY_2X3_F4.slice();
    v4[6] = 4;
    expectNpyError(() => decodeNpy(v4), 'TENSOR_ERR_NPY_VERSION', /4\.0/);
    expectNpyError(() => decodeNpy(NUMPY_2X3_F4.subarray(0, 60)), 'TENSOR_ERR_NPY_MAGIC', /truncated/);
    expectNpyError(
      () => decodeNpy(NUMPY_2X3_F4.subarray(0, 127 + 20)),
      'TENSOR_ERR_NPY_SIZE',
      /19 bytes, but shape \(2, 3\) of <f4 needs 24 \(truncated file\)/,
    );
    expectNpyError(
      () => decodeNpy(Uint8Array.from([...NUMPY_2X3_F4, 0])),
      'TENSOR_ERR_NPY_SIZE',
      /trailing bytes/,
    );
    expectNpyError(
      () =>
        decodeNpy(
          npyFile(
            1,
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
            new Array<number>(8).fill(0),
          ),
        ),
      'TENSOR_ERR_NPY_DTYPE',
      /'<c8' is not supported/,
    );
    expectNpyError(
      () =>
        decodeNpy(
          npyFile(
            1,
            "{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }",
            new Array<number>(20).fill(0),
          ),
        ),
      'TENSOR_ERR_NPY_DTYPE',
    );
    expectNpyError(
      () =>
        decodeNpy(
          npyFile(1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0]),
        ),
      'TENSOR_ERR_NPY_HEADER',
      /structured/,
    );
    expectNpyError(
      () => decodeNpy(npyFile(1, "{'descr': '<i4', 'shape': (1,), }", [0, 0, 0, 0])),
      'TENSOR_ERR_NPY_HEADER',
      /fortran_order/,
    );
    expectNpyError(
      () => decodeNpy(npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (-1,), }", [])),
      'TENSOR_ERR_NPY_HEADER',
    );
  });
});

describe('matrix ↔ npy', () => {
  it('shares storage one way and converts float64 the other', () => {
    const m = matrix(2, 2, [1, 2, 3, 4]);
    const a = matrixToNpy(m);
    expect(a.shape).toEqual([2, 2]);
    expect(a.data).toBe(m.data);
    const back = npyToMatrix(
      decodeNpy(encodeNpy({ dtype: 'float64', shape: [1, 2], data: Float64Array.of(0.1, 2) })),
    );
    expect([back.rows, back.cols]).toEqual([1, 2]);
    expect(Array.from(back.data)).toEqual([Math.fround(0.1), 2]);
    expectNpyError(
      () => npyToMatrix({ dtype: 'float32', shape: [4], data: new Float32Array(4) }, 'x.npy'),
      'TENSOR_ERR_NPY_ARGUMENT',
      /x\.npy is float32 of shape \(4,\)/,
    );
  });
});
