/**
 * @file Stage inputs and outputs over the artifact store (design §6), shared verbatim by the worker services:
 * - reading inputs by their layout keys, where a missing or malformed input is a coded, permanent
 *   `WORKER_ERR_INPUT` naming the key and the stage that writes it, while a store that is down stays a
 *   retryable `STORAGE_ERR_UNAVAILABLE`;
 * - the done-marker protocol: check first (same config hash → `skipped`, nothing recomputed), write every
 *   artifact with its checksum, write the marker LAST, so no partial output ever looks finished.
 *
 * Artifacts never carry timestamps: a recomputation after a crash writes the same bytes. The marker holds
 * `createdAt` and the counts, so a skipped job can still report what the first run did.
 */
import {
  type DoneMarker,
  type RunSpec,
  type Stage,
  type StageResult,
  runRecordKey,
  runRecordSchema,
} from '@synood/contracts';
import {
  type ArtifactRecord,
  type ArtifactStore,
  type DoneManifest,
  StorageError,
  StorageErrorCode,
  artifactKey,
  artifactPrefix,
  putWithChecksum,
  readDoneMarker,
  writeDoneMarker,
} from '@synood/storage';
import { type Matrix, decodeNpy, encodeNpy, matrixToNpy, npyToMatrix } from '@synood/tensor';
import type { z } from 'zod';

import { WorkerError, WorkerErrorCode } from './errors';

/** One item (image) that failed inside a job. */
export interface ItemFailure {
  item: string;
  code: string;
  message: string;
}

/** Item counts of a job. */
export interface ItemCounts {
  processed: number;
  failed: number;
  skipped: number;
}

/** Where a stage's output goes: run, stage and (for per-shard stages) shard. */
export interface StageLocation {
  runId: string;
  stage: Stage;
  shard?: number;
}

function inputError(message: string, cause?: unknown): WorkerError {
  return new WorkerError(WorkerErrorCode.Input, message, cause === undefined ? undefined : { cause });
}

function isNotFound(error: unknown): boolean {
  return error instanceof StorageError && error.code === StorageErrorCode.NotFound;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The bytes under `key`.
 *
 * @param what names the input in messages, e.g. `the plan` or `encode shard 3's rows`.
 * @param writer the stage (or component) that writes it, for the hint.
 * @throws WorkerError `WORKER_ERR_INPUT` when the object does not exist; StorageError otherwise.
 */
export async function readInput(
  store: ArtifactStore,
  key: string,
  what: string,
  writer: string,
): Promise<Uint8Array> {
  try {
    return await store.get(key);
  } catch (error) {
    if (isNotFound(error)) {
      throw inputError(
        `${what} is missing: ${store.url}/${key} does not exist; it is written by ${writer}, which must finish first`,
        error,
      );
    }
    throw error;
  }
}

/**
 * A JSON input validated with `schema`.
 *
 * @throws WorkerError `WORKER_ERR_INPUT` for a missing object, invalid JSON or a schema mismatch (every
 * issue listed with its path).
 */
export async function readJson<T>(
  store: ArtifactStore,
  key: string,
  schema: z.ZodType<T>,
  what: string,
  writer: string,
): Promise<T> {
  const bytes = await readInput(store, key, what, writer);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw inputError(`${what} (${key}) is not valid JSON: ${describe(error)}`, error);
  }
  return parseWith(schema, value, `${what} (${key})`);
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw inputError(`${where} does not match its schema: ${issues}`);
  }
  return result.data;
}

/**
 * A JSON-lines input, each non-blank line validated with `schema`.
 *
 * @throws WorkerError `WORKER_ERR_INPUT` naming the line of the first bad one.
 */
export async function readJsonl<T>(
  store: ArtifactStore,
  key: string,
  schema: z.ZodType<T>,
  what: string,
  writer: string,
): Promise<T[]> {
  const text = Buffer.from(await readInput(store, key, what, writer)).toString('utf8');
  const out: T[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') {
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw inputError(`${what} (${key}) line ${i + 1} is not valid JSON: ${describe(error)}`, error);
    }
    out.push(parseWith(schema, value, `${what} (${key}) line ${i + 1}`));
  });
  return out;
}

/**
 * A 2-D float `.npy` input as a matrix.
 *
 * @throws WorkerError `WORKER_ERR_INPUT` for a missing object or a file that is not a 2-D float array.
 */
export async function readMatrix(
  store: ArtifactStore,
  key: string,
  what: string,
  writer: string,
): Promise<Matrix> {
  const bytes = await readInput(store, key, what, writer);
  try {
    return npyToMatrix(decodeNpy(bytes), key);
  } catch (error) {
    throw inputError(`${what} (${key}) is not a 2-D float .npy array: ${describe(error)}`, error);
  }
}

/**
 * The spec of run `runId` from its record (written by the API at submission).
 *
 * @throws WorkerError `WORKER_ERR_INPUT` when the record is missing or invalid.
 */
export async function readRunSpec(store: ArtifactStore, runId: string): Promise<RunSpec> {
  const record = await readJson(
    store,
    runRecordKey(runId),
    runRecordSchema,
    `run ${runId}'s record`,
    'the API',
  );
  return record.spec;
}

