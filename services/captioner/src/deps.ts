/**
 * The captioner's explicit dependencies (style guide §7.3): stores, the caption backends (created once per
 * distinct setting and kept for the life of the process), the CLIP towers of `clip-tags` loaded once at
 * startup, the WordNet synonyms and tag vocabulary (loaded on first use), the token counter of the clean
 * prompt, metrics and logger.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import {
  type CaptionBackend,
  ClipTagsBackend,
  OpenAiBackend,
  type TextFeatureCache,
  type TokenCounter,
  WordNetSynonyms,
  clipImageEmbedder,
  clipTextEmbedder,
  createLocalBackend,
  wordnetTagVocabulary,
} from '@synood/captioning';
import type { RunSpec } from '@synood/contracts';
import type { PlatformMetrics } from '@synood/metrics';
import { ClipImageEncoder, ClipTextEncoder, ClipTokenizer, loadWordNetSources } from '@synood/models';
import { type ArtifactStore, StorageError, StorageErrorCode } from '@synood/storage';
import { type Matrix, decodeNpy, encodeNpy, matrixToNpy, npyToMatrix } from '@synood/tensor';

import { type CaptionBackendName, type CaptionerConfig } from './config';
import {
  WorkerError,
  WorkerErrorCode,
  type ServiceLogger,
  type ModelInput,
  type ModelResolver,
  type StoreCache,
  type WorkerDepsOverrides,
  workerBaseDeps,
} from '@synood/service-kit';

/** A run's caption settings (`stages.caption` of the spec). */
export type CaptionSettings = RunSpec['stages']['caption'];

/** What the captioner's handler uses. */
export interface CaptionerDeps {
  /** The artifact store of runs. */
  store: ArtifactStore;
  /** Stores named by run specs (datasets), opened once per location. */
  stores: StoreCache;
  /**
   * The backend for a run's settings, created on first use and reused.
   *
   * @throws WorkerError `WORKER_ERR_CONFIG` for a backend this deployment does not serve, or `openai`
   * without an endpoint or model.
   */
  backend(settings: CaptionSettings): Promise<CaptionBackend>;
  /** The backends created so far (their breaker state pauses consumption). */
  activeBackends(): readonly CaptionBackend[];
  /** Class name → WordNet synonyms, excluded from the elements. */
  synonyms(): Promise<(className: string) => readonly string[]>;
  /** CLIP token counter for the clean prompt; an estimate when no tokenizer is loaded. */
  countTokens?: TokenCounter;
  metrics: PlatformMetrics;
  logger: ServiceLogger;
  /** Images per backend call. */
  batchSize: number;
  /** The model files the service runs on, checked at startup. */
  modelInputs: readonly ModelInput[];
  /** Closes backends, releases sessions and closes stores. */
  close(): Promise<void>;
}

/** Replacements for parts of {@link CaptionerDeps} (tests, `synood up`). */
export interface CaptionerDepsOverrides extends WorkerDepsOverrides {
  /** The `clip-tags` vocabulary, instead of WordNet's nouns. */
  vocabulary?: () => Promise<readonly string[]>;
  /** The synonym lookup, instead of WordNet's. */
  synonyms?: () => Promise<(className: string) => readonly string[]>;
}

/** Folder of the `clip-tags` text features in the artifact store (shared by every captioner). */
export const TAG_FEATURE_CACHE_PREFIX = 'cache/tag-features';

/** A `clip-tags` text-feature cache in the artifact store. */
export function storeFeatureCache(store: ArtifactStore): TextFeatureCache {
  const keyOf = (key: string): string => `${TAG_FEATURE_CACHE_PREFIX}/${key}.npy`;
  return {
    async get(key: string): Promise<Matrix | undefined> {
      try {
        return npyToMatrix(decodeNpy(await store.get(keyOf(key))));
      } catch (error) {
        // An outage is not a miss; a missing or corrupt entry is (it is recomputed and rewritten).
        if (error instanceof StorageError && error.code !== StorageErrorCode.NotFound) {
          throw error;
        }
        return undefined;
      }
    },
    async set(key: string, features: Matrix): Promise<void> {
      await store.put(keyOf(key), encodeNpy(matrixToNpy(features)), {
        contentType: 'application/octet-stream',
      });
    },
  };
}

function configError(message: string): WorkerError {
  return new WorkerError(WorkerErrorCode.Config, message);
}

/**
 * Builds the captioner's dependencies: checks the model files of the offered backends, loads the CLIP
 * towers when `clip-tags` is offered (timed into `model_load_seconds`).
 *
 * @throws WorkerError `WORKER_ERR_MODEL_MISSING` listing missing model files; ClipError / OnnxError for a
 * model with the wrong inputs or outputs.
 */
