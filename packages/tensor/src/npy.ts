/**
 * @file NumPy `.npy` encoding and decoding, pure (bytes in, bytes out), so that features and tensors can
 * be exchanged with Python tooling (`np.load`, `np.save`) without a converter.
 *
 * Format facts (numpy `lib/format.py`, format versions 1.0, 2.0 and 3.0):
 * - 6 magic bytes `\x93NUMPY`, one byte major and one byte minor version, then the header length as a
 *   little-endian uint16 (1.0) or uint32 (2.0, 3.0), then the header: the Python literal of a dict with
 *   `descr`, `fortran_order` and `shape`, padded with spaces and ended by `\n` so that the data starts at
 *   a multiple of 64 bytes. 1.0 and 2.0 headers are latin-1, 3.0 headers UTF-8.
 * - numpy writes the keys sorted, each as `'key': repr(value), `, then `}`, then (numpy ≥ 1.23) spare
 *   spaces so the header can be rewritten in place when the first axis grows: 21 minus the digits of
 *   `shape[0]`. Then the alignment padding. {@link encodeNpy} writes the same bytes.
 * - `descr` is a byte-order character (`<` little, `>` big, `|` not applicable, `=` native) followed by
 *   a kind and an item size, e.g. `<f4`, `>i8`, `|u1`, `|b1`. Structured dtypes (a list descr) are not
 *   supported here; Fortran-ordered (column-major) data is read and reordered to row-major.
 */
import type { Matrix } from './matrix';

/** Element types {@link encodeNpy} and {@link decodeNpy} support. */
export const NPY_DTYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
] as const;

/** One of {@link NPY_DTYPES}. */
export type NpyDType = (typeof NPY_DTYPES)[number];

/**
 * The typed array holding each dtype's values. `float16` keeps the raw IEEE half bits (no JS float16
 * array on Node 20); `bool` is one byte per value, 0 or 1.
 */
export interface NpyDataTypes {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

/** A C-ordered (row-major) n-d array of one dtype. */
export type NpyArray = {
  [D in NpyDType]: {
    readonly dtype: D;
    /** Dims, outermost first; `[]` is a scalar (one value). */
    readonly shape: readonly number[];
    /** `product(shape)` values in C order. */
    readonly data: NpyDataTypes[D];
  };
}[NpyDType];

/** The `.npy` array of one dtype `D`. */
export type NpyArrayOf<D extends NpyDType> = Extract<NpyArray, { dtype: D }>;

/** Byte order of multi-byte values in a written file. */
export type NpyByteOrder = 'little' | 'big';

/** Options of {@link encodeNpy}. */
export interface EncodeNpyOptions {
  /** @defaultValue `'little'` (what numpy writes on every common host) */
  byteOrder?: NpyByteOrder;
}

/** Stable error codes of the `.npy` codec. */
export const NpyErrorCode = {
  /** The bytes do not start with `\x93NUMPY`, or end before the header does. */
  Magic: 'TENSOR_ERR_NPY_MAGIC',
  /** A format version other than 1.0, 2.0 or 3.0. */
  Version: 'TENSOR_ERR_NPY_VERSION',
  /** The header dict cannot be parsed or lacks a key. */
  Header: 'TENSOR_ERR_NPY_HEADER',
  /** A `descr` outside {@link NPY_DTYPES} (structured, string, complex, datetime, object dtypes). */
  DType: 'TENSOR_ERR_NPY_DTYPE',
  /** The data section is shorter or longer than the shape and dtype say. */
  Size: 'TENSOR_ERR_NPY_SIZE',
  /** {@link encodeNpy} was given an inconsistent array (shape versus data length, dtype versus array type). */
  Argument: 'TENSOR_ERR_NPY_ARGUMENT',
} as const;

/** One of the {@link NpyErrorCode} values. */
export type NpyErrorCode = (typeof NpyErrorCode)[keyof typeof NpyErrorCode];

/** Error thrown by {@link encodeNpy} and {@link decodeNpy}; branch on `code`, not on the message. */
export class NpyError extends Error {
  override readonly name: string = 'NpyError';

