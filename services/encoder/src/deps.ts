/**
 * The encoder's explicit dependencies (style guide §7.3): stores, the CLIP towers and tokenizer loaded once
 * per process, the linear-algebra backend, the WordNet corpus (loaded on first use), metrics and logger.
 * Handlers take this object; nothing is global.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import type { PlatformMetrics } from '@synood/metrics';
import { ClipImageEncoder, ClipTextEncoder, ClipTokenizer, loadWordNetSources } from '@synood/models';
import { OrtLinalgBackend } from '@synood/onnx';
import { type LabelCandidate, wordnetCandidates } from '@synood/ood';
import type { ArtifactStore } from '@synood/storage';
import type { LinalgBackend } from '@synood/tensor';

import type { EncoderConfig } from './config';
import {
  type ServiceLogger,
  type ModelInput,
  type StoreCache,
  type WorkerDepsOverrides,
  workerBaseDeps,
} from '@synood/service-kit';

/** Options of the WordNet candidate corpus that the mining config controls. */
export interface CandidateOptions {
  lemmas: 'first' | 'all';
  lowercase: boolean;
}

/** What the encoder's handlers use. */
export interface EncoderDeps {
  /** The artifact store of runs. */
  store: ArtifactStore;
  /** Stores named by run specs (datasets), opened once per location. */
  stores: StoreCache;
  imageEncoder: ClipImageEncoder;
  textEncoder: ClipTextEncoder;
  /** Identifies the CLIP text tower and tokenizer (sha256 of their bytes) in feature-cache keys. */
  textModelId: string;
  /** Runs the similarity products of mining. */
  backend: LinalgBackend;
  /** The negative-label candidate corpus. */
  candidates(options: CandidateOptions): Promise<readonly LabelCandidate[]>;
  metrics: PlatformMetrics;
  logger: ServiceLogger;
  batch: { images: number; texts: number };
  /** The model files the service runs on, checked at startup. */
  modelInputs: readonly ModelInput[];
  /** Releases sessions and closes stores. */
  close(): Promise<void>;
}

/** Replacements for parts of {@link EncoderDeps} (tests, `synood up`). */
export interface EncoderDepsOverrides extends WorkerDepsOverrides {
  /** The candidate corpus, instead of WordNet (tests use a small list). */
  candidates?: (options: CandidateOptions) => Promise<readonly LabelCandidate[]>;
}

function sha256(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
  }
  return h.digest('hex');
}

/**
 * Builds the encoder's dependencies: checks the model files, loads the towers (timing each load into
 * `model_load_seconds`) and the backend.
 *
 * @throws WorkerError `WORKER_ERR_MODEL_MISSING` listing missing model files; ClipError / OnnxError for a
 * model with the wrong inputs or outputs.
 */
export async function createEncoderDeps(
  config: EncoderConfig,
  overrides: EncoderDepsOverrides = {},
): Promise<EncoderDeps> {
  const { logger, metrics, modelInputs, session, store, stores } = await workerBaseDeps(
    'encoder',
    config.runtime,
    overrides,
    (models) => [
      { role: 'clip.vision', path: models.path('clip.vision', config.models.vision) },
      { role: 'clip.text', path: models.path('clip.text', config.models.text) },
      { role: 'clip.tokenizer', path: models.path('clip.tokenizer', config.models.tokenizer) },
    ],
  );
  const [visionPath, textPath, tokenizerPath] = modelInputs.map((m) => m.path) as [string, string, string];
  const opened: { release(): Promise<void> }[] = [];
  let backend: OrtLinalgBackend | undefined;
  try {
    let end = metrics.modelLoad.timer();
    const imageEncoder = await ClipImageEncoder.create(visionPath, { session });
    opened.push(imageEncoder);
    end({ model: 'clip.vision' });

    end = metrics.modelLoad.timer();
    const tokenizerBytes = await readFile(tokenizerPath);
    const textBytes = await readFile(textPath);
    const tokenizer = await ClipTokenizer.fromFile(tokenizerPath);
    const textEncoder = await ClipTextEncoder.create(textBytes, tokenizer, { session });
    opened.push(textEncoder);
    end({ model: 'clip.text' });
    const textModelId = sha256(textBytes, tokenizerBytes).slice(0, 32);

    backend = await OrtLinalgBackend.create(session);
    const ort = backend;

    const corpus = new Map<string, Promise<readonly LabelCandidate[]>>();
    let sources: ReturnType<typeof loadWordNetSources> | undefined;
    const candidates =
      overrides.candidates ??
      ((options: CandidateOptions): Promise<readonly LabelCandidate[]> => {
        const key = `${options.lemmas}/${String(options.lowercase)}`;
        let list = corpus.get(key);
        if (list === undefined) {
          sources ??= loadWordNetSources(config.wordnetDir);
          list = sources.then((s) => wordnetCandidates(s, options));
          // A failed read must not be remembered: the next job tries again.
          list.catch(() => corpus.delete(key));
          corpus.set(key, list);
        }
        return list;
      });

    let closing: Promise<void> | undefined;
    return {
      store,
      stores,
      imageEncoder,
      textEncoder,
      textModelId,
      backend: ort,
      candidates,
      metrics,
      logger,
      batch: { ...config.batch },
      modelInputs,
      close() {
        closing ??= (async () => {
          await Promise.all([imageEncoder.release(), textEncoder.release(), ort.dispose()]);
          await Promise.all([stores.close(), store.close()]);
        })();
        return closing;
      },
    };
  } catch (error) {
    await Promise.allSettled([...opened.map((o) => o.release()), backend?.dispose(), store.close()]);
    throw error;
  }
}
