import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_PROMPT_TEMPLATES,
  type LabelCandidate,
  MiningError,
  type MineNegativeLabelsOptions,
  OodError,
  candidatePrompts,
  mineNegativeLabels,
  promptFor,
} from '@synood/ood';
import { TypeScriptBackend, matrix } from '@synood/tensor';

/*
 * Hand-computable case, 3-d features.
 *
 * InD prompts (raw, normalised inside): (2,0,0), (0,3,0), (0,0,0.5), (−4,0,0) → e1, e2, e3, −e1.
 * A unit candidate (a, b, c) has the 4 cosines {a, b, c, −a}. With K = 4 and q = 0.95 the quantile
 * position is 0.95·3 = 2.85, so with the cosines sorted ascending as s0..s3 the score is
 * s2 + 0.85·(s3 − s2) = 0.15·s2 + 0.85·s3.
 *
 *   idx  name  pos   vector            sorted cosines         score
 *   0    n0    noun  (0.6, 0.8, 0)     [−0.6, 0, 0.6, 0.8]    0.15·0.6 + 0.85·0.8 = 0.77
 *   1    a0    adj   (0, 1, 0)         [0, 0, 0, 1]           0.85
 *   2    n1    noun  (0, 0, 5)         [0, 0, 0, 1]           0.85
 *   3    n2    noun  (0, −0.6, −0.8)   [−0.8, −0.6, 0, 0]     0
 *   4    a1    adj   (−0.8, 0, 0.6)    [−0.8, 0, 0.6, 0.8]    0.77
 *   5    n3    noun  (−0.6, 0, −0.8)   [−0.8, −0.6, 0, 0.6]   0.85·0.6 = 0.51
 *   6    a2    adj   (0, 0, −1)        [−1, 0, 0, 0]          0
 *   7    n4    noun  (0, −8, −6)       [−0.8, −0.6, 0, 0]     0   (ties n2 exactly: s2 = s3 = 0)
 *   8    n5    noun  (0.8, −0.6, 0)    [−0.8, −0.6, 0, 0.8]   0.85·0.8 = 0.68
 *   9    a3    adj   (0.6, −0.8, 0)    [−0.8, −0.6, 0, 0.6]   0.51
 *
 * Nouns ascending: n2 (3), n4 (7) [tie, candidate order], n3 (5), n5 (8), n0 (0), n1 (2).
 * Adjectives ascending: a2 (6), a3 (9), a1 (4), a0 (1).
 * keepFraction 0.5: ⌊6·0.5⌋ = 3 nouns, ⌊4·0.5⌋ = 2 adjectives → [3, 7, 5, 6, 9].
 * keepFraction 0.4: ⌊2.4⌋ = 2, ⌊1.6⌋ = 1 → [3, 7, 6]. Default 0.15: ⌊0.9⌋ = ⌊0.6⌋ = 0 → [].
 */
const CANDIDATES: LabelCandidate[] = [
  { text: 'n0', pos: 'noun' },
  { text: 'a0', pos: 'adj' },
  { text: 'n1', pos: 'noun' },
  { text: 'n2', pos: 'noun' },
  { text: 'a1', pos: 'adj' },
  { text: 'n3', pos: 'noun' },
  { text: 'a2', pos: 'adj' },
  { text: 'n4', pos: 'noun' },
  { text: 'n5', pos: 'noun' },
  { text: 'a3', pos: 'adj' },
];
const VECTORS = [
  [0.6, 0.8, 0],
  [0, 1, 0],
  [0, 0, 5],
  [0, -0.6, -0.8],
  [-0.8, 0, 0.6],
  [-0.6, 0, -0.8],
  [0, 0, -1],
  [0, -8, -6],
  [0.8, -0.6, 0],
  [0.6, -0.8, 0],
];
const EXPECTED_SCORES = [0.77, 0.85, 0.85, 0, 0.77, 0.51, 0, 0, 0.68, 0.51];
const candidateFeatures = matrix(10, 3, VECTORS.flat());
const indFeatures = matrix(4, 3, [2, 0, 0, 0, 3, 0, 0, 0, 0.5, -4, 0, 0]);
const backend = new TypeScriptBackend();