  constructor(
    readonly code: NpyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface DTypeInfo {
  /** Kind and item size as in a numpy descr, e.g. `f4`. */
  readonly code: string;
  readonly size: number;
  readonly make: (buffer: ArrayBuffer, length: number) => NpyDataTypes[NpyDType];
  readonly ctor: { readonly name: string };
}

const DTYPE_INFO: Readonly<Record<NpyDType, DTypeInfo>> = {
  float32: { code: 'f4', size: 4, make: (b, n) => new Float32Array(b, 0, n), ctor: Float32Array },
  float64: { code: 'f8', size: 8, make: (b, n) => new Float64Array(b, 0, n), ctor: Float64Array },
  float16: { code: 'f2', size: 2, make: (b, n) => new Uint16Array(b, 0, n), ctor: Uint16Array },
  int8: { code: 'i1', size: 1, make: (b, n) => new Int8Array(b, 0, n), ctor: Int8Array },
  uint8: { code: 'u1', size: 1, make: (b, n) => new Uint8Array(b, 0, n), ctor: Uint8Array },
  int16: { code: 'i2', size: 2, make: (b, n) => new Int16Array(b, 0, n), ctor: Int16Array },
  uint16: { code: 'u2', size: 2, make: (b, n) => new Uint16Array(b, 0, n), ctor: Uint16Array },
  int32: { code: 'i4', size: 4, make: (b, n) => new Int32Array(b, 0, n), ctor: Int32Array },
  uint32: { code: 'u4', size: 4, make: (b, n) => new Uint32Array(b, 0, n), ctor: Uint32Array },
  int64: { code: 'i8', size: 8, make: (b, n) => new BigInt64Array(b, 0, n), ctor: BigInt64Array },
  uint64: { code: 'u8', size: 8, make: (b, n) => new BigUint64Array(b, 0, n), ctor: BigUint64Array },
  bool: { code: 'b1', size: 1, make: (b, n) => new Uint8Array(b, 0, n), ctor: Uint8Array },
};

const DTYPE_BY_CODE = new Map<string, NpyDType>(NPY_DTYPES.map((d) => [DTYPE_INFO[d].code, d]));

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
/** numpy's `GROWTH_AXIS_MAX_DIGITS`: spare header room for the first axis to grow in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the bytes of each `size`-byte item in place. */
function swapItems(bytes: Uint8Array, size: number): void {
  if (size === 1) {
    return;
  }
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

function shapeSize(shape: readonly number[], what: string, code: NpyErrorCode): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new NpyError(code, `${what}: dims must be non-negative integers, got (${shape.join(', ')})`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) {
    throw new NpyError(code, `${what}: shape (${shape.join(', ')}) has too many elements`);
  }
  return n;
}

/** Python's `repr` of a shape tuple: `()`, `(5,)`, `(2, 3)`. */
function shapeRepr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]!},)` : `(${shape.join(', ')})`;
}

/**
 * Encodes an array as `.npy` bytes, exactly as numpy ≥ 1.23's `np.save` writes them: format 1.0 (2.0
 * when the header exceeds 65,535 bytes), C order, header padded so the data starts at a multiple of 64.
 *
 * @throws NpyError `TENSOR_ERR_NPY_ARGUMENT` when the data's length is not the shape's product, the typed
 * array does not match the dtype, or a bool value is not 0 or 1.
 */
export function encodeNpy(array: NpyArray, options: EncodeNpyOptions = {}): Uint8Array {
  const info = (DTYPE_INFO as Partial<Record<string, DTypeInfo>>)[array.dtype];
  if (info === undefined) {
    throw new NpyError(
      NpyErrorCode.Argument,
      `encodeNpy: dtype ${array.dtype as string} is not one of ${NPY_DTYPES.join(', ')}`,
    );
  }
  const data = array.data as ArrayBufferView & { length: number };
  if (data.constructor.name !== info.ctor.name) {
    throw new NpyError(
      NpyErrorCode.Argument,
      `encodeNpy: dtype ${array.dtype} needs a ${info.ctor.name}, got a ${data.constructor.name}`,
    );
  }
  const count = shapeSize(array.shape, 'encodeNpy', NpyErrorCode.Argument);
  if (data.length !== count) {
    throw new NpyError(
      NpyErrorCode.Argument,
      `encodeNpy: shape ${shapeRepr(array.shape)} needs ${count} values, data has ${data.length}`,
    );
  }
  if (array.dtype === 'bool' && array.data.some((v) => v > 1)) {
    throw new NpyError(NpyErrorCode.Argument, 'encodeNpy: bool data must hold only 0 and 1');
  }
  const big = options.byteOrder === 'big';
  const order = info.size === 1 ? '|' : big ? '>' : '<';
  let header = `{'descr': '${order}${info.code}', 'fortran_order': False, 'shape': ${shapeRepr(array.shape)}, }`;
  if (array.shape.length > 0) {
    header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(array.shape[0]!).length));
  }
  // Header bytes include the final '\n'; the prefix is magic (6) + version (2) + length (2 or 4).
  let prefix = 10;
  let padded = header.length + 1 + (ALIGN - ((prefix + header.length + 1) % ALIGN));
  if (padded > 0xffff) {
    prefix = 12;
    padded = header.length + 1 + (ALIGN - ((prefix + header.length + 1) % ALIGN));
  }
  const dataBytes = count * info.size;
  const out = new Uint8Array(prefix + padded + dataBytes);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (prefix === 10) {
    view.setUint16(8, padded, true);
  } else {
    view.setUint32(8, padded, true);
  }
  for (let i = 0; i < header.length; i++) {
    out[prefix + i] = header.charCodeAt(i);
  }
  out.fill(0x20, prefix + header.length, prefix + padded - 1);
  out[prefix + padded - 1] = 0x0a;
  const body = out.subarray(prefix + padded);
  body.set(new Uint8Array(data.buffer, data.byteOffset, dataBytes));
  if (big === HOST_LITTLE_ENDIAN) {
    swapItems(body, info.size);
  }
  return out;
}

/** A minimal reader of the header's Python dict literal: strings, True/False, tuples of integers. */
class HeaderParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  private fail(what: string): never {
    throw new NpyError(
      NpyErrorCode.Header,
      `npy header: ${what} at character ${this.pos} of ${JSON.stringify(this.text.trimEnd())}`,
    );
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) {
      this.pos++;
    }
  }

  private peek(): string {
    this.skipSpace();
    return this.text[this.pos] ?? '';
  }

  private expect(ch: string): void {
    if (this.peek() !== ch) {
      this.fail(`expected '${ch}'`);
    }
    this.pos++;
  }

  private string(): string {
    const quote = this.peek();
    if (quote !== "'" && quote !== '"') {
      this.fail('expected a quoted string');
    }
    const end = this.text.indexOf(quote, this.pos + 1);
    if (end < 0) {
      this.fail('unterminated string');
    }
    const value = this.text.slice(this.pos + 1, end);
    this.pos = end + 1;
    return value;
  }

  private value(): string | boolean | number[] {
    const ch = this.peek();
    if (ch === "'" || ch === '"') {
      return this.string();
    }
    if (ch === '(') {
      return this.tuple();
    }
    for (const [word, v] of [
      ['True', true],
      ['False', false],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    if (ch === '[') {
      this.fail('structured dtypes (a list descr) are not supported');
    }
    return this.fail('expected a string, True/False or a tuple');
  }

  private tuple(): number[] {
    this.expect('(');
    const dims: number[] = [];
    while (this.peek() !== ')') {
      // Python 2 wrote longs with an L suffix: (2L, 3L).
      const m = /^(\d+)L?/.exec(this.text.slice(this.pos));
      if (m === null) {
        this.fail('expected a non-negative integer dim');
      }
      dims.push(Number(m[1]));
      this.pos += m[0].length;
      if (this.peek() === ',') {
        this.pos++;
      } else if (this.peek() !== ')') {
        this.fail("expected ',' or ')'");
      }
    }
    this.pos++;
    return dims;
  }

  parse(): Map<string, string | boolean | number[]> {
    const dict = new Map<string, string | boolean | number[]>();
    this.expect('{');
    while (this.peek() !== '}') {
      const key = this.string();
      this.expect(':');
      dict.set(key, this.value());
      if (this.peek() === ',') {
        this.pos++;
      } else if (this.peek() !== '}') {
        this.fail("expected ',' or '}'");
      }
    }
    this.pos++;
    if (this.peek() !== '') {
      this.fail('unexpected text after the dict');
    }
    return dict;
  }
}

function parseDescr(descr: string): { dtype: NpyDType; bigEndian: boolean } {
  const m = /^([<>|=]?)([a-z]\d+)$/.exec(descr);
  const dtype = m === null ? undefined : DTYPE_BY_CODE.get(m[2]!);
  if (m === null || dtype === undefined) {
    throw new NpyError(
      NpyErrorCode.DType,
      `npy descr '${descr}' is not supported; supported: ` +
        NPY_DTYPES.map((d) => `${d} (${DTYPE_INFO[d].code})`).join(', '),
    );
  }
  // '|' (order not applicable) and '=' (native) both read in the host's order, as numpy does.
  const order = m[1]!;
  const bigEndian =
    order === '>' || ((order === '|' || order === '=' || order === '') && !HOST_LITTLE_ENDIAN);
  return { dtype, bigEndian };
}

/**
 * Decodes `.npy` bytes (format 1.0, 2.0 or 3.0). The values are copied into a fresh, aligned typed array
 * in host byte order and row-major (C) order, so the result does not alias `bytes`.
 *
 * @throws NpyError `TENSOR_ERR_NPY_MAGIC`, `TENSOR_ERR_NPY_VERSION`, `TENSOR_ERR_NPY_HEADER`,
 * `TENSOR_ERR_NPY_DTYPE` or `TENSOR_ERR_NPY_SIZE` (the data section does not hold exactly the shape's values).
 */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new NpyError(NpyErrorCode.Magic, 'not a .npy file: it does not start with \\x93NUMPY');
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (minor !== 0 || major < 1 || major > 3) {
    throw new NpyError(
      NpyErrorCode.Version,
      `.npy format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) {
    throw new NpyError(NpyErrorCode.Magic, `.npy file of ${bytes.length} bytes ends inside its preamble`);
  }
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = prefix + headerLength;
  if (bytes.length < dataStart) {
    throw new NpyError(
      NpyErrorCode.Magic,
      `.npy header is ${headerLength} bytes but the file ends after ${bytes.length - prefix}: truncated`,
    );
  }
  const decoder = new TextDecoder(major === 3 ? 'utf-8' : 'latin1');
  const dict = new HeaderParser(decoder.decode(bytes.subarray(prefix, dataStart))).parse();
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string' || typeof fortran !== 'boolean' || !Array.isArray(shape)) {
    throw new NpyError(
      NpyErrorCode.Header,
      'npy header must hold descr (a string), fortran_order (True/False) and shape (a tuple); ' +
        `got keys ${[...dict.keys()].join(', ')}`,
    );
  }
  const { dtype, bigEndian } = parseDescr(descr);
  const info = DTYPE_INFO[dtype];
  const count = shapeSize(shape, 'npy header', NpyErrorCode.Header);
  const dataBytes = bytes.length - dataStart;
  if (dataBytes !== count * info.size) {
    throw new NpyError(
      NpyErrorCode.Size,
      `.npy data is ${dataBytes} bytes, but shape ${shapeRepr(shape)} of ${descr} needs ${count * info.size}` +
        (dataBytes < count * info.size ? ' (truncated file)' : ' (trailing bytes)'),
    );
  }
  // A fresh buffer: Buffer#slice shares memory (and Node pools small Buffers), so slice() is no copy.
  const copy = new Uint8Array(dataBytes);
  copy.set(bytes.subarray(dataStart));
  if (bigEndian === HOST_LITTLE_ENDIAN) {
    swapItems(copy, info.size);
  }
  if (dtype === 'bool') {
    // numpy reads any non-zero byte as True.
    for (let i = 0; i < copy.length; i++) {
      copy[i] = copy[i] === 0 ? 0 : 1;
    }
  }
  // Column-major data (np.asfortranarray, or a transposed view saved as is) is reordered to row-major,
  // the layout every consumer here assumes; 1-D and single-row arrays are the same in both orders.
  const rowMajor =
    fortran && shape.filter((d) => d > 1).length > 1 ? fortranToC(copy, shape, info.size) : copy;
  return { dtype, shape, data: info.make(rowMajor.buffer, count) } as NpyArray;
}

