import { type Matrix, TensorError, matrix } from './matrix';
// Bound once: a global lookup per call is slow where globals are proxied (jest's sandbox: ~50× slower).
const imul = Math.imul;

/**
 * Seeded pseudo-random numbers, reproducible across platforms and Node versions.
 *
 * Algorithm (documented so other implementations can reproduce every draw):
 * - Generator: **xoshiro128\*\*** (Blackman & Vigna, 2018), 128-bit state s0..s3 of uint32;
 *   output = rotl(s1·5, 7)·9, then t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
 *   s3 = rotl(s3, 11). All arithmetic modulo 2³².
 * - Seeding: the seed key (a uint32 number, or any string) is hashed to 64 bits as two FNV-1a-32 hashes
 *   of its UTF-8 bytes (offset bases 0x811c9dc5 and 0x01000193 ^ 0x5bd1e995), see {@link seedKey};
 *   the four state words s0..s3 are the first four outputs of SplitMix32 (x += 0x9e3779b9; z = x;
 *   z = (z ^ z>>>16)·0x85ebca6b; z = (z ^ z>>>13)·0xc2b2ae35; z ^= z>>>16) started at
 *   x = hash0 ^ (hash1·0x9e3779b9), with hash1 XORed into s1 and s3. A number seed n (any
 *   non-negative safe integer) is keyed as the decimal string of n.
 * - uniform(): 53-bit float in [0, 1) from two outputs a, b: ((a >>> 5)·2²⁶ + (b >>> 6)) / 2⁵³.
 * - normal(): Box–Muller on u1 = 1 − uniform() ∈ (0, 1], u2 = uniform(): r = √(−2 ln u1),
 *   returns r·cos(2πu2) and keeps r·sin(2πu2) for the next call.
 * - int(n): uniform integer in [0, n) by rejection: draw x until x < ⌊2³²/n⌋·n, return x mod n.
 * - permutation(n): Fisher–Yates, for i = n−1 down to 1 swap a[i] with a[int(i+1)], from the identity.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | undefined;

  /** @param seed a non-negative safe integer or a string (for example `${runSeed}:${imageId}`). */
  constructor(seed: number | string) {
    if (typeof seed === 'number' && (!Number.isSafeInteger(seed) || seed < 0)) {
      throw new TensorError(`Rng seed must be a non-negative safe integer or a string, got ${seed}`);
    }
    const [h0, h1] = seedKey(String(seed));
    let x = (h0 ^ imul(h1, 0x9e3779b9)) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = imul(z ^ (z >>> 16), 0x85ebca6b);
      z = imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = (next() ^ h1) >>> 0;
    this.s2 = next();
    this.s3 = (next() ^ h1) >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) {
      this.s0 = 1; // the all-zero state is the generator's only fixed point
    }
  }

  /** Next raw uint32 output. */
  nextUint32(): number {
    const s1 = this.s1;
    const r = imul(rotl(imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Standard normal draw (Box–Muller, see class docs). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [0, n), unbiased; n in [1, 2³²]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new TensorError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = Math.floor(4294967296 / n) * n;
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) {
        return x % n;
      }
    }
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = i;
    }
    this.shuffleInPlace(a);
    return a;
  }

  /** Shuffles `a` in place with the same Fisher–Yates walk as {@link permutation}. */
  shuffleInPlace(a: { length: number; [i: number]: number }): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }

  /** Fills `out` with uniform draws in [lo, hi). */
  fillUniform(out: Float32Array | Float64Array, lo = 0, hi = 1): void {
    for (let i = 0; i < out.length; i++) {
      out[i] = lo + (hi - lo) * this.uniform();
    }
  }

  /** Fills `out` with normal draws of the given mean and standard deviation. */
  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): void {
    for (let i = 0; i < out.length; i++) {
      out[i] = mean + std * this.normal();
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * The 64-bit seed key of a string: two FNV-1a-32 hashes of its UTF-8 bytes with different offset
 * bases. Exposed so that other implementations can check their seeding against ours.
 */
export function seedKey(key: string): [number, number] {
  const bytes = new TextEncoder().encode(key);
  let h0 = 0x811c9dc5;
  let h1 = (0x01000193 ^ 0x5bd1e995) >>> 0;
  for (const byte of bytes) {
    h0 = imul(h0 ^ byte, 0x01000193) >>> 0;
    h1 = imul(h1 ^ byte, 0x01000193) >>> 0;
  }
  return [h0, h1];
}

/**
 * The seed string for a draw that must not depend on sharding or batching: parts joined by ':'
 * (for example `deriveSeed(runSeed, 'synthesize', imageId)`).
 */
export function deriveSeed(...parts: readonly (string | number)[]): string {
  return parts.map(String).join(':');
}

/** A rows×cols matrix of independent normal draws (mean 0, standard deviation `std`) from `rng`. */
export function randomNormalMatrix(rng: Rng, rows: number, cols: number, std = 1): Matrix {
  const m = matrix(rows, cols);
  rng.fillNormal(m.data, 0, std);
  return m;
}
