/**
 * @file The trainer's view of a run's upstream artifacts: the plan, the encoded features of every shard
 * (in shard order, then row order: the order the assignment indexes), the mined negatives and their text
 * features, the assignment, the projection head and the fine-tuned labels; and the detector assembled from
 * them, shared by `evaluate` and `publish` so that both score with exactly the same detector.
 */
import {
  ARTIFACTS,
  type Assignment,
  type EncodeRows,
  type MinedNegatives,
  type Plan,
  type RunSpec,
  assignmentSchema,
  encodeRowsSchema,
  minedNegativesSchema,
  planSchema,
} from '@synood/contracts';
import { type ProjectionHead, type SynoodDetector, buildDetector } from '@synood/ood';
import type { ArtifactStore } from '@synood/storage';
import { type Matrix, concatRows, decodeNpy, deriveSeed, encodeNpy, npyToMatrix } from '@synood/tensor';

import { WorkerError, WorkerErrorCode, readInput, readJson, readMatrix, stageKey } from '@synood/service-kit';

/**
 * Raw (unnormalised) text features of the negatives, written by the encoder's mine stage beside
 * `ARTIFACTS.mine` (label fine-tuning starts from them, design §4).
 */
export const MINE_RAW_NEGATIVES = ARTIFACTS.mine.negativeTextRaw;

/** LayerNorm ε of every projection head the trainer makes (`initProjectionHead`'s default). */
export const PROJECTION_LN_EPS = 1e-5;

/** The plan of a run. */
export function readPlan(store: ArtifactStore, runId: string): Promise<Plan> {
  return readJson(
    store,
    stageKey({ runId, stage: 'plan' }, ARTIFACTS.plan.plan),
    planSchema,
    `run ${runId}'s plan`,
    'the plan stage',
  );
}

/** Features of one side (InD or synthetic) of every encode shard, concatenated in shard order. */
export interface EncodedSide {
  /** Raw CLIP image features, one row per image. */
  features: Matrix;
  /** Item of each row. */
  rows: EncodeRows['ind'];
  /** Rows per shard, in shard order. */
  perShard: number[];
}

/**
 * The InD or synthetic features of shards `0 … shards − 1`.
 *
 * @throws WorkerError `WORKER_ERR_INPUT` when a shard's output is missing or its rows do not match its features.
 */
export async function loadEncoded(
  store: ArtifactStore,
  runId: string,
  shards: number,
  side: 'ind' | 'synthetic',
): Promise<EncodedSide> {
  const parts: Matrix[] = [];
  const rows: EncodeRows['ind'] = [];
  const perShard: number[] = [];
  let cols = 0;
  for (let shard = 0; shard < shards; shard++) {
    const at = { runId, stage: 'encode' as const, shard };
    const shardRows = await readJson(
      store,
      stageKey(at, ARTIFACTS.encode.rows),
      encodeRowsSchema,
      `encode shard ${shard}'s rows`,
      'the encode stage',
    );
    const name = side === 'ind' ? ARTIFACTS.encode.ind : ARTIFACTS.encode.synthetic;
    const m = await readMatrix(
      store,
      stageKey(at, name),
      `encode shard ${shard}'s ${side} features`,
      'the encode stage',
    );
    const list = shardRows[side];
    if (m.rows !== list.length) {
      throw new WorkerError(
        WorkerErrorCode.Input,
        `encode shard ${shard}: ${name} has ${m.rows} rows but rows.json lists ${list.length} ${side} images`,
      );
    }
    if (m.rows > 0) {
      if (cols !== 0 && m.cols !== cols) {
        throw new WorkerError(
          WorkerErrorCode.Input,
          `encode shard ${shard}: ${name} is ${m.cols}-d, earlier shards are ${cols}-d (mixed CLIP models?)`,
        );
      }
      cols = m.cols;
      parts.push(m);
    }
    rows.push(...list);
    perShard.push(list.length);
  }
  const features = parts.length > 0 ? concatRows(parts) : { rows: 0, cols: 0, data: new Float32Array(0) };
  return { features, rows, perShard };
}

