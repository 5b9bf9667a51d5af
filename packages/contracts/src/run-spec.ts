import { DEFAULT_LABEL_FINETUNING, DEFAULT_PROJECTION_TRAINING, DEFAULT_PROMPT_TEMPLATES } from '@synood/ood';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SynoodError } from './errors';

/** A storage location: `file://…`, `s3://bucket/prefix`, or a local path. */
export const locationSchema = z
  .string()
  .min(1)
  .refine((s) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^(file|s3):\/\//.test(s), {
    message: 'must be a file:// or s3:// URL, or a local path',
  });

/** Where the InD images are and how they are laid out (design §7). */
export const datasetSchema = z.object({
  /** Root of the dataset. */
  location: locationSchema,
  /** `imagefolder`: `<class>/<image>`; `jsonl`: a manifest of `{"image", "label"}` lines. */
  layout: z.enum(['imagefolder', 'jsonl']).default('imagefolder'),
  /** Manifest key under `location` for the `jsonl` layout. */
  manifest: z.string().min(1).optional(),
  /** Class-name file (one per line, or ImageNet's `LOC_synset_mapping.txt`); folder names otherwise. */
  classNames: z.string().min(1).optional(),
});

/** One OOD benchmark set for evaluation. */
export const oodSetSchema = z.object({
  name: z.string().min(1).max(100),
  location: locationSchema,
  layout: z.enum(['imagefolder', 'flat', 'list']).default('flat'),
  /** OpenOOD grouping, for near/far averages. */
  group: z.enum(['near', 'far']).optional(),
});

/** The benchmark presets {@link expandOodPreset} knows. */
export const OOD_PRESET_NAMES = ['clip-ood', 'openood-v1.5'] as const;

/** One of {@link OOD_PRESET_NAMES}. */
export type OodPresetName = (typeof OOD_PRESET_NAMES)[number];

/**
 * A benchmark's OOD sets named by where its data lies: {@link expandOodPreset} turns it into `oodSets`
 * with their near/far groups and the folder names the benchmarks conventionally unpack to under `root`.
 */
export const oodPresetSchema = z.object({
  name: z.enum(OOD_PRESET_NAMES),
  /** Folder holding the benchmark's data sets (see {@link OOD_PRESET_FOLDERS} for what must be under it). */
  root: locationSchema,
});

/** An OOD preset as submitted. */
export type OodPreset = z.infer<typeof oodPresetSchema>;

/** One set of a preset: its display name, its folder under the preset's root and its group. */
export interface OodPresetFolder {
  readonly name: string;
  readonly folder: string;
  readonly group: 'near' | 'far';
}

/**
 * The sets of each preset and where they are expected under `root` (every image below the folder is
 * read, subfolders included, so class folders such as DTD's are fine):
 *
 * `clip-ood` (the MOS subsets used by MCM, NegLabel and SynOOD; all far-OOD):
 * `iNaturalist/images`, `SUN/images`, `Places/images`, `dtd/images` (Textures, all 5,640 DTD images).
 *
 * `openood-v1.5` (ImageNet-1K benchmark, `root` = OpenOOD's `data/images_largescale`):
 * near-OOD `ssb_hard` (SSB-hard), `ninco` (NINCO); far-OOD `inaturalist` (iNaturalist), `textures`
 * (Textures), `openimage_o` (OpenImage-O).
 */
export const OOD_PRESET_FOLDERS: Readonly<Record<OodPresetName, readonly OodPresetFolder[]>> = {
  'clip-ood': [
    { name: 'iNaturalist', folder: 'iNaturalist/images', group: 'far' },
    { name: 'SUN', folder: 'SUN/images', group: 'far' },
    { name: 'Places', folder: 'Places/images', group: 'far' },
    { name: 'Textures', folder: 'dtd/images', group: 'far' },
  ],
  'openood-v1.5': [
    { name: 'SSB-hard', folder: 'ssb_hard', group: 'near' },
    { name: 'NINCO', folder: 'ninco', group: 'near' },
    { name: 'iNaturalist', folder: 'inaturalist', group: 'far' },
    { name: 'Textures', folder: 'textures', group: 'far' },
    { name: 'OpenImage-O', folder: 'openimage_o', group: 'far' },
  ],
};

/**
 * The OOD sets of a preset: one `flat` set per entry of {@link OOD_PRESET_FOLDERS}, located at
 * `<root>/<folder>` (a trailing `/` of `root` is dropped; works for local paths, `file://` and `s3://`).
 */
