import { type LinalgBackend, type Matrix, l2NormalizeRows, quantileSorted, rowSlice } from '@synood/tensor';
import { OOD_ERROR_CODES, OodError } from './errors';
import type { CandidatePos, LabelCandidate } from './wordnet';

/** Prompt template per part of speech; `{}` marks where the word goes (Python `str.format` style). */
export interface PromptTemplates {
  readonly noun: string;
  readonly adj: string;
}

/**
 * NegLabel's templates: `prompt_templates[85]` for nouns (the same as for the InD class names) and its
 * fixed adjective template, neither with a trailing period.
 */
export const DEFAULT_PROMPT_TEMPLATES: Readonly<PromptTemplates> = Object.freeze({
  noun: 'the nice {}',
  adj: 'This is a {} photo',
});

/**
 * A coded error of negative mining: code `OOD_ERR_SHAPE` for mismatched features, `OOD_ERR_BAD_ARGUMENT`
 * for values out of range. `argument` names the offending argument.
 */
export class MiningError extends OodError {
  constructor(
    code: (typeof OOD_ERROR_CODES)[keyof typeof OOD_ERROR_CODES],
    readonly argument: string,
    message: string,
  ) {
    super(code, `${argument}: ${message}`);
  }
}

function fillTemplate(template: string, text: string, argument: string): string {
  const at = template.indexOf('{}');
  if (at < 0 || template.includes('{}', at + 2)) {
    throw new MiningError(
      OOD_ERROR_CODES.badArgument,
      argument,
      `template must contain exactly one "{}", got "${template}"`,
    );
  }
  return template.slice(0, at) + text + template.slice(at + 2);
}

/** The prompt text of a candidate: its part of speech's template filled with its text. */
export function promptFor(
  candidate: LabelCandidate,
  templates: PromptTemplates = DEFAULT_PROMPT_TEMPLATES,
): string {
  switch (candidate.pos) {
    case 'noun':
      return fillTemplate(templates.noun, candidate.text, 'templates.noun');
    case 'adj':
      return fillTemplate(templates.adj, candidate.text, 'templates.adj');
    default:
      return unknownPos(candidate.pos, 'candidate.pos');
  }
}

/**
 * The prompt of every candidate, in candidate order: the texts whose encoded features
 * {@link mineNegativeLabels} expects as `candidateFeatures`.
 */
export function candidatePrompts(
  candidates: readonly LabelCandidate[],
  templates: PromptTemplates = DEFAULT_PROMPT_TEMPLATES,
): string[] {
  return candidates.map((c) => promptFor(c, templates));
}

function unknownPos(pos: never, argument: string): never {
  throw new MiningError(
    OOD_ERROR_CODES.badArgument,
    argument,
    `part of speech must be 'noun' or 'adj', got ${JSON.stringify(pos)}`,
  );
}

/** Arguments of {@link mineNegativeLabels}; defaults are NegLabel's (design §4). */
export interface MineNegativeLabelsOptions {
  /** The candidate corpus, e.g. from `wordnetCandidates`. */
  readonly candidates: readonly LabelCandidate[];
  /** Text features of `candidatePrompts(candidates, templates)`, one row per candidate; need not be normalised. */
  readonly candidateFeatures: Matrix;
  /** Text features of the InD prompts (for ImageNet: `the nice <class name>`); need not be normalised. */
  readonly indFeatures: Matrix;
  /** Runs the similarity products. */
  readonly backend: LinalgBackend;
  /**
   * Quantile of each candidate's cosines to the InD prompts that ranks it (NegLabel's `pencentile`;
   * the paper's η = 1 − percentile).
   * @defaultValue 0.95
   */
  readonly percentile?: number;
  /** Fraction of each part of speech kept, rounded down (NegLabel's `neg_topk`). @defaultValue 0.15 */
  readonly keepFraction?: number;
  /** Candidates per similarity product; bounds memory at batchRows × InD count floats. @defaultValue 4096 */
  readonly batchRows?: number;
  /** Templates the features were encoded with; only used to fill `prompt`. @defaultValue DEFAULT_PROMPT_TEMPLATES */
  readonly templates?: PromptTemplates;
}

/** One selected negative label. */
export interface MinedLabel {
  readonly text: string;
  readonly pos: CandidatePos;
  /** The encoded text: the template filled with `text`. */
  readonly prompt: string;
  /** The candidate's `percentile` quantile of cosine similarity to the InD prompts. */
  readonly score: number;
  /** Index into `candidates` (and rows of `candidateFeatures`). */
  readonly candidateIndex: number;
}

/** Result of {@link mineNegativeLabels}. */
export interface NegativeMiningResult {
  /** Selected nouns by ascending score, then selected adjectives by ascending score. */
  readonly labels: MinedLabel[];
  /** Number of selected nouns: `labels[0 .. nounCount)`. */
  readonly nounCount: number;
  /** Number of selected adjectives: `labels[nounCount ..)`. */
  readonly adjCount: number;
  /** The score of every candidate, in candidate order (for diagnostics and re-thresholding). */
  readonly candidateScores: Float64Array;
}

function checkFinite(m: Matrix, argument: string): void {
  const d = m.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) {
      throw new MiningError(
        OOD_ERROR_CODES.badArgument,
        argument,
        `row ${Math.floor(i / m.cols)} has a non-finite value (${d[i]!})`,
      );
    }
  }
}