/** Reorders items of `size` bytes from column-major to row-major order for `shape`. */
function fortranToC(
  src: Uint8Array<ArrayBuffer>,
  shape: readonly number[],
  size: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(src.length);
  const rank = shape.length;
  // Column-major strides (in items): the first axis varies fastest.
  const fStride = new Array<number>(rank);
  let stride = 1;
  for (let d = 0; d < rank; d++) {
    fStride[d] = stride;
    stride *= shape[d]!;
  }
  const index = new Array<number>(rank).fill(0);
  const count = src.length / size;
  let from = 0;
  for (let to = 0; to < count; to++) {
    out.set(src.subarray(from * size, from * size + size), to * size);
    // Advance the row-major index (last axis fastest) and track the matching column-major offset.
    for (let d = rank - 1; d >= 0; d--) {
      index[d]! += 1;
      from += fStride[d]!;
      if (index[d]! < shape[d]!) {
        break;
      }
      from -= fStride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/** A matrix as a 2-D float32 `.npy` array sharing its storage (no copy). */
export function matrixToNpy(m: Matrix): NpyArrayOf<'float32'> {
  return { dtype: 'float32', shape: [m.rows, m.cols], data: m.data };
}

/**
 * A 2-D float32 or float64 array as a {@link Matrix} (float64 is rounded to float32).
 *
 * @param what names the array in the error message, e.g. the file it came from.
 * @throws NpyError `TENSOR_ERR_NPY_ARGUMENT` for another rank or dtype.
 */
export function npyToMatrix(array: NpyArray, what = 'array'): Matrix {
  if (array.shape.length !== 2 || (array.dtype !== 'float32' && array.dtype !== 'float64')) {
    throw new NpyError(
      NpyErrorCode.Argument,
      `${what} is ${array.dtype} of shape ${shapeRepr(array.shape)}; a matrix needs 2-D float32 or float64`,
    );
  }
  const [rows, cols] = array.shape as [number, number];
  const data = array.dtype === 'float32' ? array.data : Float32Array.from(array.data);
  return { rows, cols, data };
}