export function expandOodPreset(preset: OodPreset): z.output<typeof oodSetSchema>[] {
  const root = preset.root.replace(/\/+$/, '');
  return OOD_PRESET_FOLDERS[preset.name].map((s) => ({
    name: s.name,
    location: `${root}/${s.folder}`,
    layout: 'flat' as const,
    group: s.group,
  }));
}

/** Model choices by role; values are registry names (resolved by `@synood/models`). */
export const modelsSchema = z.object({
  clip: z.string().min(1).default('clip-vit-b16'),
  inpainting: z.string().min(1).default('sd2-inpainting'),
  classifier: z.string().min(1).default('resnet50-imagenet1k-v2'),
  vlm: z.string().min(1).optional(),
  /** onnxruntime execution provider for every model. */
  executionProvider: z.enum(['cpu', 'cuda']).default('cpu'),
  /** Use fp16 model variants where the registry has them (GPU hosts). */
  fp16: z.boolean().default(false),
});

const positiveInt = z.number().int().positive();
const fraction = z.number().gt(0).lte(1);

/** Every stage's settings; defaults follow design §4 (the released code where it and the paper differ). */
export const stagesConfigSchema = z.object({
  selection: z.object({ perClass: positiveInt.default(50) }).prefault({}),
  sharding: z.object({ imagesPerShard: positiveInt.max(4096).default(64) }).prefault({}),
  caption: z
    .object({
      backend: z.enum(['clip-tags', 'openai', 'local']).default('clip-tags'),
      /** `compat`: the first 73 characters of the answer (released code); `clean`: parsed elements fitted to 77 tokens. */
      promptMode: z.enum(['compat', 'clean']).default('compat'),
      endpoint: z.url().optional(),
      model: z.string().min(1).optional(),
      maxElements: positiveInt.max(32).default(8),
    })
    .prefault({}),
  synthesis: z
    .object({
      scheduler: z.enum(['pndm', 'ddim']).default('pndm'),
      steps: positiveInt.max(1000).default(20),
      strength: fraction.default(0.6),
      guidance: z.number().nonnegative().default(8),
      iterations: positiveInt.max(20).default(3),
      /** Per-image step r of ε ← ε − r·∂L/∂z (the code's lr 10 on a batch mean of 2). */
      stepSize: z.number().positive().default(5),
      loss: z.enum(['code', 'energy']).default('code'),
      margin: z.number().default(-5),
      size: positiveInt.multipleOf(8).max(2048).default(512),
      jpegQuality: positiveInt.max(100).default(75),
      batchSize: positiveInt.max(64).default(2),
    })
    .prefault({}),
  mining: z
    .object({
      percentile: fraction.default(0.95),
      keepFraction: fraction.default(0.15),
      nounTemplate: z.string().includes('{}').default(DEFAULT_PROMPT_TEMPLATES.noun),
      adjectiveTemplate: z.string().includes('{}').default(DEFAULT_PROMPT_TEMPLATES.adj),
      indTemplate: z.string().includes('{}').default('the nice {}'),
      lowercase: z.boolean().default(true),
      lemmas: z.enum(['first', 'all']).default('first'),
    })
    .prefault({}),
  score: z
    .object({
      scale: z.number().positive().default(100),
      groups: positiveInt.default(100),
    })
    .prefault({}),
  projection: z
    .object({
      epochs: positiveInt.default(DEFAULT_PROJECTION_TRAINING.epochs),
      batchSize: positiveInt.default(DEFAULT_PROJECTION_TRAINING.batchSize),
      lr: z.number().positive().default(DEFAULT_PROJECTION_TRAINING.lr),
      minLr: z.number().nonnegative().default(DEFAULT_PROJECTION_TRAINING.minLr),
      weightDecay: z.number().nonnegative().default(DEFAULT_PROJECTION_TRAINING.weightDecay),
    })
    .prefault({}),
  labels: z
    .object({
      epochs: positiveInt.default(DEFAULT_LABEL_FINETUNING.epochs),
      batchSize: positiveInt.default(DEFAULT_LABEL_FINETUNING.batchSize),
      lr: z.number().positive().default(DEFAULT_LABEL_FINETUNING.lr),
      minLr: z.number().nonnegative().default(DEFAULT_LABEL_FINETUNING.minLr),
      momentum: z.number().min(0).lt(1).default(DEFAULT_LABEL_FINETUNING.momentum),
      weightDecay: z.number().nonnegative().default(DEFAULT_LABEL_FINETUNING.weightDecay),
    })
    .prefault({}),
  evaluation: z.object({ tpr: fraction.default(0.95) }).prefault({}),
});

