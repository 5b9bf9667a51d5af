import { type Matrix, Rng, deriveSeed, matrix } from '@synood/tensor';
import { require_ } from './errors';

/** Knobs of {@link syntheticOodProblem}; every field has a default. */
export interface SyntheticProblemOptions {
  /** Feature dimension. @defaultValue 128 */
  dim?: number;
  /** InD classes K. @defaultValue 10 */
  classes?: number;
  /** Negative labels M. @defaultValue 300 */
  negatives?: number;
  /** OOD concepts shared by synthetic and test OOD images. @defaultValue 6 */
  concepts?: number;
  /** Training InD images per class (and as many synthetic OOD images). @defaultValue 60 */
  trainPerClass?: number;
  /** Test InD and test OOD images per class. @defaultValue 50 */
  testPerClass?: number;
  /** Weight of the class direction in OOD images (InD images have 1). @defaultValue 0.9 */
  oodObjectWeight?: number;
  /** Weight of the OOD concept in OOD images. @defaultValue 0.5 */
  conceptWeight?: number;
  /** Weight of the class's context direction, shared by InD and OOD images of a class. @defaultValue 0.6 */
  contextWeight?: number;
  /** Norm of the isotropic noise added to every image feature. @defaultValue 0.6 */
  noise?: number;
  /**
   * Negatives per OOD concept that lean towards it (cosine about `conceptAlignment`), as WordNet holds
   * words related to any real OOD concept; the remaining negatives are random. @defaultValue 3
   */
  alignedPerConcept?: number;
  /** Cosine between a concept and its aligned negatives. @defaultValue 0.7 */
  conceptAlignment?: number;
  /** Norm the raw image features are scaled to (CLIP ViT-B/16 image embeddings are about 10 long). @defaultValue 10 */
  featureNorm?: number;
  /** @defaultValue 0 */
  seed?: number | string;
}

/** A feature-space stand-in for a SynOOD run: text features, training features and a test split. */
export interface SyntheticOodProblem {
  /** InD prompt features (one per class), [K × d]. */
  readonly indText: Matrix;
  /** Negative label features, [M × d]. */
  readonly negativeText: Matrix;
  /** Training InD image features, [K·trainPerClass × d], and their classes. */
  readonly trainInd: Matrix;
  readonly trainIndClass: Int32Array;
  /** Synthetic near-boundary OOD image features, [K·trainPerClass × d]. */
  readonly synthetic: Matrix;
  /** Held-out InD and near-OOD image features, [K·testPerClass × d] each. */
  readonly testInd: Matrix;
  readonly testOod: Matrix;
}

function unitVectors(rng: Rng, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  rng.fillNormal(out);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) {
      s += out[i * d + k]! ** 2;
    }
    const inv = 1 / Math.sqrt(s);
    for (let k = 0; k < d; k++) {
      out[i * d + k] = out[i * d + k]! * inv;
    }
  }
  return out;
}

/**
 * Generates a near-boundary OOD problem in feature space, mimicking what SynOOD's synthesis produces:
 * an InD image is its class direction plus the class's context plus noise; a near-boundary OOD image
 * keeps the context, weakens the class direction and adds one of a few OOD concepts. The untrained
 * NegLabel score separates the two only partly (the OOD concepts are not aligned with any negative
 * label), which is the gap that projection and label fine-tuning close. Used by tests, the demo and
 * benchmarks; it makes no claim about real-image accuracy.
 */
export function syntheticOodProblem(options: SyntheticProblemOptions = {}): SyntheticOodProblem {
  const d = options.dim ?? 128;
  const k = options.classes ?? 10;
  const m = options.negatives ?? 300;
  const q = options.concepts ?? 6;
  const trainPer = options.trainPerClass ?? 60;
  const testPer = options.testPerClass ?? 50;
  const objectWeight = options.oodObjectWeight ?? 0.9;
  const conceptWeight = options.conceptWeight ?? 0.5;
  const contextWeight = options.contextWeight ?? 0.6;
  const noise = options.noise ?? 0.6;
  const featureNorm = options.featureNorm ?? 10;
  const alignedPer = options.alignedPerConcept ?? 3;
  const alignment = options.conceptAlignment ?? 0.7;
  require_(d >= 2 && k >= 1 && m >= 1 && q >= 1, 'synthetic problem sizes must be positive');
  require_(alignedPer * q <= m, `alignedPerConcept × concepts (${alignedPer * q}) exceeds negatives (${m})`);
  const seed = options.seed ?? 0;
  const rng = new Rng(deriveSeed(seed, 'synthetic-directions'));
  const classDir = unitVectors(rng, k, d);
  const contextDir = unitVectors(rng, k, d);
  const conceptDir = unitVectors(rng, q, d);
  const negatives = unitVectors(rng, m, d);
  // Aligned negatives: alignment·concept + √(1−alignment²)·(a random unit vector), unit length up to
  // the random vector's small overlap with the concept.
  for (let c = 0; c < q; c++) {
    for (let a = 0; a < alignedPer; a++) {
      const row = c * alignedPer + a;
      for (let j = 0; j < d; j++) {
        negatives[row * d + j] =
          alignment * conceptDir[c * d + j]! + Math.sqrt(1 - alignment ** 2) * negatives[row * d + j]!;
      }
    }
  }

  const sample = (stream: string, perClass: number, ood: boolean): { x: Matrix; cls: Int32Array } => {
    const r = new Rng(deriveSeed(seed, stream));
    const x = matrix(k * perClass, d);
    const cls = new Int32Array(k * perClass);
    const eps = new Float64Array(d);
    for (let i = 0; i < k * perClass; i++) {
      const c = i % k;
      cls[i] = c;
      const concept = ood ? r.int(q) : 0;
      r.fillNormal(eps, 0, noise / Math.sqrt(d));
      for (let j = 0; j < d; j++) {
        let v =
          (ood ? objectWeight : 1) * classDir[c * d + j]! + contextWeight * contextDir[c * d + j]! + eps[j]!;
        if (ood) {
          v += conceptWeight * conceptDir[concept * d + j]!;
        }
        x.data[i * d + j] = v;
      }
      let sq = 0;
      for (let j = 0; j < d; j++) {
        sq += x.data[i * d + j]! ** 2;
      }
      const f = featureNorm / Math.sqrt(sq);
      for (let j = 0; j < d; j++) {
        x.data[i * d + j] = x.data[i * d + j]! * f;
      }
    }
    return { x, cls };
  };
  const trainInd = sample('train-ind', trainPer, false);
  return {
    indText: matrix(k, d, Float32Array.from(classDir)),
    negativeText: matrix(m, d, Float32Array.from(negatives)),
    trainInd: trainInd.x,
    trainIndClass: trainInd.cls,
    synthetic: sample('synthetic', trainPer, true).x,
    testInd: sample('test-ind', testPer, false).x,
    testOod: sample('test-ood', testPer, true).x,
  };
}
