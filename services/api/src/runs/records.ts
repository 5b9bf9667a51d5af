/**
 * Run records in the artifact store (`runs/<id>/run.json`, the contracts' `runRecordSchema`) and the
 * run index the list endpoint pages through. The index is a flat folder of tiny objects named
 * `<inverted creation time>-<run id>`, so a plain key listing yields the newest runs first without
 * walking every run's artifacts.
 */
import { type RunRecord, runIdSchema, runRecordKey, runRecordSchema } from '@synood/contracts';
import { type ArtifactStore, StorageError, StorageErrorCode } from '@synood/storage';

import { describeIssues, zodIssues } from '../errors';

/** Folder of the run index. */
export const RUN_INDEX_PREFIX = 'index/runs';

/** Largest epoch-millisecond value the index encodes (year 2286); inverted so that newer sorts first. */
const MAX_MS = 9_999_999_999_999;

/** The run id of a spec hash: `r-` and its first 12 hex digits (48 bits; the record keeps the full hash). */
export function runIdOf(specHash: string): string {
  return `r-${specHash.slice(0, 12)}`;
}

/** JSON bytes as the API stores them. */
export function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The record of `runId`, or `undefined` when there is none.
 *
 * @throws Error when the record exists but does not match the schema (a corrupted store).
 */
export async function readRunRecord(store: ArtifactStore, runId: string): Promise<RunRecord | undefined> {
  if (!runIdSchema.safeParse(runId).success) {
    return undefined;
  }
  const key = runRecordKey(runId);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (error) {
    if (error instanceof StorageError && error.code === StorageErrorCode.NotFound) {
      return undefined;
    }
    throw error;
  }
  const parsed = runRecordSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  if (!parsed.success) {
    throw new Error(`run record ${store.url}/${key} is invalid: ${describeIssues(zodIssues(parsed.error))}`);
  }
  return parsed.data;
}

/** Stores `record` under its key (replacing the previous version). */
export async function writeRunRecord(store: ArtifactStore, record: RunRecord): Promise<void> {
  await store.put(runRecordKey(record.id), jsonBytes(runRecordSchema.parse(record)), {
    contentType: 'application/json',
  });
}

/** Name of a run's index entry: inverted creation time (13 digits), then the id. */
export function runIndexName(record: Pick<RunRecord, 'id' | 'createdAt'>): string {
  const inverted = MAX_MS - Date.parse(record.createdAt);
  return `${String(inverted).padStart(13, '0')}-${record.id}`;
}

/** Adds a run to the index. */
export async function indexRun(store: ArtifactStore, record: RunRecord): Promise<void> {
  await store.put(`${RUN_INDEX_PREFIX}/${runIndexName(record)}`, jsonBytes({ id: record.id }), {
    contentType: 'application/json',
  });
}

/** One page of the index. */
export interface RunIndexPage {
  /** Run ids, newest first, each once. */
  ids: string[];
  /** Cursor of the next page, when there is one. */
  next?: string;
}

/**
 * A page of `limit` run ids after `cursor` (an index entry name from a previous page), newest first.
 * A run indexed twice (two API replicas racing on the same spec) is listed once, at its newest entry.
 */
export async function listRunIndex(
  store: ArtifactStore,
  limit: number,
  cursor?: string,
): Promise<RunIndexPage> {
  const names: string[] = [];
  for await (const key of store.list(RUN_INDEX_PREFIX)) {
    names.push(key.slice(RUN_INDEX_PREFIX.length + 1));
  }
  names.sort();
  const seen = new Set<string>();
  const ids: string[] = [];
  let last: string | undefined;
  for (const name of names) {
    const id = name.slice(14);
    if (seen.has(id)) {
      continue;
    }
    seen.add(id);
    if (cursor !== undefined && name <= cursor) {
      continue;
    }
    if (ids.length === limit) {
      return { ids, next: last! };
    }
    ids.push(id);
    last = name;
  }
  return { ids };
}
