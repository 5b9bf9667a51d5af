/**
 * OOD evaluation metrics exactly as NegLabel's `mmcls/utils/ood_evaluate.py` computes them (the
 * numbers SynOOD copies for its baselines). Throughout, **InD is the positive class** and a higher
 * score means "more in-distribution".
 */

/** Stable codes of {@link OodMetricsError}; callers map them to exit codes or HTTP statuses. */
export type OodMetricsErrorCode =
  | 'OOD_ERR_EMPTY_SCORES'
  | 'OOD_ERR_NONFINITE_SCORE'
  | 'OOD_ERR_BAD_RECALL_LEVEL'
  | 'OOD_ERR_EMPTY_TABLE'
  | 'OOD_ERR_DUPLICATE_DATASET';

/** Thrown on unusable metric inputs; the message names the side (`ind` / `ood`) and index at fault. */
export class OodMetricsError extends Error {
  override readonly name = 'OodMetricsError';
  constructor(
    readonly code: OodMetricsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The four standard OOD metrics, each a fraction in [0, 1]. */
export interface OodMetrics {
  /** Area under the ROC curve, ties credited 1/2 (sklearn `roc_auc_score`). */
  readonly auroc: number;
  /** False-positive rate at (approximately, see {@link fpr95}) 95% InD recall. */
  readonly fpr95: number;
  /** Average precision with InD as the positive class. */
  readonly auprIn: number;
  /** Average precision with OOD as the positive class and negated scores. */
  readonly auprOut: number;
}

/**
 * Both score sets grouped by distinct value, highest value first: group k holds `pos[k]` InD and
 * `neg[k]` OOD scores equal to that value. Every metric here is a function of these counts alone,
 * which is what makes them independent of the order of tied scores.
 */
interface TieGroups {
  readonly pos: Int32Array;
  readonly neg: Int32Array;
  readonly length: number;
  readonly nPos: number;
  readonly nNeg: number;
}

type Side = 'ind' | 'ood';

function checkedSortedCopy(values: ArrayLike<number>, side: Side, context: string): Float64Array {
  if (values.length === 0) {
    throw new OodMetricsError(
      'OOD_ERR_EMPTY_SCORES',
      `${context}${side} scores are empty: need at least one`,
    );
  }
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // Checked per element rather than after the copy so that a non-number in a plain JS array is
    // reported as itself, not as the NaN the typed-array conversion would turn it into.
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new OodMetricsError(
        'OOD_ERR_NONFINITE_SCORE',
        `${context}${side} score at index ${i} is ${String(v)}: every score must be a finite number`,
      );
    }
    out[i] = v;
  }
  return out.sort();
}

function tieGroups(ind: ArrayLike<number>, ood: ArrayLike<number>, context = ''): TieGroups {
  const a = checkedSortedCopy(ind, 'ind', context);
  const b = checkedSortedCopy(ood, 'ood', context);
  const pos = new Int32Array(a.length + b.length);
  const neg = new Int32Array(a.length + b.length);
  let i = a.length - 1;
  let j = b.length - 1;
  let k = 0;
  // Merge from the top; -Infinity is a safe "exhausted" marker because every score is finite.
  // Equality is `===`, so -0 and +0 share a group, as they do in numpy's `np.diff`.
  while (i >= 0 || j >= 0) {
    const v = Math.max(i >= 0 ? a[i]! : -Infinity, j >= 0 ? b[j]! : -Infinity);
    let p = 0;
    let q = 0;
    while (i >= 0 && a[i] === v) {
      p++;
      i--;
    }
    while (j >= 0 && b[j] === v) {
      q++;
      j--;
    }
    pos[k] = p;
    neg[k] = q;
    k++;
  }
  return { pos, neg, length: k, nPos: a.length, nNeg: b.length };
}

