/**
 * @file The prom-client adapter: one registry per {@link PlatformMetrics} and the platform's metrics
 * behind typed helpers. This module (with the rest of `@synood/metrics`) is the only code allowed to
 * import prom-client; lint enforces it.
 *
 * Platform constraints encoded here:
 * - prom-client's global registry is never used. Each `createMetrics` call owns a `Registry`, so tests
 *   and several services in one process (`synood up`) do not collide on metric names.
 * - Hot path: the helpers cache one prom-client child (`histogram.labels(...)`) per label combination in
 *   nested `Map`s, so our checks (closed sets, the id rule, the series cap) and prom-client's label
 *   object construction run once per combination; later calls cost one to three map lookups plus the
 *   child's `observe`. In prom-client 15 a child still re-validates and hashes its labels and scans the
 *   buckets on every observation, which dominates: measured on the 2-core dev box, ~0.4–0.5 µs per
 *   histogram observation through a helper or `bind()` (raw child ~0.38 µs) and ~0.2 µs per counter
 *   increment, within perf-anchors §7's ≤1 µs per request budget.
 * - `Registry.merge` drops registry-level default labels, so `defaultLabels` become real label names on
 *   every metric (process metrics included) and survive {@link combinedMetricsText}.
 * - Process metrics (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...) keep their
 *   standard unprefixed names so stock Node.js dashboards work; they describe the whole process, so
 *   combining registries keeps one copy.
 */
import { performance } from 'node:perf_hooks';

import {
  Counter,
  Gauge,
  Histogram,
  type Metric,
  Registry,
  collectDefaultMetrics,
  validateMetricName,
} from 'prom-client';

import {
  HTTP_SECONDS_BUCKETS,
  MODEL_LOAD_SECONDS_BUCKETS,
  ONNX_RUN_SECONDS_BUCKETS,
  STAGE_SECONDS_BUCKETS,
} from './buckets';
import { MetricsError, MetricsErrorCode } from './errors';
import {
  ITEM_OUTCOMES,
  type ItemOutcome,
  QUEUE_STATES,
  type QueueState,
  STAGE_JOB_STATUSES,
  type StageJobStatus,
  checkClosedLabel,
  checkFreeLabel,
  httpMethodLabel,
  httpStatusLabel,
} from './labels';

/** Metric names without the prefix. */
export const METRIC_NAMES = {
  stageJobDuration: 'stage_job_duration_seconds',
  stageJobWait: 'stage_job_wait_seconds',
  stageItems: 'stage_items_total',
  stageImagesPerSecond: 'stage_images_per_second',
  onnxRun: 'onnx_run_seconds',
  modelLoad: 'model_load_seconds',
  httpRequest: 'http_request_duration_seconds',
  queueJobs: 'queue_jobs',
} as const;

