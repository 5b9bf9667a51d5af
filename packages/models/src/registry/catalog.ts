import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';

import { z } from 'zod';

import { ModelRegistryError, ModelRegistryErrorCode, describeError, errnoOf } from './errors';
import { MODEL_ROLES, type ModelRole } from './roles';
import { type ModelSource, isSafeRelativePath, parseModelSource } from './source';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One file of a catalog entry, as written in catalog JSON. */
const modelFileSchema = z.strictObject({
  /** How consumers ask for this file (`resolveModelPath(role, name)`). @defaultValue the path's base name */
  name: z.string().regex(FILE_NAME, 'must be letters, digits, ".", "_" or "-"').optional(),
  /** Where the bytes come from; optional only for `exportRequired` entries. */
  source: z.string().min(1, 'must not be empty').optional(),
  /** Relative POSIX path of the file inside the cache folder. */
  path: z
    .string()
    .refine(isSafeRelativePath, 'must be a relative POSIX path without empty, "." or ".." segments'),
  /** Lower-case hex sha256 of the bytes; optional only for `unverified` or `exportRequired` entries. */
  sha256: z.string().regex(SHA256_HEX, 'must be 64 lower-case hexadecimal characters').optional(),
  /** Size in bytes; checked when given. */
  size: z.number().int('must be a whole number of bytes').nonnegative('must not be negative').optional(),
});

/** How to produce files that have no public download. */
const exportRequiredSchema = z.strictObject({
  /** The command that writes the files; `{cache}` stands for the cache folder. */
  command: z.string().min(1, 'must not be empty'),
  /** Where the procedure is documented. */
  docs: z.string().min(1).optional(),
});

/** One role of a catalog, as written in catalog JSON. */
const modelEntrySchema = z.strictObject({
  role: z.enum(MODEL_ROLES, { error: `must be one of ${MODEL_ROLES.join(', ')}` }),
  description: z.string().optional(),
  /** The files have no published sha256: the first pull records the hash in the lock file. */
  unverified: z.boolean().optional(),
  exportRequired: exportRequiredSchema.optional(),
  files: z.array(modelFileSchema).min(1, 'must list at least one file'),
});

/**
 * The zod schema of a model catalog file (`--catalog FILE`): `{ "version": 1, "models": [entry, …] }`, one
 * entry per role. Beyond the field types it checks that roles and cache paths are unique, file names are
 * unique within an entry, `sha256` is present unless the entry is `unverified` or `exportRequired`, and
 * `source` is present unless the entry is `exportRequired`.
 */
export const modelCatalogSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1, { error: 'must be 1' }),
    models: z.array(modelEntrySchema),
  })
  .superRefine((catalog, ctx) => {
    const roles = new Set<string>();
    const paths = new Map<string, string>();
    catalog.models.forEach((entry, i) => {
      if (roles.has(entry.role)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'role'],
          message: `duplicate role "${entry.role}"`,
        });
      }
      roles.add(entry.role);
      const names = new Set<string>();
      entry.files.forEach((file, j) => {
        const at = ['models', i, 'files', j];
        const name = file.name ?? posix.basename(file.path);
        if (names.has(name)) {
          ctx.addIssue({ code: 'custom', path: [...at, 'name'], message: `duplicate file name "${name}"` });
        }
        names.add(name);
        const owner = paths.get(file.path);
        if (owner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'path'],
            message: `"${file.path}" is already the path of ${owner}`,
          });
        }
        paths.set(file.path, `${entry.role} file "${name}"`);
        if (file.sha256 === undefined && entry.unverified !== true && entry.exportRequired === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'sha256'],
            message: 'is required unless the entry is marked "unverified": true or has "exportRequired"',
          });
        }
        if (file.source === undefined && entry.exportRequired === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'source'],
            message: 'is required unless the entry has "exportRequired"',
          });
        }
      });
    });
  });

/** A catalog file's JSON before validation (what users write). */
export type ModelCatalogInput = z.input<typeof modelCatalogSchema>;

/** One file of a role, validated, with its source parsed. */
export interface ModelFileSpec {
  /** Unique within the role; `resolveModelPath(role, name)` finds the file by it. */
  readonly name: string;
  /** Relative POSIX path inside the cache folder. */
  readonly path: string;
  /** Where to get the bytes; absent for files that must be exported locally. */
  readonly source?: ModelSource;
  /** Expected lower-case hex sha256, when published. */
  readonly sha256?: string;
  /** Expected size in bytes, when known. */
  readonly size?: number;
}