function aurocOf(g: TieGroups): number {
  // Twice the Mann–Whitney U, so that half credits for ties stay integers and the sum is exact
  // (below 2^53 for any realistic n_ind·n_ood); one final division is the only rounding.
  let twiceU = 0;
  let negAbove = 0;
  for (let k = 0; k < g.length; k++) {
    const p = g.pos[k]!;
    const q = g.neg[k]!;
    twiceU += p * (2 * (g.nNeg - negAbove - q) + q);
    negAbove += q;
  }
  return twiceU / (2 * g.nPos * g.nNeg);
}

function fprAtRecallOf(g: TieGroups, recallLevel: number): number {
  const nPos = g.nPos;
  // tps/fps at threshold k are the cumulative counts through group k, which is what
  // `cumsum(labels)[threshold_idxs]` and `1 + threshold_idxs - tps` evaluate to.
  const tps = new Float64Array(g.length);
  const fps = new Float64Array(g.length);
  let tp = 0;
  let fp = 0;
  let lastInd = -1;
  for (let k = 0; k < g.length; k++) {
    tp += g.pos[k]!;
    fp += g.neg[k]!;
    tps[k] = tp;
    fps[k] = fp;
    if (lastInd < 0 && tp === nPos) {
      lastInd = k; // tps.searchsorted(tps[-1]): the first threshold reaching full recall
    }
  }
  // Walk [last_ind::-1] and then the (recall 1, fps 0) sentinel, keeping the FIRST minimum of
  // |recall − level| as np.argmin does. recall is tps / tps[-1] divided exactly as numpy does, so
  // float rounding breaks mathematical ties the same way it does in the reference.
  let bestDist = Infinity;
  let bestFps = 0;
  for (let k = lastInd; k >= 0; k--) {
    const dist = Math.abs(tps[k]! / nPos - recallLevel);
    if (dist < bestDist) {
      bestDist = dist;
      bestFps = fps[k]!;
    }
  }
  if (Math.abs(1 - recallLevel) < bestDist) {
    bestFps = 0; // unreachable: position 0 already has recall exactly 1; kept for fidelity
  }
  return bestFps / g.nNeg;
}

function averagePrecisionOf(g: TieGroups, positive: Side): number {
  // OOD-positive with negated scores visits the same groups bottom-up with the roles swapped;
  // negating a finite score neither merges nor splits tie groups.
  const posCounts = positive === 'ind' ? g.pos : g.neg;
  const negCounts = positive === 'ind' ? g.neg : g.pos;
  const nPos = positive === 'ind' ? g.nPos : g.nNeg;
  const start = positive === 'ind' ? 0 : g.length - 1;
  const step = positive === 'ind' ? 1 : -1;
  let ap = 0;
  let tp = 0;
  let fp = 0;
  for (let n = 0, k = start; n < g.length; n++, k += step) {
    const p = posCounts[k]!;
    const prevRecall = tp / nPos;
    tp += p;
    fp += negCounts[k]!;
    if (p > 0) {
      ap += (tp / nPos - prevRecall) * (tp / (tp + fp));
    }
  }
  return ap;
}

function checkRecallLevel(recallLevel: number): void {
  if (!(recallLevel > 0 && recallLevel <= 1)) {
    throw new OodMetricsError(
      'OOD_ERR_BAD_RECALL_LEVEL',
      `recallLevel must be in (0, 1], got ${String(recallLevel)}`,
    );
  }
}

/**
 * AUROC with InD positive: the Mann–Whitney statistic P(ind > ood) + ½·P(ind = ood), which equals
 * sklearn's `roc_auc_score(labels, scores)` (the trapezoid over the tie-grouped ROC curve is the
 * same number). O(n log n).
 *
 * @param ind - InD scores (higher = more InD); at least one, all finite.
 * @param ood - OOD scores; at least one, all finite.
 * @throws {@link OodMetricsError} `OOD_ERR_EMPTY_SCORES` or `OOD_ERR_NONFINITE_SCORE`.
 */
export function auroc(ind: ArrayLike<number>, ood: ArrayLike<number>): number {
  return aurocOf(tieGroups(ind, ood));
}