/** Key of an artifact of a stage (and shard). */
export function stageKey(location: StageLocation, name: string): string {
  return artifactKey({
    runId: location.runId,
    stage: location.stage,
    ...(location.shard === undefined ? {} : { shard: location.shard }),
    name,
  });
}

/** Folder of a stage (and shard): where its done-marker lives. */
export function stagePrefix(location: StageLocation): string {
  return artifactPrefix({
    runId: location.runId,
    stage: location.stage,
    ...(location.shard === undefined ? {} : { shard: location.shard }),
  });
}

/** A done-marker as this platform writes it: the contracts' fields plus the job's counts. */
export type StageMarker = DoneManifest & Partial<DoneMarker> & { counts?: ItemCounts };

/**
 * The done-marker of a stage if its work is finished for `configHash` (artifacts still there with their
 * recorded sizes), else undefined.
 */
export async function findDone(
  store: ArtifactStore,
  location: StageLocation,
  configHash: string,
): Promise<StageMarker | undefined> {
  return readDoneMarker(store, stagePrefix(location), configHash, { verifyArtifacts: true });
}

/** The result of a job whose done-marker matched: nothing recomputed, the recorded items count as skipped. */
export function skippedResult(marker: StageMarker, startedAt: number): StageResult {
  const counts = marker.counts ?? { processed: 0, failed: 0, skipped: 0 };
  return {
    status: 'skipped',
    counts: { processed: 0, failed: 0, skipped: counts.processed + counts.failed + counts.skipped },
    artifacts: marker.artifacts.map((a) => ({ key: a.key, size: a.size, sha256: a.sha256 })),
    failures: (marker.failures ?? []).map((f) => ({ item: f.item, code: f.code, message: f.message })),
    seconds: (performance.now() - startedAt) / 1000,
  };
}

/** JSON as artifacts store it: two-space indented, trailing newline. */
export function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

/** JSON lines: one compact object per line. */
export function jsonlBytes(records: readonly unknown[]): Uint8Array {
  return Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** A matrix as float32 `.npy` bytes; an empty one is stored as shape `[0, cols]`. */
export function npyBytes(m: Matrix): Uint8Array {
  return encodeNpy(matrixToNpy(m));
}

/**
 * Collects a job's artifacts as they are written (each with size and sha256) and writes the done-marker
 * last in {@link StageOutput.finish}.
 */
export class StageOutput {
  private readonly records: ArtifactRecord[] = [];
  private finished = false;

  constructor(
    private readonly store: ArtifactStore,
    readonly location: StageLocation,
    private readonly configHash: string,
    private readonly startedAt: number,
  ) {}

  /** Key of an artifact named `name` in this stage's folder. */
  key(name: string): string {
    return stageKey(this.location, name);
  }

  /** Stores `bytes` under `key` (any key, e.g. a detector bundle outside the stage folder). */
  async putAt(key: string, bytes: Uint8Array, contentType: string): Promise<ArtifactRecord> {
    if (this.finished) {
      throw new Error(`stage output of ${stagePrefix(this.location)} is already finished`);
    }
    const record = await putWithChecksum(this.store, key, bytes, { contentType });
    this.records.push(record);
    return record;
  }

  /** Stores `bytes` as artifact `name` of this stage. */
  put(name: string, bytes: Uint8Array, contentType: string): Promise<ArtifactRecord> {
    return this.putAt(this.key(name), bytes, contentType);
  }

  /** Stores a JSON artifact. */
  putJson(name: string, value: unknown): Promise<ArtifactRecord> {
    return this.put(name, jsonBytes(value), 'application/json');
  }

  /** Stores a JSON-lines artifact. */
  putJsonl(name: string, records: readonly unknown[]): Promise<ArtifactRecord> {
    return this.put(name, jsonlBytes(records), 'application/x-ndjson');
  }

  /** Stores a float32 `.npy` artifact. */
  putMatrix(name: string, m: Matrix): Promise<ArtifactRecord> {
    return this.put(name, npyBytes(m), 'application/octet-stream');
  }

  /** The artifacts written so far. */
  get artifacts(): readonly ArtifactRecord[] {
    return this.records;
  }

  /**
   * Writes the done-marker (after checking every artifact is stored with its size) and returns the
   * job's result.
   */
  async finish(
    counts: ItemCounts,
    failures: readonly ItemFailure[],
    extra: Record<string, unknown> = {},
  ): Promise<StageResult> {
    // The stage's wall time is recorded in the marker too: the report's timing table reads it there.
    const seconds = (performance.now() - this.startedAt) / 1000;
    const marker: StageMarker = {
      seconds,
      ...extra,
      runId: this.location.runId,
      stage: this.location.stage,
      ...(this.location.shard === undefined ? {} : { shard: this.location.shard }),
      configHash: this.configHash,
      artifacts: [...this.records],
      failures: failures.map((f) => ({ ...f })),
      counts: { ...counts },
      createdAt: new Date().toISOString(),
    };
    await writeDoneMarker(this.store, stagePrefix(this.location), marker);
    this.finished = true;
    return {
      status: 'completed',
      counts: { ...counts },
      artifacts: this.records.map((a) => ({ ...a })),
      failures: failures.map((f) => ({ ...f })),
      seconds,
    };
  }
}
