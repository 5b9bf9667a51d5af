/**
 * Fixtures of the trainer tests: the shared ones from `@synood/test-fixtures`, plus hand-made encode and mine outputs.
 */
import { ARTIFACTS } from '@synood/contracts';
import { artifactKey, type FileStore } from '@synood/storage';
import { type ClipFiles, type TinyRun, fixtureEnv as sharedEnv } from '@synood/test-fixtures';
import { type Matrix, encodeNpy } from '@synood/tensor';

export * from '@synood/test-fixtures';

/** The trainer's environment on the fixtures: the shared one, evaluating two images per batch. */
export function fixtureEnv(storageDir: string, clip: ClipFiles): Record<string, string> {
  return sharedEnv(storageDir, clip, { SYNOOD_EVAL_BATCH_SIZE: '2' });
}

/** A matrix from rows of numbers. */
export function mat(rows: readonly (readonly number[])[], cols = rows[0]?.length ?? 0): Matrix {
  return { rows: rows.length, cols, data: Float32Array.from(rows.flat()) };
}

/** Stores a matrix as float32 `.npy`. */
export async function putMatrix(store: FileStore, key: string, m: Matrix): Promise<void> {
  await store.put(key, encodeNpy({ dtype: 'float32', shape: [m.rows, m.cols], data: m.data }));
}

/** One side of an encode shard, as the encode stage writes it. */
export interface EncodedRows {
  rows: { id: string; classIndex: number }[];
  features: number[][];
}

/** Writes an encode shard's output (`ind.npy`, `synthetic.npy`, `rows.json`) from hand-made features. */
export async function writeEncoded(
  run: TinyRun,
  shard: number,
  ind: EncodedRows,
  synthetic: EncodedRows,
  dim: number,
): Promise<void> {
  const at = (name: string): string => artifactKey({ runId: run.runId, stage: 'encode', shard, name });
  await putMatrix(run.store, at(ARTIFACTS.encode.ind), mat(ind.features, dim));
  await putMatrix(run.store, at(ARTIFACTS.encode.synthetic), mat(synthetic.features, dim));
  await run.store.put(
    at(ARTIFACTS.encode.rows),
    Buffer.from(JSON.stringify({ ind: ind.rows, synthetic: synthetic.rows, failures: [] })),
  );
}

/** The mine stage's output from hand-made features. */
export interface MinedInput {
  labels: string[];
  pos: ('noun' | 'adj')[];
  indText: number[][];
  negativeText: number[][];
  negativeRaw: number[][];
}

/** Writes the mine stage's output. */
export async function writeMined(run: TinyRun, mined: MinedInput): Promise<void> {
  const at = (name: string): string => artifactKey({ runId: run.runId, stage: 'mine', name });
  await run.store.put(
    at(ARTIFACTS.mine.negatives),
    Buffer.from(
      JSON.stringify({ labels: mined.labels, pos: mined.pos, candidates: mined.labels.length * 2 }),
    ),
  );
  await putMatrix(run.store, at(ARTIFACTS.mine.indText), mat(mined.indText));
  await putMatrix(run.store, at(ARTIFACTS.mine.negativeText), mat(mined.negativeText));
  await putMatrix(run.store, at(ARTIFACTS.mine.negativeTextRaw), mat(mined.negativeRaw));
}