/** Most OOD sets a run evaluates (explicit and preset ones together). */
export const MAX_OOD_SETS = 64;

/** A run submitted to the API: dataset, benchmark sets, models and every stage's config. */
export const runSpecSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    /** Every random draw of the run derives from this seed and the item's id. */
    seed: z.union([z.number().int().nonnegative(), z.string().min(1).max(200)]).default(0),
    dataset: datasetSchema,
    oodSets: z.array(oodSetSchema).max(MAX_OOD_SETS).default([]),
    /**
     * A benchmark preset; its sets are put before `oodSets` in the parsed spec, which no longer has this
     * field (so a parsed spec parses to itself). A set name in both is an error.
     */
    oodPreset: oodPresetSchema.optional(),
    models: modelsSchema.prefault({}),
    stages: stagesConfigSchema.prefault({}),
  })
  .superRefine((spec, ctx) => {
    if (spec.dataset.layout === 'jsonl' && spec.dataset.manifest === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataset', 'manifest'],
        message: 'required for the jsonl layout',
      });
    }
    const names = new Set<string>();
    const preset = spec.oodPreset === undefined ? [] : expandOodPreset(spec.oodPreset);
    preset.forEach((set) => names.add(set.name));
    spec.oodSets.forEach((set, i) => {
      if (names.has(set.name)) {
        const fromPreset = preset.some((p) => p.name === set.name);
        ctx.addIssue({
          code: 'custom',
          path: ['oodSets', i, 'name'],
          message: fromPreset
            ? `duplicate OOD set name "${set.name}": the oodPreset ${spec.oodPreset!.name} already has it (rename or drop the explicit set)`
            : `duplicate OOD set name "${set.name}"`,
        });
      }
      names.add(set.name);
    });
    if (preset.length + spec.oodSets.length > MAX_OOD_SETS) {
      ctx.addIssue({
        code: 'custom',
        path: ['oodSets'],
        message: `${preset.length + spec.oodSets.length} OOD sets with the preset's; at most ${MAX_OOD_SETS}`,
      });
    }
  })
  .transform(({ oodPreset, ...spec }) =>
    oodPreset === undefined ? spec : { ...spec, oodSets: [...expandOodPreset(oodPreset), ...spec.oodSets] },
  );

/** A run spec as submitted (defaults optional). */
export type RunSpecInput = z.input<typeof runSpecSchema>;
/** A run spec with every default filled in. */
export type RunSpec = z.output<typeof runSpecSchema>;

/**
 * Parses a submitted spec, filling defaults. Throws `SPEC_ERR_INVALID` listing every bad field with
 * its path (`stages.synthesis.size: …`), not only the first.
 */
export function parseRunSpec(input: unknown): RunSpec {
  const result = runSpecSchema.safeParse(input);
  if (result.success) {
    return result.data;
  }
  const issues = result.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(root)',
    message: i.message,
  }));
  throw new SynoodError(
    'SPEC_ERR_INVALID',
    `invalid run spec: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  );
}

/** JSON with object keys sorted at every level, so equal values always serialise identically. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * The run's idempotency key (design §6): sha256 of the canonical spec (defaults filled, so `{}` and
 * the explicit defaults agree) and the resolved model versions. Resubmitting the same spec against
 * the same models returns the same run.
 */
export function specHash(spec: RunSpec, modelVersions: Readonly<Record<string, string>> = {}): string {
  return createHash('sha256').update(canonicalJson({ spec, modelVersions })).digest('hex');
}

/**
 * The config hash of one stage: what its done-markers record. A stage's work is reused only when the
 * settings that shape its output are unchanged.
 */
export function stageConfigHash(
  spec: RunSpec,
  stage: keyof RunSpec['stages'] | 'models',
  extra: unknown = null,
): string {
  const part = stage === 'models' ? spec.models : spec.stages[stage];
  return createHash('sha256')
    .update(canonicalJson({ stage, part, seed: spec.seed, extra }))
    .digest('hex')
    .slice(0, 16);
}