/**
 * FPR at `recallLevel` InD recall, reproducing Outlier Exposure's / NegLabel's
 * `fpr_and_fdr_at_recall(labels, scores, recall_level)` step by step:
 * scores sorted descending, one threshold per distinct score value, tps/fps cumulative counts at
 * each threshold, recall = tps / #InD; the thresholds from the first one reaching full recall back up
 * to the highest one, plus a sentinel (recall 1, fps 0), are searched for the first minimum of
 * |recall − recallLevel|; the result is fps there / #OOD.
 *
 * Quirks kept on purpose, so numbers match published tables:
 * - The chosen recall is the *nearest* one, which may be below `recallLevel`: with 10 InD scores,
 *   recall 0.9 and 1.0 are mathematically equidistant from 0.95, but in float64
 *   |0.9 − 0.95| < |1.0 − 0.95|, so recall 0.9 is chosen.
 * - Among thresholds with the same recall, the search order (lowest threshold first) picks the lowest
 *   one, i.e. the one with the most false positives for that recall.
 * - A tie group is never split: recall jumps over any level inside a group of tied scores.
 * - The sentinel can never be chosen (the first candidate already has recall exactly 1).
 *
 * @param ind - InD scores (higher = more InD); at least one, all finite.
 * @param ood - OOD scores; at least one, all finite.
 * @param recallLevel - target InD recall (true-positive rate), in (0, 1].
 * @throws {@link OodMetricsError} `OOD_ERR_EMPTY_SCORES`, `OOD_ERR_NONFINITE_SCORE` or
 *   `OOD_ERR_BAD_RECALL_LEVEL`.
 */
export function fpr95(ind: ArrayLike<number>, ood: ArrayLike<number>, recallLevel = 0.95): number {
  checkRecallLevel(recallLevel);
  return fprAtRecallOf(tieGroups(ind, ood), recallLevel);
}

/**
 * AUPR-In: sklearn `average_precision_score(labels, scores)` with InD labelled 1, i.e.
 * Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the distinct score values taken as thresholds from the highest down
 * (R₀ = 0); tied scores are one threshold, so no interpolation between them.
 *
 * @param ind - InD scores (higher = more InD); at least one, all finite.
 * @param ood - OOD scores; at least one, all finite.
 * @throws {@link OodMetricsError} `OOD_ERR_EMPTY_SCORES` or `OOD_ERR_NONFINITE_SCORE`.
 */
export function auprIn(ind: ArrayLike<number>, ood: ArrayLike<number>): number {
  return averagePrecisionOf(tieGroups(ind, ood), 'ind');
}

/**
 * AUPR-Out: sklearn `average_precision_score` with OOD labelled 1 and the scores negated, i.e. the
 * same step-wise sum as {@link auprIn} taken from the lowest score up with the classes swapped.
 *
 * @param ind - InD scores (higher = more InD); at least one, all finite.
 * @param ood - OOD scores; at least one, all finite.
 * @throws {@link OodMetricsError} `OOD_ERR_EMPTY_SCORES` or `OOD_ERR_NONFINITE_SCORE`.
 */
export function auprOut(ind: ArrayLike<number>, ood: ArrayLike<number>): number {
  return averagePrecisionOf(tieGroups(ind, ood), 'ood');
}

function metricsOf(g: TieGroups): OodMetrics {
  return {
    auroc: aurocOf(g),
    fpr95: fprAtRecallOf(g, 0.95),
    auprIn: averagePrecisionOf(g, 'ind'),
    auprOut: averagePrecisionOf(g, 'ood'),
  };
}

/**
 * All four metrics of one InD/OOD pair ({@link auroc}, {@link fpr95} at 0.95, {@link auprIn},
 * {@link auprOut}), sorting the scores once.
 *
 * @throws {@link OodMetricsError} `OOD_ERR_EMPTY_SCORES` or `OOD_ERR_NONFINITE_SCORE`.
 */