function checkArguments(o: MineNegativeLabelsOptions, percentile: number, keep: number, batch: number): void {
  const { candidates, candidateFeatures: cf, indFeatures: ind } = o;
  const shape = (argument: string, message: string): MiningError =>
    new MiningError(OOD_ERROR_CODES.shape, argument, message);
  const range = (argument: string, message: string): MiningError =>
    new MiningError(OOD_ERROR_CODES.badArgument, argument, message);
  if (cf.rows !== candidates.length) {
    throw shape('candidateFeatures', `has ${cf.rows} rows for ${candidates.length} candidates`);
  }
  if (ind.rows < 1) {
    throw shape('indFeatures', 'needs at least one InD prompt');
  }
  if (ind.cols < 1 || cf.cols !== ind.cols) {
    throw shape('indFeatures', `features are ${ind.cols}-d, candidate features are ${cf.cols}-d`);
  }
  if (!(percentile >= 0 && percentile <= 1)) {
    throw range('percentile', `must be in [0, 1], got ${percentile}`);
  }
  if (!(keep >= 0 && keep <= 1)) {
    throw range('keepFraction', `must be in [0, 1], got ${keep}`);
  }
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw range('batchRows', `must be a positive integer, got ${batch}`);
  }
}

/**
 * NegLabel's NegMining: ranks every candidate by the `percentile` quantile (linear interpolation, as
 * `torch.quantile`) of its cosine similarities to the InD prompts, then keeps, separately for nouns and
 * adjectives, the ⌊count·keepFraction⌋ candidates with the lowest value: the ones least like any InD
 * class. The result lists the selected nouns in ascending order, then the selected adjectives in
 * ascending order, NegLabel's column layout (the score's grouping drops the last M mod G columns, so
 * this order matters).
 *
 * Ties keep candidate order (a stable sort); the reference's `torch.argsort` is not stable, which only
 * matters for exactly equal scores. The fraction is rounded down with the same float64 arithmetic as
 * the reference's `int(len · neg_topk)`.
 *
 * Features are L2-normalised here. Cost: one candidates × InD similarity product, in batches of
 * `batchRows` rows, plus a sort of each candidate's InD similarities (into one reused buffer).
 */
export async function mineNegativeLabels(options: MineNegativeLabelsOptions): Promise<NegativeMiningResult> {
  const { candidates, candidateFeatures, indFeatures, backend } = options;
  const percentile = options.percentile ?? 0.95;
  const keepFraction = options.keepFraction ?? 0.15;
  const batchRows = options.batchRows ?? 4096;
  const templates = options.templates ?? DEFAULT_PROMPT_TEMPLATES;
  checkArguments(options, percentile, keepFraction, batchRows);
  // Validate the templates before the expensive part rather than when filling the first prompt.
  fillTemplate(templates.noun, '', 'templates.noun');
  fillTemplate(templates.adj, '', 'templates.adj');
  // Non-finite features would poison the ranking through NaN comparisons; name them up front instead.
  checkFinite(candidateFeatures, 'candidateFeatures');
  checkFinite(indFeatures, 'indFeatures');

  const nounIdx: number[] = [];
  const adjIdx: number[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const pos = candidates[i]!.pos;
    switch (pos) {
      case 'noun':
        nounIdx.push(i);
        break;
      case 'adj':
        adjIdx.push(i);
        break;
      default:
        unknownPos(pos, `candidates[${i}].pos`);
    }
  }

  const ind = l2NormalizeRows(indFeatures);
  const k = ind.rows;
  const scores = new Float64Array(candidates.length);
  const sorted = new Float64Array(k);
  for (let start = 0; start < candidates.length; start += batchRows) {
    const end = Math.min(candidates.length, start + batchRows);
    const sims = await backend.gemm(l2NormalizeRows(rowSlice(candidateFeatures, start, end)), ind, {
      transB: true,
    });
    if (sims.rows !== end - start || sims.cols !== k) {
      throw new MiningError(
        OOD_ERROR_CODES.shape,
        'backend',
        `gemm returned ${sims.rows}×${sims.cols}, expected ${end - start}×${k}`,
      );
    }
    const d = sims.data;
    for (let i = 0; i < sims.rows; i++) {
      const o = i * k;
      for (let j = 0; j < k; j++) {
        sorted[j] = d[o + j]!;
      }
      sorted.sort();
      scores[start + i] = quantileSorted(sorted, percentile);
    }
  }

  const ascending = (a: number, b: number): number => scores[a]! - scores[b]! || a - b;
  const select = (indices: number[]): MinedLabel[] =>
    indices
      .sort(ascending)
      .slice(0, Math.floor(indices.length * keepFraction))
      .map((i) => {
        const c = candidates[i]!;
        return {
          text: c.text,
          pos: c.pos,
          prompt: promptFor(c, templates),
          score: scores[i]!,
          candidateIndex: i,
        };
      });
  const nouns = select(nounIdx);
  const adjs = select(adjIdx);
  return {
    labels: [...nouns, ...adjs],
    nounCount: nouns.length,
    adjCount: adjs.length,
    candidateScores: scores,
  };
}