/** Content type of {@link PlatformMetrics.metricsText} and {@link combinedMetricsText} (Prometheus text 0.0.4). */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/** Label names the platform metrics use; `defaultLabels` may not reuse them. */
const RESERVED_LABELS = new Set([
  'stage',
  'status',
  'outcome',
  'model',
  'method',
  'route',
  'status_code',
  'queue',
  'state',
  'le',
  'quantile',
]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Options of {@link createMetrics}. Every field is optional. */
export interface MetricsOptions {
  /** Prepended to every platform metric name (not to process metrics). @defaultValue `'synood_'` */
  prefix?: string;
  /**
   * Constant labels on every metric of this registry, e.g. `{ service: 'encoder' }`. Names must be
   * valid Prometheus label names not used by the platform metrics; values follow the id rule of
   * {@link labelValueProblem}. @defaultValue `{}`
   */
  defaultLabels?: Record<string, string>;
  /** Register prom-client's process and Node.js runtime metrics. @defaultValue true */
  collectDefault?: boolean;
  /**
   * Most label combinations one metric may hold before a new one throws `METRICS_ERR_CARDINALITY`: the
   * backstop for ids the id rule cannot recognise. A histogram combination is exported as one line
   * per bucket plus `_sum` and `_count`. @defaultValue 1000
   */
  maxSeriesPerMetric?: number;
  /** Clock for the `timer()` helpers, in milliseconds; injectable for tests. @defaultValue `performance.now` */
  now?: () => number;
}

/** Labels of `stage_job_wait_seconds` and `stage_images_per_second`. */
export interface StageLabels {
  /** Stage name (`encode`, `synthesize`, ...); never a run, shard or job id. */
  stage: string;
}

/** Labels of `stage_job_duration_seconds`. */
export interface StageJobLabels extends StageLabels {
  /** How the job ended. */
  status: StageJobStatus;
}

/** Labels of `stage_items_total`. */
export interface StageItemLabels extends StageLabels {
  /** What happened to the items. */
  outcome: ItemOutcome;
}

/** Labels of `onnx_run_seconds` and `model_load_seconds`. */
export interface ModelLabels {
  /** Model role such as `clip.vision` or `sd.unet`; never a file hash or path. */
  model: string;
}

/** Labels of `http_request_duration_seconds`. */
export interface HttpLabels {
  /** Request method; non-standard methods are reported as `_OTHER`. */
  method: string;
  /** Route template (`/v1/runs/:id`), never the URL; the id rule rejects digits-only segments. */
  route: string;
  /** Response status, an integer in 100..599 (label `status_code`). */
  statusCode: number;
}

/** Stops a timer started by a helper's `timer()`, observes the elapsed seconds under `labels` and returns them. */
export type EndTimer<L> = (labels: L) => number;

/** A histogram child with its labels fixed: the cheapest way to observe on a hot path. */
export interface BoundHistogram {
  /** Observes a duration. @throws MetricsError `METRICS_ERR_ARGUMENT` unless `seconds` is finite and ≥ 0. */
  observe(seconds: number): void;
  /** Starts a timer; the returned function observes and returns the elapsed seconds. */
  timer(): () => number;
}

/**
 * A histogram of seconds. Label values are checked the first time a combination is seen
 * (`METRICS_ERR_LABEL`, `METRICS_ERR_CARDINALITY`); later calls reuse the cached prom-client child, so
 * an observation costs map lookups plus prom-client's own work. Use `bind()` where the labels are
 * known up front (a worker's stage, a session's model role) to skip the lookups as well.
 */
export interface HistogramHelper<L> {
  /** Full metric name, prefix included. */
  readonly name: string;
  /** Bucket upper bounds in seconds. */
  readonly buckets: readonly number[];
  /** Observes a duration. @throws MetricsError `METRICS_ERR_ARGUMENT` unless `seconds` is finite and ≥ 0. */
  observe(labels: L, seconds: number): void;
  /** Starts a timer whose end function takes the labels (known only when the work ends, e.g. its status). */
  timer(): EndTimer<L>;
  /** Checks `labels` once and returns the child bound to them. */
  bind(labels: L): BoundHistogram;
}

/** A counter child with its labels fixed. */
export interface BoundCounter {
  /** Adds `count`. @throws MetricsError `METRICS_ERR_ARGUMENT` unless finite and ≥ 0. */
  inc(count?: number): void;
}

/** A counter; label checks and caching as for {@link HistogramHelper}. */
export interface CounterHelper<L> {
  /** Full metric name, prefix included. */
  readonly name: string;
  /** Adds `count` (default 1). @throws MetricsError `METRICS_ERR_ARGUMENT` unless finite and ≥ 0. */
  inc(labels: L, count?: number): void;
  /** Checks `labels` once and returns the child bound to them. */
  bind(labels: L): BoundCounter;
}

/** A gauge; label checks and caching as for {@link HistogramHelper}. */
export interface GaugeHelper<L> {
  /** Full metric name, prefix included. */
  readonly name: string;
  /** Sets the value. @throws MetricsError `METRICS_ERR_ARGUMENT` unless finite and ≥ 0. */
  set(labels: L, value: number): void;
}

/** Job counts per state, as BullMQ's `getJobCounts` returns them (its `wait` key is accepted for `waiting`). */
export type QueueCounts = Partial<Record<QueueState, number>>;

/**
 * The platform's metrics, in their own registry. Names below are given without the prefix.
 */
export interface PlatformMetrics {
  /** The metric name prefix. */
  readonly prefix: string;
  /** Content type to send with {@link PlatformMetrics.metricsText}. */
  readonly contentType: string;
  /** `stage_job_duration_seconds{stage,status}`: a stage job's run time; buckets {@link STAGE_SECONDS_BUCKETS}. */
  readonly stageJobDuration: HistogramHelper<StageJobLabels>;
  /** `stage_job_wait_seconds{stage}`: enqueue to start of processing; buckets {@link STAGE_SECONDS_BUCKETS}. */
  readonly stageJobWait: HistogramHelper<StageLabels>;
  /** `stage_items_total{stage,outcome}`: items (images) processed, failed or skipped. */
  readonly stageItems: CounterHelper<StageItemLabels>;
  /** `stage_images_per_second{stage}`: set by the worker harness from a {@link RateMeter}. */
  readonly stageImagesPerSecond: GaugeHelper<StageLabels>;
  /** `onnx_run_seconds{model}`: one onnxruntime run; buckets {@link ONNX_RUN_SECONDS_BUCKETS}. */
  readonly onnxRun: HistogramHelper<ModelLabels>;
  /** `model_load_seconds{model}`: reading a model and creating its session; buckets {@link MODEL_LOAD_SECONDS_BUCKETS}. */
  readonly modelLoad: HistogramHelper<ModelLabels>;
  /** `http_request_duration_seconds{method,route,status_code}`; buckets {@link HTTP_SECONDS_BUCKETS}. */
  readonly httpRequest: HistogramHelper<HttpLabels>;
  /**
   * Sets `queue_jobs{queue,state}` for the states present in `counts`; absent states keep their last
   * value. BullMQ's `wait` key is reported as `waiting`. All counts are checked before any is set.
   *
   * @throws MetricsError `METRICS_ERR_LABEL` for an id-like queue name or an unknown state,
   * `METRICS_ERR_ARGUMENT` for a count that is not a finite number ≥ 0 or for both `wait` and `waiting`.
   */
  setQueueDepth(queue: string, counts: QueueCounts): void;
  /** The registry in Prometheus text format, for `GET /metrics`. */
  metricsText(): Promise<string>;
}

/** A registered metric with its full name; `process` marks prom-client's process/runtime metrics. */
interface Registered {
  readonly name: string;
  readonly metric: Metric;
  readonly process: boolean;
}

/** What {@link combinedMetricsText} needs of a {@link PlatformMetrics}, kept out of its public shape. */
const REGISTERED = new WeakMap<PlatformMetrics, readonly Registered[]>();

function argumentError(message: string): MetricsError {
  return new MetricsError(MetricsErrorCode.Argument, message);
}

function checkAmount(metric: string, what: string, value: number): void {
  if (!(value >= 0 && value < Infinity)) {
    throw argumentError(`${metric} ${what} must be a finite number ≥ 0, got ${String(value)}`);
  }
}

/** Counts label combinations of one metric. */
class SeriesBudget {
  private used = 0;

  constructor(
    private readonly metric: string,
    private readonly max: number,
  ) {}

  take(): void {
    if (this.used >= this.max) {
      throw new MetricsError(
        MetricsErrorCode.Cardinality,
        `metric ${this.metric} already has ${this.max} label combinations (maxSeriesPerMetric); a label ` +
          'probably carries ids or other unbounded values',
      );
    }
    this.used++;
  }
}

/**
 * One child per label combination. Nested maps keyed by the raw values avoid building a key string per
 * call; `make` validates, and a value it rejects is never cached (so it is rejected every time).
 */
class Children1<C> {
  private readonly map = new Map<string, C>();

  constructor(
    private readonly budget: SeriesBudget,
    private readonly make: (a: string) => C,
  ) {}

  get(a: string): C {
    let child = this.map.get(a);
    if (child === undefined) {
      child = this.make(a);
      this.budget.take();
      this.map.set(a, child);
    }
    return child;
  }
}

class Children2<C> {
  private readonly map = new Map<string, Map<string, C>>();

  constructor(
    private readonly budget: SeriesBudget,
    private readonly make: (a: string, b: string) => C,
  ) {}

  get(a: string, b: string): C {
    let inner = this.map.get(a);
    if (inner === undefined) {
      inner = new Map<string, C>();
      this.map.set(a, inner);
    }
    let child = inner.get(b);
    if (child === undefined) {
      child = this.make(a, b);
      this.budget.take();
      inner.set(b, child);
    }
    return child;
  }
}

class Children3<C> {
  private readonly map = new Map<string, Children2<C>>();

  constructor(
    private readonly budget: SeriesBudget,
    private readonly make: (a: string, b: string, c: string) => C,
  ) {}

  get(a: string, b: string, c: string): C {
    let inner = this.map.get(a);
    if (inner === undefined) {
      inner = new Children2<C>(this.budget, (b2, c2) => this.make(a, b2, c2));
      this.map.set(a, inner);
    }
    return inner.get(b, c);
  }
}

interface HistogramChild {
  observe(value: number): void;
}

function histogramHelper<L>(
  name: string,
  buckets: readonly number[],
  child: (labels: L) => HistogramChild,
  now: () => number,
): HistogramHelper<L> {
  const observeOn = (c: HistogramChild, seconds: number): void => {
    checkAmount(name, 'seconds', seconds);
    c.observe(seconds);
  };
  const elapsed = (start: number): number => Math.max(0, (now() - start) / 1000);
  return {
    name,
    buckets,
    observe(labels, seconds) {
      observeOn(child(labels), seconds);
    },
    timer() {
      const start = now();
      return (labels) => {
        const seconds = elapsed(start);
        observeOn(child(labels), seconds);
        return seconds;
      };
    },
    bind(labels) {
      const c = child(labels);
      return {
        observe(seconds) {
          observeOn(c, seconds);
        },
        timer() {
          const start = now();
          return () => {
            const seconds = elapsed(start);
            observeOn(c, seconds);
            return seconds;
          };
        },
      };
    },
  };
}

function checkPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || (prefix !== '' && !PREFIX.test(prefix))) {
    throw argumentError(
      `metrics option prefix=${JSON.stringify(prefix)} is not a valid metric name prefix. Should match ${PREFIX.source} (or be empty)`,
    );
  }
  return prefix;
}