/** How files without a public download are produced. */
export interface ModelExportInstructions {
  /** The command to run; `{cache}` stands for the cache folder (see {@link exportCommandFor}). */
  readonly command: string;
  /** Where the procedure is documented. */
  readonly docs?: string;
}

/** One role of a validated catalog. */
export interface ModelEntry {
  readonly role: ModelRole;
  readonly description?: string;
  /** No published sha256: the first pull pins the hash in the lock file and later pulls check against it. */
  readonly unverified: boolean;
  /** Set when the files have no public download and must be exported locally. */
  readonly exportRequired?: ModelExportInstructions;
  /** The role's files; the first is the one `resolveModelPath(role)` returns. */
  readonly files: readonly ModelFileSpec[];
}

/** A validated catalog: one entry per role. */
export interface ModelCatalog {
  readonly version: 1;
  readonly models: readonly ModelEntry[];
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Human label of a catalog file for messages: `models[2] (clip.vision) file "model"`. */
function entryLabel(index: number, role: string, fileIndex: number, name: string): string {
  return `models[${index}] (${role}) files[${fileIndex}] "${name}"`;
}

/**
 * Validates catalog JSON and parses every source URI.
 *
 * @param json - the parsed JSON value.
 * @param origin - names the catalog in messages (a file path, or `default catalog`).
 * @throws {@link ModelRegistryError} `MODELS_ERR_CATALOG` listing every bad field with its path
 *   (`models[2].files[0].sha256: must be 64 lower-case hexadecimal characters`); `MODELS_ERR_SOURCE` for a
 *   malformed source URI, naming the entry.
 */
export function parseModelCatalog(json: unknown, origin: string): ModelCatalog {
  const result = modelCatalogSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Catalog,
      `${origin}: invalid model catalog: ${problems.join('; ')}`,
    );
  }
  const models = result.data.models.map((entry, i): ModelEntry => {
    const files = entry.files.map((file, j): ModelFileSpec => {
      const name = file.name ?? posix.basename(file.path);
      const label = `${origin}: ${entryLabel(i, entry.role, j, name)}`;
      return {
        name,
        path: file.path,
        ...(file.source === undefined ? {} : { source: parseModelSource(file.source, label) }),
        ...(file.sha256 === undefined ? {} : { sha256: file.sha256 }),
        ...(file.size === undefined ? {} : { size: file.size }),
      };
    });
    return {
      role: entry.role,
      ...(entry.description === undefined ? {} : { description: entry.description }),
      unverified: entry.unverified === true,
      ...(entry.exportRequired === undefined
        ? {}
        : {
            exportRequired: {
              command: entry.exportRequired.command,
              ...(entry.exportRequired.docs === undefined ? {} : { docs: entry.exportRequired.docs }),
            },
          }),
      files,
    };
  });
  return { version: 1, models };
}

/**
 * Reads and validates a catalog file.
 *
 * @throws {@link ModelRegistryError} `MODELS_ERR_CATALOG` when the file is missing, unreadable or not JSON,
 *   or for any error of {@link parseModelCatalog}.
 */
export async function loadModelCatalog(file: string): Promise<ModelCatalog> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const why = errnoOf(error) === 'ENOENT' ? 'no such file' : `cannot read it (${describeError(error)})`;
    throw new ModelRegistryError(ModelRegistryErrorCode.Catalog, `catalog ${file}: ${why}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Catalog,
      `catalog ${file} is not valid JSON (${describeError(error)})`,
      { cause: error },
    );
  }
  return parseModelCatalog(json, file);
}

/** The entry of `role`, or `undefined` when the catalog has none. */
export function catalogEntry(catalog: ModelCatalog, role: ModelRole): ModelEntry | undefined {
  return catalog.models.find((entry) => entry.role === role);
}

/** An entry's export command with `{cache}` replaced by the cache folder. */
export function exportCommandFor(entry: ModelEntry, cacheDir: string): string | undefined {
  return entry.exportRequired?.command.replaceAll('{cache}', cacheDir);
}
