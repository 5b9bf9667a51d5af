/**
 * The synthesizer's explicit dependencies (style guide §7.3): stores, the four SD 2 inpainting sessions and
 * the prompt tokenizer loaded once at startup, the classifier and VAE decoder graphs the guidance model is
 * differentiated from, and per-setting caches of inpainting pipelines and guidance sessions (a run's image
 * size, loss and schedule decide them; runs with the same settings share them), metrics and logger.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import type { RunSpec } from '@synood/contracts';
import {
  InpaintingPipeline,
  type InpaintingModels,
  type PromptTokenizer,
  SynOodSynthesizer,
  buildGuidanceModel,
} from '@synood/diffusion';
import { type Model, modelToBytes, readModel } from '@synood/graph';
import type { PlatformMetrics } from '@synood/metrics';
import { ClipTokenizer, clipTokenizerJson } from '@synood/models';
import { type InferenceSession, createSession, releaseSession } from '@synood/onnx';
import type { ArtifactStore } from '@synood/storage';

import type { SynthesizerConfig } from './config';
import {
  WorkerError,
  WorkerErrorCode,
  type ServiceLogger,
  type ModelInput,
  type StoreCache,
  type WorkerDepsOverrides,
  workerBaseDeps,
} from '@synood/service-kit';

/** A run's synthesis settings (`stages.synthesis` of the spec). */
export type SynthesisSettings = RunSpec['stages']['synthesis'];

/** What the synthesizer's handler uses. */
export interface SynthesizerDeps {
  /** The artifact store of runs. */
  store: ArtifactStore;
  /** Stores named by run specs (datasets), opened once per location. */
  stores: StoreCache;
  /**
   * A synthesizer for a run's settings and seed. Its pipeline and guidance session are built on first use
   * of a setting and reused.
   *
   * @throws WorkerError `WORKER_ERR_CONFIG` for an image size the VAE cannot take.
   */
  synthesizer(settings: SynthesisSettings, seed: number | string): Promise<SynOodSynthesizer>;
  metrics: PlatformMetrics;
  logger: ServiceLogger;
  /** The model files the service runs on, checked at startup. */
  modelInputs: readonly ModelInput[];
  /** Releases every session and closes stores. */
  close(): Promise<void>;
}

/** Replacements for parts of {@link SynthesizerDeps} (tests, `synood up`). */
export type SynthesizerDepsOverrides = WorkerDepsOverrides;

/**
 * The prompt tokenizer of the SD text encoder from a `tokenizer.json`, or from a folder (or its
 * `vocab.json`) holding `vocab.json` and `merges.txt`. Rows are padded with `!` (id 0), as SD 2's
 * OpenCLIP tokenizer pads, unless a `tokenizer.json` sets its own padding.
 */