function checkDefaultLabels(labels: Record<string, string>): Record<string, string> {
  if (typeof labels !== 'object' || Array.isArray(labels)) {
    throw argumentError('metrics option defaultLabels must be an object of label name → string value');
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw argumentError(
        `metrics option defaultLabels has label name ${JSON.stringify(name)}. Should match ${LABEL_NAME.source} and not start with __`,
      );
    }
    if (RESERVED_LABELS.has(name)) {
      throw argumentError(
        `metrics option defaultLabels.${name} clashes with a platform metric label. Reserved: ${[...RESERVED_LABELS].join(', ')}`,
      );
    }
    out[name] = checkFreeLabel(`defaultLabels.${name}`, value);
  }
  return out;
}

/**
 * Creates the platform metrics in a new registry of their own.
 *
 * Label rule: labels never carry ids. `status`, `outcome` and `state` accept only their closed sets;
 * `stage`, `model`, `route`, `queue` (and default label values) reject values that look like ids
 * (see {@link labelValueProblem}); each metric holds at most `maxSeriesPerMetric` label combinations.
 * All violations throw coded {@link MetricsError}s the first time a combination is used.
 *
 * @throws MetricsError `METRICS_ERR_ARGUMENT` for a bad prefix, default label or series cap.
 */
export function createMetrics(options: MetricsOptions = {}): PlatformMetrics {
  const prefix = checkPrefix(options.prefix ?? 'synood_');
  const defaults = checkDefaultLabels(options.defaultLabels ?? {});
  const maxSeries = options.maxSeriesPerMetric ?? 1000;
  if (!Number.isSafeInteger(maxSeries) || maxSeries < 1) {
    throw argumentError(`metrics option maxSeriesPerMetric must be an integer ≥ 1, got ${String(maxSeries)}`);
  }
  const now = options.now ?? (() => performance.now());
  const defaultNames = Object.keys(defaults);
  const registry = new Registry();
  const registers = [registry];

  const registered: Registered[] = [];
  if (options.collectDefault ?? true) {
    collectDefaultMetrics({ register: registry, labels: defaults });
    for (const { name } of registry.getMetricsAsArray()) {
      registered.push({ name, metric: registry.getSingleMetric(name)!, process: true });
    }
  }

  const fullName = (name: string): string => {
    const full = prefix + name;
    if (!validateMetricName(full)) {
      throw argumentError(`metric name ${full} is not valid; check the prefix option`);
    }
    return full;
  };
  const names = {
    jobDuration: fullName(METRIC_NAMES.stageJobDuration),
    jobWait: fullName(METRIC_NAMES.stageJobWait),
    items: fullName(METRIC_NAMES.stageItems),
    imagesPerSecond: fullName(METRIC_NAMES.stageImagesPerSecond),
    onnxRun: fullName(METRIC_NAMES.onnxRun),
    modelLoad: fullName(METRIC_NAMES.modelLoad),
    http: fullName(METRIC_NAMES.httpRequest),
    queueJobs: fullName(METRIC_NAMES.queueJobs),
  };
  const histogram = (name: string, help: string, labelNames: string[], buckets: readonly number[]) =>
    new Histogram({
      name,
      help,
      labelNames: [...labelNames, ...defaultNames],
      buckets: [...buckets],
      registers,
    });
  const budget = (name: string) => new SeriesBudget(name, maxSeries);

  const jobDuration = histogram(
    names.jobDuration,
    'Run time of one stage job, by stage and how it ended.',
    ['stage', 'status'],
    STAGE_SECONDS_BUCKETS,
  );
  const jobDurationChildren = new Children2(budget(names.jobDuration), (stage, status) =>
    jobDuration.labels({
      stage: checkFreeLabel('stage', stage),
      status: checkClosedLabel('status', status, STAGE_JOB_STATUSES),
      ...defaults,
    }),
  );

  const jobWait = histogram(
    names.jobWait,
    'Time a stage job waited in its queue before a worker started it.',
    ['stage'],
    STAGE_SECONDS_BUCKETS,
  );
  const jobWaitChildren = new Children1(budget(names.jobWait), (stage) =>
    jobWait.labels({ stage: checkFreeLabel('stage', stage), ...defaults }),
  );

  const items = new Counter({
    name: names.items,
    help: 'Items (images) handled by a stage, by outcome.',
    labelNames: ['stage', 'outcome', ...defaultNames],
    registers,
  });
  const itemChildren = new Children2(budget(names.items), (stage, outcome) =>
    items.labels({
      stage: checkFreeLabel('stage', stage),
      outcome: checkClosedLabel('outcome', outcome, ITEM_OUTCOMES),
      ...defaults,
    }),
  );

  const imagesPerSecond = new Gauge({
    name: names.imagesPerSecond,
    help: 'Images per second of a stage over the worker harness sliding window.',
    labelNames: ['stage', ...defaultNames],
    registers,
  });
  const imagesPerSecondChildren = new Children1(budget(names.imagesPerSecond), (stage) =>
    imagesPerSecond.labels({ stage: checkFreeLabel('stage', stage), ...defaults }),
  );

  const onnxRun = histogram(
    names.onnxRun,
    'Duration of one onnxruntime session run, by model role.',
    ['model'],
    ONNX_RUN_SECONDS_BUCKETS,
  );
  const onnxRunChildren = new Children1(budget(names.onnxRun), (model) =>
    onnxRun.labels({ model: checkFreeLabel('model', model), ...defaults }),
  );

  const modelLoad = histogram(
    names.modelLoad,
    'Time to read a model and create its onnxruntime session, by model role.',
    ['model'],
    MODEL_LOAD_SECONDS_BUCKETS,
  );
  const modelLoadChildren = new Children1(budget(names.modelLoad), (model) =>
    modelLoad.labels({ model: checkFreeLabel('model', model), ...defaults }),
  );

  const http = histogram(
    names.http,
    'API request latency, by method, route template and status code.',
    ['method', 'route', 'status_code'],
    HTTP_SECONDS_BUCKETS,
  );
  const httpChildren = new Children3(budget(names.http), (method, route, statusCode) =>
    http.labels({
      method: httpMethodLabel(method),
      route: checkFreeLabel('route', route),
      status_code: httpStatusLabel(Number(statusCode)),
      ...defaults,
    }),
  );

  const queueJobs = new Gauge({
    name: names.queueJobs,
    help: 'Jobs in a queue, by state (from BullMQ getJobCounts).',
    labelNames: ['queue', 'state', ...defaultNames],
    registers,
  });
  const queueChildren = new Children2(budget(names.queueJobs), (queue, state) =>
    queueJobs.labels({
      queue: checkFreeLabel('queue', queue),
      state: checkClosedLabel('state', state === 'wait' ? 'waiting' : state, QUEUE_STATES),
      ...defaults,
    }),
  );

  const metrics: PlatformMetrics = {
    prefix,
    contentType: METRICS_CONTENT_TYPE,
    stageJobDuration: histogramHelper<StageJobLabels>(
      names.jobDuration,
      STAGE_SECONDS_BUCKETS,
      (l) => jobDurationChildren.get(l.stage, l.status),
      now,
    ),
    stageJobWait: histogramHelper<StageLabels>(
      names.jobWait,
      STAGE_SECONDS_BUCKETS,
      (l) => jobWaitChildren.get(l.stage),
      now,
    ),
    stageItems: {
      name: names.items,
      inc(labels, count = 1) {
        checkAmount(names.items, 'count', count);
        itemChildren.get(labels.stage, labels.outcome).inc(count);
      },
      bind(labels) {
        const child = itemChildren.get(labels.stage, labels.outcome);
        return {
          inc(count = 1) {
            checkAmount(names.items, 'count', count);
            child.inc(count);
          },
        };
      },
    },
    stageImagesPerSecond: {
      name: names.imagesPerSecond,
      set(labels, value) {
        checkAmount(names.imagesPerSecond, 'value', value);
        imagesPerSecondChildren.get(labels.stage).set(value);
      },
    },
    onnxRun: histogramHelper<ModelLabels>(
      names.onnxRun,
      ONNX_RUN_SECONDS_BUCKETS,
      (l) => onnxRunChildren.get(l.model),
      now,
    ),
    modelLoad: histogramHelper<ModelLabels>(
      names.modelLoad,
      MODEL_LOAD_SECONDS_BUCKETS,
      (l) => modelLoadChildren.get(l.model),
      now,
    ),
    httpRequest: histogramHelper<HttpLabels>(
      names.http,
      HTTP_SECONDS_BUCKETS,
      // Status codes are keyed as strings so the three-level cache stays uniform.
      (l) => httpChildren.get(l.method, l.route, String(l.statusCode)),
      now,
    ),
    setQueueDepth(queue, counts) {
      const entries = (Object.entries(counts) as [string, number | undefined][]).filter(
        (e): e is [string, number] => e[1] !== undefined,
      );
      if (entries.some(([s]) => s === 'wait') && entries.some(([s]) => s === 'waiting')) {
        throw argumentError(
          `setQueueDepth(${JSON.stringify(queue)}) got both wait and waiting; they are the same state`,
        );
      }
      const children = entries.map(([state, count]) => {
        checkAmount(names.queueJobs, `count for state ${state}`, count);
        return queueChildren.get(queue, state);
      });
      children.forEach((child, i) => {
        child.set(entries[i]![1]);
      });
    },
    metricsText: () => registry.metrics(),
  };

  const own: [string, Metric][] = [
    [names.jobDuration, jobDuration],
    [names.jobWait, jobWait],
    [names.items, items],
    [names.imagesPerSecond, imagesPerSecond],
    [names.onnxRun, onnxRun],
    [names.modelLoad, modelLoad],
    [names.http, http],
    [names.queueJobs, queueJobs],
  ];
  for (const [name, metric] of own) {
    registered.push({ name, metric, process: false });
  }
  REGISTERED.set(metrics, registered);
  return metrics;
}

