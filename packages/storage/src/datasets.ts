import { posix } from 'node:path';
import { createInterface } from 'node:readline';

import { StorageError, StorageErrorCode, describeError } from './errors';
import { joinKey, normalizePrefix, validateKey } from './keys';
import type { ArtifactStore } from './store';

/**
 * Image file extensions listed by default: the raster formats `@synood/vision` decodes (sharp's
 * prebuilt libvips: JPEG, PNG, WebP, GIF, TIFF, AVIF). Matching ignores case (ImageNet uses `.JPEG`).
 */
export const DEFAULT_IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
];

/** One image of a labelled dataset. */
export interface DatasetImage {
  /** Store key of the image file. */
  key: string;
  /** Its class name (folder name in an imagefolder, `label` in a manifest). */
  className: string;
}

/** An image read from a JSONL manifest, with its line for diagnostics. */
export interface ManifestImage extends DatasetImage {
  /** 1-based line number in the manifest. */
  line: number;
}

/** Options of {@link listImageFolder}. */
export interface ImageFolderOptions {
  /** File extensions counted as images, with or without the dot, any case. @defaultValue {@link DEFAULT_IMAGE_EXTENSIONS} */
  extensions?: readonly string[];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function extensionSet(extensions: readonly string[]): Set<string> {
  return new Set(
    extensions.map((ext) => {
      if (typeof ext !== 'string' || ext.replace(/^\./, '') === '') {
        throw new StorageError(
          StorageErrorCode.Config,
          `image extension ${JSON.stringify(ext)} is empty; expected e.g. ".jpg" or "png"`,
        );
      }
      return (ext.startsWith('.') ? ext : `.${ext}`).toLowerCase();
    }),
  );
}

/**
 * Lists an `imagefolder` dataset (`<prefix>/<class>/<image>`, as torchvision's `ImageFolder`): the
 * class is the first folder under `prefix`, images may sit in sub-folders of it, files directly under
 * `prefix` have no class and are skipped, and so are hidden files and folders (a segment starting with
 * `.`, e.g. `.DS_Store`) and files whose extension is not an image extension.
 *
 * @returns the images sorted by class name, then key (plain code-unit order, independent of locale)
 */
export async function listImageFolder(
  store: ArtifactStore,
  prefix: string,
  options: ImageFolderOptions = {},
): Promise<DatasetImage[]> {
  const base = normalizePrefix(prefix);
  const extensions = extensionSet(options.extensions ?? DEFAULT_IMAGE_EXTENSIONS);
  const images: DatasetImage[] = [];
  for await (const key of store.list(base)) {
    const segments = (base === '' ? key : key.slice(base.length + 1)).split('/');
    if (segments.length < 2 || segments.some((s) => s.startsWith('.'))) {
      continue;
    }
    const file = segments[segments.length - 1]!;
    if (!extensions.has(posix.extname(file).toLowerCase())) {
      continue;
    }
    images.push({ key, className: segments[0]! });
  }
  return images.sort((a, b) => compare(a.className, b.className) || compare(a.key, b.key));
}

function lineError(where: string, line: number, problem: string, cause?: unknown): StorageError {
  return new StorageError(
    StorageErrorCode.Manifest,
    `${where} line ${line}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Resolves a manifest's `image` value to a store key: a path relative to the manifest's folder
 * (`images/a.jpg` next to `data/train.jsonl` is `data/images/a.jpg`), or, with a leading `/`, a key
 * from the store root (`/data/images/a.jpg`).
 */
function resolveImage(manifestKey: string, image: string): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(image)) {
    throw new Error(
      'is a URL; expected a path inside the store (relative to the manifest, or /key from the root)',
    );
  }
  if (image.startsWith('/')) {
    return validateKey(image.slice(1), 'image');
  }
  const folder = posix.dirname(manifestKey);
  return folder === '.' ? validateKey(image, 'image') : joinKey(folder, validateKey(image, 'image'));
}

/**
 * Reads a JSONL dataset manifest: one JSON object per line, `{"image": "<path>", "label": "<class>"}`
 * (other fields are ignored, blank lines skipped). `image` is relative to the manifest's folder, or a
 * key from the store root when it starts with `/`. Streams the file, so ImageNet-size manifests do not
 * need to fit in memory as one string.
 *
 * @returns the images in file order
 * @throws StorageError `STORAGE_ERR_MANIFEST` naming the line: invalid JSON, not an object, a missing
 * or non-string `image`/`label`, an image path that leaves the store, or an image listed twice
 */
export async function readJsonlManifest(store: ArtifactStore, key: string): Promise<ManifestImage[]> {
  validateKey(key);
  const where = `manifest ${JSON.stringify(key)} (${store.url}/${key})`;
  const input = await store.getStream(key);
  try {
    return await parseJsonlLines(createInterface({ input, crlfDelay: Infinity }), where, key);
  } finally {
    // A bad line stops reading early; the rest of the file must not keep a handle or socket open.
    input.destroy();
  }
}

async function parseJsonlLines(
  lines: AsyncIterable<string>,
  where: string,
  key: string,
): Promise<ManifestImage[]> {
  const images: ManifestImage[] = [];
  const seen = new Map<string, number>();
  let line = 0;
  for await (const raw of lines) {
    line++;
    const text = (line === 1 ? raw.replace(/^\uFEFF/, '') : raw).trim();
    if (text === '') {
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw lineError(where, line, `is not valid JSON: ${describeError(error)}`, error);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw lineError(where, line, 'expected a JSON object like {"image": "cat/1.jpg", "label": "cat"}');
    }
    const { image, label } = value as { image?: unknown; label?: unknown };
    for (const [field, v] of [
      ['image', image],
      ['label', label],
    ] as const) {
      if (typeof v !== 'string' || v.trim() === '') {
        const got = v === undefined ? 'is missing' : `is ${JSON.stringify(v)}`;
        throw lineError(where, line, `${field} ${got}; expected a non-empty string`);
      }
    }
    let imageKey: string;
    try {
      imageKey = resolveImage(key, image as string);
    } catch (error) {
      throw lineError(where, line, `image ${JSON.stringify(image)} ${describeProblem(error)}`, error);
    }
    const first = seen.get(imageKey);
    if (first !== undefined) {
      throw lineError(where, line, `image ${JSON.stringify(imageKey)} is already listed on line ${first}`);
    }
    seen.set(imageKey, line);
    images.push({ key: imageKey, className: (label as string).trim(), line });
  }
  return images;
}

function describeProblem(error: unknown): string {
  return error instanceof StorageError ? `is not a valid key: ${error.message}` : describeError(error);
}

/** One class of a class-name file. */
export interface ClassName {
  /** Display name: the line, or the first of a synset's comma-separated names. */
  name: string;
  /** All names: `[name]`, or every synonym of a synset line (`['tench', 'Tinca tinca']`). */
  names: string[];
  /** WordNet id (`n01440764`) when the file gives one. */
  wnid?: string;
}

const SYNSET_LINE = /^(n\d{8})\s+(\S.*)$/;
const WNID_ONLY = /^n\d{8}$/;

/**
 * Parses a class-name file in either of two forms, detected from the first non-empty line:
 * - one class name per line (a bare WordNet id such as `n01440764` also fills `wnid`);
 * - ImageNet's `LOC_synset_mapping.txt`: `n01440764 tench, Tinca tinca` (wnid, then comma-separated
 *   names); then every line must have this form.
 *
 * Blank lines are skipped and a UTF-8 BOM is ignored. Names must be unique in the plain form; in the
 * synset form the wnids must be (ImageNet repeats names: two classes are called `crane`).
 *
 * @param source - how to name the text in errors (e.g. the file's key)
 * @throws StorageError `STORAGE_ERR_MANIFEST` naming the line
 */
export function readClassNames(text: string, source = 'class-name list'): ClassName[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const classes: ClassName[] = [];
  const seen = new Map<string, number>();
  let synsetForm: boolean | undefined;
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '') {
      return;
    }
    synsetForm ??= SYNSET_LINE.test(trimmed);
    let entry: ClassName;
    let id: string;
    if (synsetForm) {
      const match = SYNSET_LINE.exec(trimmed);
      if (!match) {
        throw lineError(
          source,
          line,
          `${JSON.stringify(trimmed)} is not a synset line; the file started in LOC_synset_mapping form, ` +
            'expected "n01440764 tench, Tinca tinca"',
        );
      }
      const names = match[2]!
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '');
      if (names.length === 0) {
        throw lineError(
          source,
          line,
          `synset ${match[1]!} has no names; expected "n01440764 tench, Tinca tinca"`,
        );
      }
      entry = { name: names[0]!, names, wnid: match[1]! };
      id = match[1]!;
    } else {
      entry = WNID_ONLY.test(trimmed)
        ? { name: trimmed, names: [trimmed], wnid: trimmed }
        : { name: trimmed, names: [trimmed] };
      id = trimmed;
    }
    const first = seen.get(id);
    if (first !== undefined) {
      throw lineError(
        source,
        line,
        `${JSON.stringify(id)} is already listed on line ${first}; class names must be unique`,
      );
    }
    seen.set(id, line);
    classes.push(entry);
  });
  return classes;
}