const base: MineNegativeLabelsOptions = { candidates: CANDIDATES, candidateFeatures, indFeatures, backend };

async function miningError(options: Partial<MineNegativeLabelsOptions>): Promise<MiningError> {
  try {
    await mineNegativeLabels({ ...base, ...options });
  } catch (err) {
    expect(err).toBeInstanceOf(MiningError);
    expect(err).toBeInstanceOf(OodError);
    return err as MiningError;
  }
  throw new Error('expected a MiningError');
}

describe('promptFor / candidatePrompts', () => {
  it("fills NegLabel's templates by part of speech, without a trailing period", () => {
    expect(DEFAULT_PROMPT_TEMPLATES).toEqual({ noun: 'the nice {}', adj: 'This is a {} photo' });
    expect(promptFor({ text: 'dining table', pos: 'noun' })).toBe('the nice dining table');
    expect(promptFor({ text: 'able', pos: 'adj' })).toBe('This is a able photo');
    expect(candidatePrompts(CANDIDATES.slice(0, 2))).toEqual(['the nice n0', 'This is a a0 photo']);
  });

  it('takes custom templates and inserts the text literally', () => {
    const t = { noun: 'a photo of a {}.', adj: '{} thing' };
    expect(
      candidatePrompts(
        [
          { text: "$& o'clock", pos: 'noun' },
          { text: 'red', pos: 'adj' },
        ],
        t,
      ),
    ).toEqual(["a photo of a $& o'clock.", 'red thing']);
  });

  it('rejects a template without exactly one placeholder', () => {
    expect(() => promptFor({ text: 'x', pos: 'noun' }, { noun: 'the nice', adj: '{}' })).toThrow(
      /templates\.noun/,
    );
    expect(() => promptFor({ text: 'x', pos: 'adj' }, { noun: '{}', adj: '{} {}' })).toThrow(MiningError);
  });
});