/** The mine stage's output. */
export interface Mined {
  negatives: MinedNegatives;
  /** Normalised InD prompt features [K × d], class order. */
  indText: Matrix;
  /** Normalised negative features [M × d]. */
  negativeText: Matrix;
}

/** Reads the mined negatives and their normalised text features. */
export async function loadMined(store: ArtifactStore, runId: string): Promise<Mined> {
  const at = { runId, stage: 'mine' as const };
  const negatives = await readJson(
    store,
    stageKey(at, ARTIFACTS.mine.negatives),
    minedNegativesSchema,
    'the mined negatives',
    'the mine stage',
  );
  const indText = await readMatrix(
    store,
    stageKey(at, ARTIFACTS.mine.indText),
    'the InD text features',
    'the mine stage',
  );
  const negativeText = await readMatrix(
    store,
    stageKey(at, ARTIFACTS.mine.negativeText),
    'the negative text features',
    'the mine stage',
  );
  if (negativeText.rows !== negatives.labels.length || indText.cols !== negativeText.cols) {
    throw new WorkerError(
      WorkerErrorCode.Input,
      `the mine stage's outputs disagree: ${negatives.labels.length} labels, negative features ` +
        `${negativeText.rows}×${negativeText.cols}, InD features ${indText.rows}×${indText.cols}`,
    );
  }
  return { negatives, indText, negativeText };
}

/** The raw negative text features (the initial values of the fine-tuned labels). */
export function loadRawNegatives(store: ArtifactStore, runId: string): Promise<Matrix> {
  return readMatrix(
    store,
    stageKey({ runId, stage: 'mine' }, MINE_RAW_NEGATIVES),
    'the raw negative text features',
    'the mine stage',
  );
}

/** The assignment of the synthetic images. */
export function loadAssignment(store: ArtifactStore, runId: string): Promise<Assignment> {
  return readJson(
    store,
    stageKey({ runId, stage: 'assign' }, ARTIFACTS.assign.assignment),
    assignmentSchema,
    'the negative assignment',
    'the assign stage',
  );
}

/**
 * The synthetic features of every encode shard with their negative assignment, which the two trainers
 * both read.
 *
 * @throws WorkerError `WORKER_ERR_INPUT` when the assignment and the encode shards disagree on the count.
 */
export async function loadAssignedSynthetic(
  store: ArtifactStore,
  runId: string,
  shards: number,
): Promise<{ synthetic: EncodedSide; assignment: Assignment }> {
  const synthetic = await loadEncoded(store, runId, shards, 'synthetic');
  const assignment = await loadAssignment(store, runId);
  if (assignment.nearest.length !== synthetic.rows.length) {
    throw new WorkerError(
      WorkerErrorCode.Input,
      `the assignment lists ${assignment.nearest.length} synthetic images, the encode shards hold ${synthetic.rows.length}`,
    );
  }
  return { synthetic, assignment };
}

/** Per negative index, its position in Y*⁻ (`subset`), or −1. */
export function positionsOf(subset: readonly number[], negativeCount: number): Int32Array {
  const positions = new Int32Array(negativeCount).fill(-1);
  subset.forEach((j, p) => {
    positions[j] = p;
  });
  return positions;
}

/**
 * `projection.bin`: the head as one float32 `.npy` array of shape `[d + 3, d]`: the rows of W (torch's
 * `[out, in]` layout), then the bias, γ and β rows. ε is always {@link PROJECTION_LN_EPS}.
 */
export function projectionBytes(head: ProjectionHead): Uint8Array {
  const d = head.dim;
  const data = new Float32Array((d + 3) * d);
  data.set(head.weight, 0);
  data.set(head.bias, d * d);
  data.set(head.gamma, (d + 1) * d);
  data.set(head.beta, (d + 2) * d);
  return encodeNpy({ dtype: 'float32', shape: [d + 3, d], data });
}

/**
 * Reads `projection.bin` (see {@link projectionBytes}).
 *
 * @throws WorkerError `WORKER_ERR_INPUT` for a missing or malformed file.
 */
