import { type LinalgBackend, type Matrix, l2NormalizeRows } from '@synood/tensor';
import { OOD_ERROR_CODES, OodError, require_ } from './errors';
import { type ProjectionHead, projectFeatures } from './projection';
import { type NegLabelLayout, negLabelLayout, negLabelScores } from './score';

/** Identifies a detector bundle's manifest. */
export const DETECTOR_FORMAT = 'synood.detector';
/** Bumped on any incompatible change of the bundle layout. */
export const DETECTOR_FORMAT_VERSION = 1;

/**
 * The trained SynOOD detector (reference §8): projected image features scored with the grouped
 * NegLabel score against the InD labels and the negatives, whose Y*⁻ rows are the fine-tuned ones.
 */
export interface SynoodDetector {
  /** InD label strings, aligned with `indFeatures` rows. */
  readonly indLabels: readonly string[];
  /** L2-normalised InD text features [K × d]. */
  readonly indFeatures: Matrix;
  /** Negative label strings, aligned with `negativeFeatures` rows. */
  readonly negativeLabels: readonly string[];
  /** L2-normalised negative features [M × d]; rows in `finetunedRows` are the fine-tuned vectors. */
  readonly negativeFeatures: Matrix;
  /** Indices of the negatives replaced by fine-tuned vectors (Y*⁻), ascending. */
  readonly finetunedRows: Int32Array;
  /** The projection head, or null for plain NegLabel / label-only detectors. */
  readonly projection: ProjectionHead | null;
  /** Logit scale 1/τ. */
  readonly scale: number;
  /** Number of groups G. */
  readonly groups: number;
  /** The fixed grouping permutation over the first G·⌊M/G⌋ negatives. */
  readonly permutation: Int32Array;
  /** Score at 95% InD true-positive rate (images scoring ≥ it are called InD), or null before calibration. */
  readonly threshold: number | null;
  /** Free-form provenance: backbone, run id, config hash, creation time. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** Inputs of {@link buildDetector}. */
export interface DetectorParts {
  indLabels: readonly string[];
  indFeatures: Matrix;
  negativeLabels: readonly string[];
  negativeFeatures: Matrix;
  /** Fine-tuned Y*⁻ vectors and the negative rows they replace. */
  finetuned?: { rows: Int32Array; features: Matrix };
  projection?: ProjectionHead | null;
  scale?: number;
  groups?: number;
  seed?: number | string;
  threshold?: number | null;
  metadata?: Record<string, unknown>;
}

/** Assembles a detector, replacing fine-tuned rows and drawing the grouping permutation. */
export function buildDetector(parts: DetectorParts): SynoodDetector {
  require_(
    parts.indLabels.length === parts.indFeatures.rows,
    `${parts.indLabels.length} InD labels for ${parts.indFeatures.rows} InD feature rows`,
  );
  require_(
    parts.negativeLabels.length === parts.negativeFeatures.rows,
    `${parts.negativeLabels.length} negative labels for ${parts.negativeFeatures.rows} negative feature rows`,
  );
  const negatives = l2NormalizeRows(parts.negativeFeatures);
  let finetunedRows = new Int32Array(0);
  if (parts.finetuned) {
    const { rows, features } = parts.finetuned;
    require_(rows.length === features.rows, `${rows.length} fine-tuned rows for ${features.rows} vectors`);
    if (features.cols !== negatives.cols) {
      throw new OodError(
        OOD_ERROR_CODES.shape,
        `fine-tuned vectors are ${features.cols}-d, negatives ${negatives.cols}-d`,
      );
    }
    const normalised = l2NormalizeRows(features);
    const d = negatives.cols;
    for (let r = 0; r < rows.length; r++) {
      const j = rows[r]!;
      require_(j >= 0 && j < negatives.rows, `fine-tuned row ${j} is outside 0..${negatives.rows - 1}`);
      negatives.data.set(normalised.data.subarray(r * d, (r + 1) * d), j * d);
    }
    finetunedRows = Int32Array.from(rows).sort();
  }
  const projection = parts.projection ?? null;
  if (projection && projection.dim !== negatives.cols) {
    throw new OodError(
      OOD_ERROR_CODES.shape,
      `projection is ${projection.dim}-d, features ${negatives.cols}-d`,
    );
  }
  const indFeatures = l2NormalizeRows(parts.indFeatures);
  const layout = negLabelLayout(indFeatures, negatives, {
    scale: parts.scale ?? 100,
    groups: parts.groups ?? 100,
    seed: parts.seed ?? 0,
  });
  return {
    indLabels: [...parts.indLabels],
    indFeatures,
    negativeLabels: [...parts.negativeLabels],
    negativeFeatures: negatives,
    finetunedRows,
    projection,
    scale: layout.scale,
    groups: layout.groups,
    permutation: layout.permutation,
    threshold: parts.threshold ?? null,
    metadata: { ...parts.metadata },
  };
}

/** The detector's NegLabel layout (build once, score many batches). */
export function detectorLayout(detector: SynoodDetector): NegLabelLayout {
  return negLabelLayout(detector.indFeatures, detector.negativeFeatures, {
    scale: detector.scale,
    groups: detector.groups,
    permutation: detector.permutation,
  });
}

/**
 * Scores raw CLIP image features (higher = more InD): projection (when present), then the grouped
 * NegLabel score.
 */
export async function detectorScores(
  backend: LinalgBackend,
  detector: SynoodDetector,
  features: Matrix,
  layout: NegLabelLayout = detectorLayout(detector),
): Promise<Float64Array> {
  const x = detector.projection ? await projectFeatures(backend, detector.projection, features) : features;
  return negLabelScores(backend, x, layout);
}

/**
 * The largest threshold t such that at least `tpr` of the InD scores are ≥ t: the ⌈tpr·n⌉-th largest
 * score. With it, at least 95% of InD images are accepted by default.
 */
export function thresholdAtTpr(indScores: ArrayLike<number>, tpr = 0.95): number {
  require_(indScores.length > 0, 'thresholdAtTpr needs at least one InD score');
  require_(tpr > 0 && tpr <= 1, `tpr must be in (0, 1], got ${tpr}`);
  const sorted = Float64Array.from(indScores).sort();
  // Rounding guards against 0.95·n landing just above an integer (e.g. 0.95·20 = 19.000000000000004).
  const keep = Math.ceil(Math.round(tpr * sorted.length * 1e9) / 1e9);
  return sorted[sorted.length - keep]!;
}

/** A detector with its threshold set from InD validation scores. */
export function withThreshold(detector: SynoodDetector, threshold: number): SynoodDetector {
  require_(Number.isFinite(threshold), `threshold must be finite, got ${threshold}`);
  return { ...detector, threshold };
}

/** One array of the binary part of a bundle. */
export interface BundleArray {
  readonly name: string;
  readonly dtype: 'float32' | 'int32';
  readonly shape: readonly number[];
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** The JSON half of a detector bundle (`detector.json`); label strings sit beside their rows. */
export interface DetectorManifest {
  readonly format: typeof DETECTOR_FORMAT;
  readonly formatVersion: number;
  readonly dim: number;
  readonly scale: number;
  readonly groups: number;
  readonly threshold: number | null;
  readonly labels: { readonly ind: readonly string[]; readonly negatives: readonly string[] };
  readonly projection: { readonly lnEps: number } | null;
  readonly arrays: readonly BundleArray[];
  /** Total bytes of the binary part. */
  readonly byteLength: number;
  /** FNV-1a-32 of the binary part, hex; catches truncated or corrupted files. */
  readonly checksum: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

const ALIGN = 16;

/** Serialises a detector to a JSON manifest and one little-endian binary blob. */
export function encodeDetector(detector: SynoodDetector): { manifest: DetectorManifest; data: Uint8Array } {
  const d = detector.indFeatures.cols;
  const entries: {
    name: string;
    dtype: 'float32' | 'int32';
    shape: number[];
    values: Float32Array | Int32Array;
  }[] = [
    {
      name: 'ind_features',
      dtype: 'float32',
      shape: [detector.indFeatures.rows, d],
      values: detector.indFeatures.data,
    },
    {
      name: 'negative_features',
      dtype: 'float32',
      shape: [detector.negativeFeatures.rows, d],
      values: detector.negativeFeatures.data,
    },
    {
      name: 'finetuned_rows',
      dtype: 'int32',
      shape: [detector.finetunedRows.length],
      values: detector.finetunedRows,
    },
    {
      name: 'permutation',
      dtype: 'int32',
      shape: [detector.permutation.length],
      values: detector.permutation,
    },
  ];
  const p = detector.projection;
  if (p) {
    entries.push(
      { name: 'projection.weight', dtype: 'float32', shape: [p.dim, p.dim], values: p.weight },
      { name: 'projection.bias', dtype: 'float32', shape: [p.dim], values: p.bias },
      { name: 'projection.gamma', dtype: 'float32', shape: [p.dim], values: p.gamma },
      { name: 'projection.beta', dtype: 'float32', shape: [p.dim], values: p.beta },
    );
  }
  let offset = 0;
  const arrays: BundleArray[] = entries.map((e) => {
    const a = {
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      byteOffset: offset,
      byteLength: e.values.byteLength,
    };
    offset = Math.ceil((offset + e.values.byteLength) / ALIGN) * ALIGN;
    return a;
  });
  const data = new Uint8Array(offset);
  const view = new DataView(data.buffer);
  entries.forEach((e, i) => {
    const base = arrays[i]!.byteOffset;
    for (let k = 0; k < e.values.length; k++) {
      if (e.dtype === 'float32') {
        view.setFloat32(base + 4 * k, e.values[k]!, true);
      } else {
        view.setInt32(base + 4 * k, e.values[k]!, true);
      }
    }
  });
  return {
    manifest: {
      format: DETECTOR_FORMAT,
      formatVersion: DETECTOR_FORMAT_VERSION,
      dim: d,
      scale: detector.scale,
      groups: detector.groups,
      threshold: detector.threshold,
      labels: { ind: detector.indLabels, negatives: detector.negativeLabels },
      projection: p ? { lnEps: p.lnEps } : null,
      arrays,
      byteLength: data.byteLength,
      checksum: fnv1a32(data),
      metadata: detector.metadata,
    },
    data,
  };
}

function bundleError(message: string): OodError {
  return new OodError(OOD_ERROR_CODES.bundle, message);
}

/** Reads a detector back from {@link encodeDetector}'s output, checking format, version and checksum. */
export function decodeDetector(manifest: DetectorManifest, data: Uint8Array): SynoodDetector {
  if ((manifest as { format?: unknown }).format !== DETECTOR_FORMAT) {
    throw bundleError(`not a detector manifest: format is ${JSON.stringify(manifest.format)}`);
  }
  if (manifest.formatVersion > DETECTOR_FORMAT_VERSION) {
    throw bundleError(
      `detector format version ${manifest.formatVersion} is newer than this build reads (${DETECTOR_FORMAT_VERSION}); upgrade synood`,
    );
  }
  if (data.byteLength !== manifest.byteLength) {
    throw bundleError(
      `detector data is ${data.byteLength} bytes, the manifest says ${manifest.byteLength} (truncated?)`,
    );
  }
  const sum = fnv1a32(data);
  if (sum !== manifest.checksum) {
    throw bundleError(`detector data checksum ${sum} does not match the manifest's ${manifest.checksum}`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read = (name: string, dtype: 'float32' | 'int32', shape: number[]): Float32Array | Int32Array => {
    const a = manifest.arrays.find((x) => x.name === name);
    if (!a) {
      throw bundleError(`detector bundle lacks array ${name}`);
    }
    const n = shape.reduce((x, y) => x * y, 1);
    if (a.dtype !== dtype || a.byteLength !== 4 * n || a.shape.join('x') !== shape.join('x')) {
      throw bundleError(
        `array ${name} is ${a.dtype}[${a.shape.join('x')}], expected ${dtype}[${shape.join('x')}]`,
      );
    }
    if (a.byteOffset + a.byteLength > data.byteLength) {
      throw bundleError(`array ${name} runs past the end of the data`);
    }
    const out = dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
    for (let k = 0; k < n; k++) {
      out[k] =
        dtype === 'float32'
          ? view.getFloat32(a.byteOffset + 4 * k, true)
          : view.getInt32(a.byteOffset + 4 * k, true);
    }
    return out;
  };
  const d = manifest.dim;
  const k = manifest.labels.ind.length;
  const m = manifest.labels.negatives.length;
  const ft = manifest.arrays.find((x) => x.name === 'finetuned_rows')?.shape[0] ?? 0;
  const pl = manifest.arrays.find((x) => x.name === 'permutation')?.shape[0] ?? 0;
  const projection: ProjectionHead | null = manifest.projection
    ? {
        dim: d,
        weight: read('projection.weight', 'float32', [d, d]) as Float32Array,
        bias: read('projection.bias', 'float32', [d]) as Float32Array,
        gamma: read('projection.gamma', 'float32', [d]) as Float32Array,
        beta: read('projection.beta', 'float32', [d]) as Float32Array,
        lnEps: manifest.projection.lnEps,
      }
    : null;
  const detector: SynoodDetector = {
    indLabels: [...manifest.labels.ind],
    indFeatures: { rows: k, cols: d, data: read('ind_features', 'float32', [k, d]) as Float32Array },
    negativeLabels: [...manifest.labels.negatives],
    negativeFeatures: {
      rows: m,
      cols: d,
      data: read('negative_features', 'float32', [m, d]) as Float32Array,
    },
    finetunedRows: read('finetuned_rows', 'int32', [ft]) as Int32Array,
    projection,
    scale: manifest.scale,
    groups: manifest.groups,
    permutation: read('permutation', 'int32', [pl]) as Int32Array,
    threshold: manifest.threshold,
    metadata: { ...manifest.metadata },
  };
  // Validates the permutation against M and G.
  detectorLayout(detector);
  return detector;
}

/** FNV-1a 32-bit hash of bytes as 8 hex digits. */
export function fnv1a32(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h = Math.imul(h ^ b, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
