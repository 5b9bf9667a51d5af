/**
 * The trainer's explicit dependencies (style guide §7.3): stores, the CLIP image tower (loaded once, for the
 * OOD sets of `evaluate`), the onnxruntime linear-algebra backend the trainers and scores run on, metrics
 * and logger.
 */
import type { PlatformMetrics } from '@synood/metrics';
import { ClipImageEncoder } from '@synood/models';
import { OrtLinalgBackend } from '@synood/onnx';
import type { ArtifactStore } from '@synood/storage';
import type { LinalgBackend } from '@synood/tensor';

import type { TrainerConfig } from './config';
import {
  type ServiceLogger,
  type ModelInput,
  type StoreCache,
  type WorkerDepsOverrides,
  workerBaseDeps,
} from '@synood/service-kit';

/** What the trainer's handlers use. */
export interface TrainerDeps {
  /** The artifact store of runs and detectors. */
  store: ArtifactStore;
  /** Stores named by run specs (OOD sets), opened once per location. */
  stores: StoreCache;
  imageEncoder: ClipImageEncoder;
  /** Runs the training steps, the assignment and the scores. */
  backend: LinalgBackend;
  metrics: PlatformMetrics;
  logger: ServiceLogger;
  batch: { images: number };
  /** The model files the service runs on, checked at startup. */
  modelInputs: readonly ModelInput[];
  /** Releases sessions and closes stores. */
  close(): Promise<void>;
}

/** Replacements for parts of {@link TrainerDeps} (tests, `synood up`). */
export type TrainerDepsOverrides = WorkerDepsOverrides;

/**
 * Builds the trainer's dependencies: checks the model file, loads the image tower (timed into
 * `model_load_seconds`) and creates the backend.
 *
 * @throws WorkerError `WORKER_ERR_MODEL_MISSING`; ClipError / OnnxError for a model with the wrong IO.
 */
export async function createTrainerDeps(
  config: TrainerConfig,
  overrides: TrainerDepsOverrides = {},
): Promise<TrainerDeps> {
  const { logger, metrics, modelInputs, session, store, stores } = await workerBaseDeps(
    'trainer',
    config.runtime,
    overrides,
    (models) => [{ role: 'clip.vision', path: models.path('clip.vision', config.models.vision) }],
  );
  let imageEncoder: ClipImageEncoder | undefined;
  try {
    const end = metrics.modelLoad.timer();
    imageEncoder = await ClipImageEncoder.create(modelInputs[0]!.path, { session });
    end({ model: 'clip.vision' });
    const backend = await OrtLinalgBackend.create(session);
    const encoder = imageEncoder;
    let closing: Promise<void> | undefined;
    return {
      store,
      stores,
      imageEncoder: encoder,
      backend,
      metrics,
      logger,
      batch: { ...config.batch },
      modelInputs,
      close() {
        closing ??= (async () => {
          await Promise.all([encoder.release(), backend.dispose()]);
          await Promise.all([stores.close(), store.close()]);
        })();
        return closing;
      },
    };
  } catch (error) {
    await Promise.allSettled([imageEncoder?.release(), store.close()]);
    throw error;
  }
}