export function oodMetrics(ind: ArrayLike<number>, ood: ArrayLike<number>): OodMetrics {
  return metricsOf(tieGroups(ind, ood));
}

/** One OOD data set to evaluate in {@link metricsTable}. */
export interface MetricsTableInput {
  /** Name of the OOD data set, unique within the table (e.g. `iNaturalist`). */
  readonly dataset: string;
  /** Optional group for a per-group mean, e.g. `near` / `far` as in OpenOOD v1.5. */
  readonly group?: string;
  /** InD scores; usually the same array for every row. */
  readonly ind: ArrayLike<number>;
  /** Scores of this OOD data set. */
  readonly ood: ArrayLike<number>;
}

/** The metrics of one OOD data set. */
export interface MetricsTableRow extends OodMetrics {
  readonly dataset: string;
  readonly group?: string;
  /** Number of InD scores. */
  readonly nInd: number;
  /** Number of OOD scores. */
  readonly nOod: number;
}

/** The plain mean of the metrics over the data sets of one group. */
export interface MetricsGroupMean extends OodMetrics {
  readonly group: string;
  /** The data sets averaged, in table order. */
  readonly datasets: readonly string[];
}

/** Result of {@link metricsTable}. */
export interface MetricsTable {
  /** One row per input, in input order. */
  readonly rows: readonly MetricsTableRow[];
  /** Plain (unweighted) mean over all data sets, as NegLabel and SynOOD report "Average". */
  readonly mean: OodMetrics;
  /** Per-group means, in order of each group's first appearance; empty when no row has a group. */
  readonly groups: readonly MetricsGroupMean[];
}

function meanOf(rows: readonly OodMetrics[]): OodMetrics {
  let auroc = 0;
  let fpr95 = 0;
  let auprIn = 0;
  let auprOut = 0;
  for (const r of rows) {
    auroc += r.auroc;
    fpr95 += r.fpr95;
    auprIn += r.auprIn;
    auprOut += r.auprOut;
  }
  const n = rows.length;
  return { auroc: auroc / n, fpr95: fpr95 / n, auprIn: auprIn / n, auprOut: auprOut / n };
}

/**
 * Metrics per OOD data set plus their plain mean (each data set weighs the same regardless of its
 * size, as in the papers' "Average" column) and, for rows that have a `group`, per-group means.
 *
 * @throws {@link OodMetricsError} `OOD_ERR_EMPTY_TABLE` for no rows, `OOD_ERR_DUPLICATE_DATASET` for a
 *   repeated name, or the errors of {@link oodMetrics} with the data set named in the message.
 */
export function metricsTable(inputs: readonly MetricsTableInput[]): MetricsTable {
  if (inputs.length === 0) {
    throw new OodMetricsError('OOD_ERR_EMPTY_TABLE', 'metricsTable needs at least one data set');
  }
  const seen = new Set<string>();
  const rows: MetricsTableRow[] = [];
  const byGroup = new Map<string, MetricsTableRow[]>();
  for (const input of inputs) {
    if (seen.has(input.dataset)) {
      throw new OodMetricsError(
        'OOD_ERR_DUPLICATE_DATASET',
        `data set "${input.dataset}" appears more than once in the table`,
      );
    }
    seen.add(input.dataset);
    const metrics = metricsOf(tieGroups(input.ind, input.ood, `data set "${input.dataset}": `));
    const row: MetricsTableRow = {
      dataset: input.dataset,
      ...(input.group === undefined ? {} : { group: input.group }),
      nInd: input.ind.length,
      nOod: input.ood.length,
      ...metrics,
    };
    rows.push(row);
    if (input.group !== undefined) {
      const members = byGroup.get(input.group);
      if (members === undefined) {
        byGroup.set(input.group, [row]);
      } else {
        members.push(row);
      }
    }
  }
  const groups = [...byGroup].map(([group, members]): MetricsGroupMean => ({
    group,
    datasets: members.map((m) => m.dataset),
    ...meanOf(members),
  }));
  return { rows, mean: meanOf(rows), groups };
}