describe('mineNegativeLabels', () => {
  it('scores every candidate by the 95th-percentile cosine (linear interpolation)', async () => {
    const r = await mineNegativeLabels({ ...base, keepFraction: 1 });
    expect(r.candidateScores).toHaveLength(10);
    r.candidateScores.forEach((s, i) => {
      expect(s).toBeCloseTo(EXPECTED_SCORES[i]!, 6);
    });
  });

  it('ranks nouns and adjectives separately, ascending, ties in candidate order, nouns first', async () => {
    const r = await mineNegativeLabels({ ...base, keepFraction: 1 });
    expect(r.labels.map((l) => l.candidateIndex)).toEqual([3, 7, 5, 8, 0, 2, 6, 9, 4, 1]);
    expect(r.nounCount).toBe(6);
    expect(r.adjCount).toBe(4);
  });

  it('keeps ⌊count·keepFraction⌋ of each part of speech', async () => {
    const half = await mineNegativeLabels({ ...base, keepFraction: 0.5 });
    expect(half.labels.map((l) => l.candidateIndex)).toEqual([3, 7, 5, 6, 9]);
    expect([half.nounCount, half.adjCount]).toEqual([3, 2]);
    expect(half.labels[2]).toEqual({
      text: 'n3',
      pos: 'noun',
      prompt: 'the nice n3',
      score: expect.closeTo(0.51, 6),
      candidateIndex: 5,
    });
    expect(half.labels[4]!.prompt).toBe('This is a a3 photo');

    const r40 = await mineNegativeLabels({ ...base, keepFraction: 0.4 });
    expect(r40.labels.map((l) => l.text)).toEqual(['n2', 'n4', 'a2']);
    expect([r40.nounCount, r40.adjCount]).toEqual([2, 1]);

    const byDefault = await mineNegativeLabels(base);
    expect(byDefault.labels).toEqual([]);
    expect([byDefault.nounCount, byDefault.adjCount]).toEqual([0, 0]);
  });

  it('keeps candidate order among equal scores whatever the input order', async () => {
    const same = matrix(5, 3, Array.from({ length: 5 }, () => [0, -0.6, -0.8]).flat());
    const cands: LabelCandidate[] = ['e', 'd', 'c', 'b', 'a'].map((text) => ({ text, pos: 'noun' }));
    const r = await mineNegativeLabels({
      ...base,
      candidates: cands,
      candidateFeatures: same,
      keepFraction: 1,
    });
    expect(r.labels.map((l) => l.text)).toEqual(['e', 'd', 'c', 'b', 'a']);
  });

  it('does not depend on the batch size', async () => {
    const whole = await mineNegativeLabels({ ...base, keepFraction: 1 });
    for (const batchRows of [1, 3, 7, 10, 64]) {
      const r = await mineNegativeLabels({ ...base, keepFraction: 1, batchRows });
      expect(r.labels).toEqual(whole.labels);
      expect(r.candidateScores).toEqual(whole.candidateScores);
    }
  });

  it('honours percentile: 1 is the maximum cosine, 0.5 the midpoint of the middle two', async () => {
    const max = await mineNegativeLabels({ ...base, percentile: 1, keepFraction: 1 });
    [0.8, 1, 1, 0, 0.8, 0.6, 0, 0, 0.8, 0.6].forEach((v, i) => {
      expect(max.candidateScores[i]).toBeCloseTo(v, 6);
    });
    // n0: sorted [−0.6, 0, 0.6, 0.8], position 1.5 → (0 + 0.6) / 2.
    const mid = await mineNegativeLabels({ ...base, percentile: 0.5, keepFraction: 1 });
    expect(mid.candidateScores[0]).toBeCloseTo(0.3, 6);
  });

  it('accepts an empty corpus', async () => {
    const r = await mineNegativeLabels({ ...base, candidates: [], candidateFeatures: matrix(0, 3) });
    expect(r).toEqual({ labels: [], nounCount: 0, adjCount: 0, candidateScores: new Float64Array(0) });
  });

  it('names the bad argument in a coded error', async () => {
    const rows = await miningError({ candidates: CANDIDATES.slice(1) });
    expect([rows.code, rows.argument]).toEqual(['OOD_ERR_SHAPE', 'candidateFeatures']);
    const dims = await miningError({ indFeatures: matrix(4, 2) });
    expect([dims.code, dims.argument]).toEqual(['OOD_ERR_SHAPE', 'indFeatures']);
    expect(dims.message).toMatch(/2-d.*3-d/);
    expect((await miningError({ indFeatures: matrix(0, 3) })).argument).toBe('indFeatures');
    for (const percentile of [-0.01, 1.5, NaN]) {
      const e = await miningError({ percentile });
      expect([e.code, e.argument]).toEqual(['OOD_ERR_BAD_ARGUMENT', 'percentile']);
    }
    for (const keepFraction of [-0.1, 1.01, NaN]) {
      expect((await miningError({ keepFraction })).argument).toBe('keepFraction');
    }
    for (const batchRows of [0, 2.5, -1]) {
      expect((await miningError({ batchRows })).argument).toBe('batchRows');
    }
    const nan = matrix(10, 3, VECTORS.flat());
    nan.data[7] = NaN;
    const e = await miningError({ candidateFeatures: nan });
    expect(e.argument).toBe('candidateFeatures');
    expect(e.message).toMatch(/row 2/);
    const tpl = await miningError({ templates: { noun: 'the nice {}', adj: 'no placeholder' } });
    expect(tpl.argument).toBe('templates.adj');
    const badPos = [...CANDIDATES];
    badPos[4] = { text: 'v', pos: 'verb' as unknown as 'noun' };
    expect((await miningError({ candidates: badPos })).argument).toBe('candidates[4].pos');
  });
});
