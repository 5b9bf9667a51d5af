/**
 * Histogram bucket upper bounds, in seconds. Bounds sit on values people put in dashboards and SLOs
 * (1 s, 5 min, 1 h) rather than on an exact geometric series; consecutive bounds differ by ×1.5 to ×3
 * (×2.1 to ×2.2 on average), which keeps `histogram_quantile` errors within one step.
 */

/**
 * Stage job duration and queue wait: 10 ms (a skipped shard whose done-marker exists) up to 4 h (a
 * long training stage, or a job waiting behind a busy GPU pool). 20 buckets.
 */
export const STAGE_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400,
]);

/**
 * One onnxruntime `session.run`: 1 ms (a text-encoder batch on GPU) up to 60 s (a diffusion UNet step
 * batch on CPU). 15 buckets.
 */
export const ONNX_RUN_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/**
 * Model load (read + session creation): 10 ms (a fixture model) up to 10 min (multi-GB diffusion
 * weights from network storage). 15 buckets.
 */
export const MODEL_LOAD_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
]);

/**
 * API request latency: 1 ms (health checks, cached reads) up to 60 s (scoring a large upload).
 * 15 buckets.
 */
export const HTTP_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);