/**
 * The metrics of several {@link PlatformMetrics} as one Prometheus text, for a process that runs the API
 * and workers side by side but serves one `/metrics`. Like `Registry.merge`, it registers every metric
 * in one fresh registry, with two differences: process metrics present in several inputs are kept once
 * (the first input's; they measure the same process), and a clash of platform metric names throws a
 * coded error instead of a bare `Error`. Serve it with {@link METRICS_CONTENT_TYPE}.
 *
 * @throws MetricsError `METRICS_ERR_MERGE` when two inputs define the same platform metric name (give
 * them different prefixes, or share one {@link PlatformMetrics}); `METRICS_ERR_ARGUMENT` for no input
 * or an object not made by {@link createMetrics}.
 */
export async function combinedMetricsText(...metrics: PlatformMetrics[]): Promise<string> {
  if (metrics.length === 0) {
    throw argumentError('combinedMetricsText needs at least one PlatformMetrics');
  }
  const merged = new Registry();
  const seen = new Map<string, Registered>();
  metrics.forEach((m, index) => {
    const registered = REGISTERED.get(m);
    if (registered === undefined) {
      throw argumentError(`combinedMetricsText argument ${index} was not created by createMetrics`);
    }
    for (const entry of registered) {
      const previous = seen.get(entry.name);
      if (previous !== undefined) {
        if (previous.metric === entry.metric || (previous.process && entry.process)) {
          continue;
        }
        throw new MetricsError(
          MetricsErrorCode.Merge,
          `combinedMetricsText: metric ${entry.name} is defined by two of the registries (argument ${index} ` +
            'and an earlier one); give them different prefixes or share one PlatformMetrics',
        );
      }
      seen.set(entry.name, entry);
      merged.registerMetric(entry.metric);
    }
  });
  return merged.metrics();
}