export async function loadProjection(store: ArtifactStore, runId: string): Promise<ProjectionHead> {
  const key = stageKey({ runId, stage: 'train-projection' }, ARTIFACTS['train-projection'].projection);
  const bytes = await readInput(store, key, 'the projection head', 'the train-projection stage');
  let m: Matrix;
  try {
    m = npyToMatrix(decodeNpy(bytes), key);
  } catch (error) {
    throw new WorkerError(WorkerErrorCode.Input, `${key} is not a projection head: ${String(error)}`, {
      cause: error,
    });
  }
  const d = m.cols;
  if (m.rows !== d + 3) {
    throw new WorkerError(WorkerErrorCode.Input, `${key} is ${m.rows}×${d}, a projection head is (d + 3)×d`);
  }
  return {
    dim: d,
    weight: m.data.slice(0, d * d),
    bias: m.data.slice(d * d, (d + 1) * d),
    gamma: m.data.slice((d + 1) * d, (d + 2) * d),
    beta: m.data.slice((d + 2) * d, (d + 3) * d),
    lnEps: PROJECTION_LN_EPS,
  };
}

/** The fine-tuned Y*⁻ label vectors (rows in assignment `subset` order). */
export function loadLabels(store: ArtifactStore, runId: string): Promise<Matrix> {
  return readMatrix(
    store,
    stageKey({ runId, stage: 'train-labels' }, ARTIFACTS['train-labels'].labels),
    'the fine-tuned labels',
    'the train-labels stage',
  );
}

/** Seed of the NegLabel grouping permutation of a run (same for SynOOD and the NegLabel baseline). */
export function groupingSeed(spec: RunSpec): string {
  return deriveSeed(spec.seed, 'neglabel-groups');
}

/**
 * Groups G actually used: the configured count, at most M (NegLabel needs at least one negative per
 * group; only tiny corpora hit this).
 */
export function effectiveGroups(spec: RunSpec, negatives: number): number {
  return Math.max(1, Math.min(spec.stages.score.groups, negatives));
}

/** Everything a detector is built from, as loaded from the run. */
export interface DetectorInputs {
  /** Class names of the InD labels (the plan's), in class order. */
  classes: string[];
  mined: Mined;
  assignment: Assignment;
  projection: ProjectionHead;
  labels: Matrix;
}

/** Loads the inputs of {@link assembleDetector}. */
export async function loadDetectorInputs(store: ArtifactStore, runId: string): Promise<DetectorInputs> {
  const plan = await readPlan(store, runId);
  const mined = await loadMined(store, runId);
  if (mined.indText.rows !== plan.classes.length) {
    throw new WorkerError(
      WorkerErrorCode.Input,
      `the mine stage encoded ${mined.indText.rows} InD prompts but the plan has ${plan.classes.length} classes`,
    );
  }
  const assignment = await loadAssignment(store, runId);
  const projection = await loadProjection(store, runId);
  const labels = await loadLabels(store, runId);
  if (labels.rows !== assignment.subset.length) {
    throw new WorkerError(
      WorkerErrorCode.Input,
      `labels.npy has ${labels.rows} rows for the ${assignment.subset.length} labels of Y*⁻`,
    );
  }
  return { classes: plan.classes, mined, assignment, projection, labels };
}

/**
 * The run's SynOOD detector (design §4 inference): projected image features, the grouped NegLabel score
 * over the InD prompts and the negatives whose Y*⁻ rows are the fine-tuned vectors.
 */
export function assembleDetector(
  spec: RunSpec,
  runId: string,
  inputs: DetectorInputs,
  threshold: number | null,
): SynoodDetector {
  const { classes, mined, assignment, projection, labels } = inputs;
  const groups = effectiveGroups(spec, mined.negatives.labels.length);
  return buildDetector({
    indLabels: classes,
    indFeatures: mined.indText,
    negativeLabels: mined.negatives.labels,
    negativeFeatures: mined.negativeText,
    ...(labels.rows > 0 ? { finetuned: { rows: Int32Array.from(assignment.subset), features: labels } } : {}),
    projection,
    scale: spec.stages.score.scale,
    groups,
    seed: groupingSeed(spec),
    threshold,
    metadata: {
      runId,
      backbone: spec.models.clip,
      groupsConfigured: spec.stages.score.groups,
      tpr: spec.stages.evaluation.tpr,
      finetuned: assignment.subset.length,
    },
  });
}