export async function createCaptionerDeps(
  config: CaptionerConfig,
  overrides: CaptionerDepsOverrides = {},
): Promise<CaptionerDeps> {
  const { runtime } = config;
  const offers = (name: CaptionBackendName): boolean => config.backends.includes(name);
  const vlmDirOf = (models: ModelResolver): string | undefined =>
    offers('local')
      ? (config.models.vlmDir ?? path.dirname(models.path('vlm', undefined, 'config')))
      : undefined;
  const { logger, metrics, models, modelInputs, session, store, stores } = await workerBaseDeps(
    'captioner',
    runtime,
    overrides,
    (resolver) => {
      const inputs: ModelInput[] = [
        { role: 'clip.tokenizer', path: resolver.path('clip.tokenizer', config.models.tokenizer) },
      ];
      if (offers('clip-tags')) {
        inputs.push(
          { role: 'clip.vision', path: resolver.path('clip.vision', config.models.vision) },
          { role: 'clip.text', path: resolver.path('clip.text', config.models.text) },
        );
      }
      const dir = vlmDirOf(resolver);
      if (dir !== undefined) {
        inputs.push({ role: 'vlm', path: path.join(dir, 'config.json') });
      }
      return inputs;
    },
  );
  const vlmDir = vlmDirOf(models);
  const towers: { release(): Promise<void> }[] = [];
  try {
    const tokenizer = await ClipTokenizer.fromFile(modelInputs[0]!.path);
    let clip: { image: ClipImageEncoder; text: ClipTextEncoder; name: string } | undefined;
    if (offers('clip-tags')) {
      const visionPath = modelInputs.find((m) => m.role === 'clip.vision')!.path;
      const textPath = modelInputs.find((m) => m.role === 'clip.text')!.path;
      let end = metrics.modelLoad.timer();
      const image = await ClipImageEncoder.create(visionPath, { session });
      towers.push(image);
      end({ model: 'clip.vision' });
      end = metrics.modelLoad.timer();
      const textBytes = await readFile(textPath);
      const text = await ClipTextEncoder.create(textBytes, tokenizer, { session });
      towers.push(text);
      end({ model: 'clip.text' });
      // The recorded model name keys the tag-feature cache, so it must change with the weights.
      const name = `clip-${createHash('sha256').update(textBytes).digest('hex').slice(0, 12)}`;
      clip = { image, text, name };
    }

    let sources: ReturnType<typeof loadWordNetSources> | undefined;
    const wordnet = (): ReturnType<typeof loadWordNetSources> => {
      sources ??= loadWordNetSources(config.wordnetDir);
      sources.catch(() => {
        sources = undefined;
      });
      return sources;
    };
    let synonymLookup: Promise<(className: string) => readonly string[]> | undefined;
    const synonyms =
      overrides.synonyms ??
      (() => {
        synonymLookup ??= wordnet().then((s) => {
          const index = WordNetSynonyms.fromSources(s);
          return (className: string) => index.synonymsOf(className);
        });
        return synonymLookup;
      });
    const vocabulary = overrides.vocabulary ?? (async () => wordnetTagVocabulary(await wordnet()));

    const backends = new Map<string, Promise<CaptionBackend>>();
    const created: CaptionBackend[] = [];
    const make = async (settings: CaptionSettings): Promise<CaptionBackend> => {
      switch (settings.backend) {
        case 'clip-tags': {
          if (clip === undefined) {
            throw configError(
              'this captioner does not serve the clip-tags backend (SYNOOD_CAPTION_BACKENDS)',
            );
          }
          return new ClipTagsBackend({
            texts: clipTextEmbedder(clip.text),
            images: clipImageEmbedder(clip.image),
            vocabulary: await vocabulary(),
            topK: settings.maxElements,
            model: clip.name,
            cache: storeFeatureCache(store),
          });
        }
        case 'openai': {
          const endpoint = settings.endpoint ?? config.openai.endpoint;
          const model = settings.model ?? config.openai.model;
          if (endpoint === undefined || model === undefined) {
            throw configError(
              'the openai caption backend needs an endpoint and a model: set stages.caption.endpoint and ' +
                '.model in the run spec, or SYNOOD_CAPTION_ENDPOINT and SYNOOD_CAPTION_MODEL on the captioner',
            );
          }
          return new OpenAiBackend({
            endpoint,
            model,
            ...(config.openai.apiKey === undefined ? {} : { apiKey: config.openai.apiKey }),
            timeoutMs: config.openai.timeoutMs,
            concurrency: config.openai.requests,
            question: { maxElements: settings.maxElements },
          });
        }
        case 'local':
          return createLocalBackend({
            modelDir: vlmDir!,
            device: runtime.common.onnx.executionProvider,
            question: { maxElements: settings.maxElements },
            ...(settings.model === undefined ? {} : { model: settings.model }),
          });
      }
    };
    const backend = (settings: CaptionSettings): Promise<CaptionBackend> => {
      if (!offers(settings.backend)) {
        return Promise.reject(
          configError(
            `this captioner serves ${config.backends.join(', ')}; the run asks for the ${settings.backend} backend ` +
              '(SYNOOD_CAPTION_BACKENDS)',
          ),
        );
      }
      const key = JSON.stringify([settings.backend, settings.endpoint, settings.model, settings.maxElements]);
      let entry = backends.get(key);
      if (entry === undefined) {
        entry = make(settings).then((b) => {
          created.push(b);
          return b;
        });
        // A failed creation (bad settings, a model that does not load) is not remembered.
        entry.catch(() => backends.delete(key));
        backends.set(key, entry);
      }
      return entry;
    };

    let closing: Promise<void> | undefined;
    return {
      store,
      stores,
      backend,
      activeBackends: () => [...created],
      synonyms,
      countTokens: (text) => tokenizer.contentIds(text).length,
      metrics,
      logger,
      batchSize: config.batchSize,
      modelInputs,
      close() {
        closing ??= (async () => {
          await Promise.allSettled(created.map((b) => b.close()));
          await Promise.all(towers.map((t) => t.release()));
          await Promise.all([stores.close(), store.close()]);
        })();
        return closing;
      },
    };
  } catch (error) {
    await Promise.allSettled([...towers.map((t) => t.release()), store.close()]);
    throw error;
  }
}
