/**
 * Opening stores: the artifact store of runs and detectors, and the stores named by a run spec (datasets,
 * OOD sets), each opened once per location and reused across jobs. Shared verbatim by the worker services.
 */
import { type ArtifactStore, type S3StoreOptions, openStore } from '@synood/storage';

/** A cache of open stores by location. */
export interface StoreCache {
  /** The store at `location` (`file://…`, `s3://bucket/prefix` or a path), opened on first use. */
  open(location: string): ArtifactStore;
  /** Closes every store opened through the cache. */
  close(): Promise<void>;
}

/** A {@link StoreCache} whose `s3://` stores use `s3`. */
export function storeCache(s3: S3StoreOptions = {}): StoreCache {
  const open = new Map<string, ArtifactStore>();
  return {
    open(location) {
      let store = open.get(location);
      if (store === undefined) {
        store = openStore(location, { s3 });
        open.set(location, store);
      }
      return store;
    },
    async close() {
      const stores = [...open.values()];
      open.clear();
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}

/**
 * Splits a location naming one object (`s3://b/sets/list.txt`, `/data/list.txt`) into the location of
 * its folder and its key there, so the folder can be opened as a store.
 */
export function splitObjectLocation(location: string): { folder: string; key: string } {
  const trimmed = location.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(trimmed)?.[0].length ?? 0;
  if (cut < scheme || cut === trimmed.length - 1) {
    return { folder: '.', key: trimmed.slice(scheme) };
  }
  return { folder: trimmed.slice(0, cut) || '/', key: trimmed.slice(cut + 1) };
}
