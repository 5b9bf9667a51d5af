import type { ModelRegistryError } from './errors';
import type { ModelRole } from './roles';

/** Identifies the file an event is about. */
export interface ModelFileEventBase {
  readonly role: ModelRole;
  /** The file's name within its role. */
  readonly name: string;
  /** The file's path inside the cache folder. */
  readonly path: string;
}

/** What `pullModels` did with a file. */
export type PullOutcome =
  /** Fetched over HTTP(S) or from S3, verified and moved into place. */
  | 'downloaded'
  /** Copied from a `file://` source, verified and moved into place. */
  | 'copied'
  /** Already in the cache and verified; nothing fetched. */
  | 'present'
  /** Not in the cache and has no download: it must be exported locally (see the entry's command). */
  | 'export-required';

/** What `verifyModels` found for a file. */
export type VerifyStatus =
  /** The bytes hash to the catalog's sha256. */
  | 'verified'
  /**
   * The entry publishes no sha256: the bytes match the hash pinned in the lock file, or (first sight) their
   * hash was pinned now. `pinned` in the result says which.
   */
  | 'unverified'
  /** The bytes do not match the expected hash (or size): the file is corrupt or from another version. */
  | 'mismatch'
  /** The file is not in the cache. */
  | 'missing'
  /** The file is not in the cache and must be exported locally. */
  | 'export-required';

/**
 * A progress event of `pullModels` / `verifyModels`, one stream per file: `start`, then `progress` while
 * bytes move (`phase` says whether they are downloaded or hashed), `retry` before a new attempt, and
 * finally `done` or `error`.
 */
export type ModelProgressEvent =
  | (ModelFileEventBase & { readonly type: 'start'; readonly bytesTotal: number | undefined })
  | (ModelFileEventBase & {
      readonly type: 'progress';
      readonly phase: 'download' | 'hash';
      readonly bytesDone: number;
      readonly bytesTotal: number | undefined;
    })
  | (ModelFileEventBase & {
      readonly type: 'retry';
      /** The attempt about to start (1 = first retry). */
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: ModelRegistryError;
    })
  | (ModelFileEventBase & {
      readonly type: 'done';
      readonly outcome: PullOutcome | VerifyStatus;
      /** Size of the file in the cache (0 when it is missing). */
      readonly bytes: number;
    })
  | (ModelFileEventBase & { readonly type: 'error'; readonly error: ModelRegistryError });

/** A listener of {@link ModelProgressEvent}s; exceptions it throws are ignored. */
export type ModelProgressListener = (event: ModelProgressEvent) => void;

/** Calls the listener, shielding the transfer from a listener that throws. */
export function emitProgress(listener: ModelProgressListener | undefined, event: ModelProgressEvent): void {
  if (listener === undefined) {
    return;
  }
  try {
    listener(event);
  } catch {
    // A broken progress bar must not fail a download.
  }
}