export async function loadPromptTokenizer(location: string): Promise<PromptTokenizer> {
  let tokenizer: ClipTokenizer;
  const isDir = (await stat(location)).isDirectory();
  if (!isDir && path.basename(location) !== 'vocab.json') {
    tokenizer = await ClipTokenizer.fromFile(location);
  } else {
    const dir = isDir ? location : path.dirname(location);
    const vocab = JSON.parse(await readFile(path.join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
    const merges = (await readFile(path.join(dir, 'merges.txt'), 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#version'));
    tokenizer = ClipTokenizer.fromJson(clipTokenizerJson(vocab, merges), { padId: vocab['!'] ?? 0 }, dir);
  }
  return {
    encodeIds(texts) {
      const t = tokenizer.encode(texts);
      return { ids: t.ids, length: t.length };
    },
  };
}

function configError(message: string): WorkerError {
  return new WorkerError(WorkerErrorCode.Config, message);
}

/**
 * Builds the synthesizer's dependencies: checks the model files, creates the SD sessions and reads the
 * classifier and decoder graphs (each timed into `model_load_seconds`).
 *
 * @throws WorkerError `WORKER_ERR_MODEL_MISSING` listing missing files; OnnxError / DiffusionError /
 * GraphError for models with the wrong interface.
 */
export async function createSynthesizerDeps(
  config: SynthesizerConfig,
  overrides: SynthesizerDepsOverrides = {},
): Promise<SynthesizerDeps> {
  const m = config.models;
  const { logger, metrics, modelInputs, session, store, stores } = await workerBaseDeps(
    'synthesizer',
    config.runtime,
    overrides,
    (models) => [
      { role: 'sd.text_encoder', path: models.path('sd.text_encoder', m.textEncoder) },
      { role: 'sd.tokenizer', path: models.path('sd.tokenizer', m.tokenizer) },
      { role: 'sd.vae_encoder', path: models.path('sd.vae_encoder', m.vaeEncoder) },
      { role: 'sd.vae_decoder', path: models.path('sd.vae_decoder', m.vaeDecoder) },
      { role: 'sd.unet', path: models.path('sd.unet', m.unet) },
      { role: 'classifier', path: models.path('classifier', m.classifier) },
    ],
  );
  const pathOf = (role: string): string => modelInputs.find((i) => i.role === role)!.path;
  const sessions: InferenceSession[] = [];
  const load = async (role: string): Promise<InferenceSession> => {
    const end = metrics.modelLoad.timer();
    const s = await createSession(pathOf(role), session);
    sessions.push(s);
    end({ model: role });
    return s;
  };
  try {
    const tokenizer = await loadPromptTokenizer(pathOf('sd.tokenizer'));
    const sd: InpaintingModels = {
      textEncoder: await load('sd.text_encoder'),
      vaeEncoder: await load('sd.vae_encoder'),
      vaeDecoder: await load('sd.vae_decoder'),
      unet: await load('sd.unet'),
    };
    let end = metrics.modelLoad.timer();
    const classifier: Model = await readModel(pathOf('classifier'));
    end({ model: 'classifier' });
    end = metrics.modelLoad.timer();
    const decoder: Model = await readModel(pathOf('sd.vae_decoder'));
    end({ model: 'sd.vae_decoder.graph' });

    const pipelines = new Map<string, InpaintingPipeline>();
    const guidance = new Map<string, Promise<InferenceSession>>();
    const guidanceSession = (s: SynthesisSettings, latent: number): Promise<InferenceSession> => {
      const key = JSON.stringify([latent, s.loss, s.margin]);
      let entry = guidance.get(key);
      if (entry === undefined) {
        entry = (async () => {
          const done = metrics.modelLoad.timer();
          const model = buildGuidanceModel({
            classifier,
            decoder,
            latentShape: [4, latent, latent],
            loss: { kind: s.loss, margin: s.margin },
          });
          const created = await createSession(modelToBytes(model), session);
          sessions.push(created);
          done({ model: 'sd.guidance' });
          logger.info({ latent, loss: s.loss, margin: s.margin }, 'guidance model built');
          return created;
        })();
        entry.catch(() => guidance.delete(key));
        guidance.set(key, entry);
      }
      return entry;
    };

    const synthesizer = async (s: SynthesisSettings, seed: number | string): Promise<SynOodSynthesizer> => {
      if (s.size % config.vaeScaleFactor !== 0) {
        throw configError(
          `stages.synthesis.size ${s.size} is not a multiple of the VAE scale factor ${config.vaeScaleFactor}`,
        );
      }
      const key = JSON.stringify([s.size, s.steps, s.strength, s.guidance, s.scheduler]);
      let pipeline = pipelines.get(key);
      if (pipeline === undefined) {
        pipeline = new InpaintingPipeline(sd, tokenizer, {
          width: s.size,
          height: s.size,
          steps: s.steps,
          strength: s.strength,
          guidanceScale: s.guidance,
          scheduler: s.scheduler,
        });
        pipelines.set(key, pipeline);
      }
      const gradient = await guidanceSession(s, s.size / config.vaeScaleFactor);
      return new SynOodSynthesizer(pipeline, gradient, {
        seed,
        iterations: s.iterations,
        stepSize: s.stepSize,
        format: 'jpeg',
        quality: s.jpegQuality,
      });
    };

    let closing: Promise<void> | undefined;
    return {
      store,
      stores,
      synthesizer,
      metrics,
      logger,
      modelInputs,
      close() {
        closing ??= (async () => {
          await Promise.allSettled([...guidance.values()]);
          await Promise.all(sessions.map((s) => releaseSession(s)));
          await Promise.all([stores.close(), store.close()]);
        })();
        return closing;
      },
    };
  } catch (error) {
    await Promise.allSettled([...sessions.map((s) => releaseSession(s)), store.close()]);
    throw error;
  }
}
