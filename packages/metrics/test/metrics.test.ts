import { describe, expect, it } from '@jest/globals';
import { register as globalRegistry } from 'prom-client';

import {
  METRICS_CONTENT_TYPE,
  MetricsErrorCode,
  type PlatformMetrics,
  RateMeter,
  combinedMetricsText,
  createMetrics,
  labelValueProblem,
} from '../src';

/** The `code` of what `fn` throws, or undefined when it does not throw. */
function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `uncoded: ${String(err)}`;
  }
  return undefined;
}

/** Sample lines (no comments) of one metric family: `name`, `name_bucket`, `name_sum`, `name_count`. */
function samples(text: string, family: string): string[] {
  const names = new Set([family, `${family}_bucket`, `${family}_sum`, `${family}_count`]);
  return text.split('\n').filter((line) => !line.startsWith('#') && names.has(line.split(/[{ ]/)[0]!));
}

/** The exposition lines of one histogram series, built from hand-counted cumulative bucket counts. */
function histogramLines(
  name: string,
  labels: string,
  cumulative: [le: string, count: number][],
  sum: number,
  count: number,
): string[] {
  return [
    ...cumulative.map(([le, n]) => `${name}_bucket{le="${le}",${labels}} ${n}`),
    `${name}_bucket{le="+Inf",${labels}} ${count}`,
    `${name}_sum{${labels}} ${sum}`,
    `${name}_count{${labels}} ${count}`,
  ];
}

/** A clock returning the given millisecond readings in order. */
function fakeClock(...readings: number[]): () => number {
  return () => {
    const next = readings.shift();
    if (next === undefined) {
      throw new Error('fake clock read more often than expected');
    }
    return next;
  };
}

const bare = (): PlatformMetrics => createMetrics({ collectDefault: false });

describe('stage job histograms', () => {
  it('exports hand-counted cumulative buckets, sum and count for 0.02 s, 3 s and 20000 s', async () => {
    const m = bare();
    const labels = { stage: 'encode', status: 'completed' } as const;
    m.stageJobDuration.observe(labels, 0.02);
    m.stageJobDuration.observe(labels, 3);
    m.stageJobDuration.observe(labels, 20000);
    // 0.02 lands in (0.01, 0.025], 3 in (2.5, 5], 20000 above the last bound (only +Inf).
    const expected = histogramLines(
      'synood_stage_job_duration_seconds',
      'stage="encode",status="completed"',
      [
        ['0.01', 0],
        ['0.025', 1],
        ['0.05', 1],
        ['0.1', 1],
        ['0.25', 1],
        ['0.5', 1],
        ['1', 1],
        ['2.5', 1],
        ['5', 2],
        ['10', 2],
        ['30', 2],
        ['60', 2],
        ['120', 2],
        ['300', 2],
        ['600', 2],
        ['1200', 2],
        ['1800', 2],
        ['3600', 2],
        ['7200', 2],
        ['14400', 2],
      ],
      0.02 + 3 + 20000,
      3,
    );
    expect(samples(await m.metricsText(), 'synood_stage_job_duration_seconds')).toEqual(expected);
  });

  it('counts a value equal to a bound in that bound (le is ≤) and keeps statuses apart', async () => {
    const m = bare();
    m.stageJobWait.observe({ stage: 'caption' }, 0);
    m.stageJobWait.observe({ stage: 'caption' }, 0.05);
    m.stageJobWait.observe({ stage: 'caption' }, 60);
    m.stageJobDuration.observe({ stage: 'caption', status: 'failed' }, 1);
    m.stageJobDuration.observe({ stage: 'caption', status: 'skipped' }, 0.01);
    const text = await m.metricsText();
    const wait = samples(text, 'synood_stage_job_wait_seconds');
    expect(wait).toContain('synood_stage_job_wait_seconds_bucket{le="0.01",stage="caption"} 1');
    expect(wait).toContain('synood_stage_job_wait_seconds_bucket{le="0.025",stage="caption"} 1');
    expect(wait).toContain('synood_stage_job_wait_seconds_bucket{le="0.05",stage="caption"} 2');
    expect(wait).toContain('synood_stage_job_wait_seconds_bucket{le="30",stage="caption"} 2');
    expect(wait).toContain('synood_stage_job_wait_seconds_bucket{le="60",stage="caption"} 3');
    expect(wait).toContain(`synood_stage_job_wait_seconds_sum{stage="caption"} ${0 + 0.05 + 60}`);
    expect(wait).toContain('synood_stage_job_wait_seconds_count{stage="caption"} 3');
    const duration = samples(text, 'synood_stage_job_duration_seconds');
    expect(duration).toContain(
      'synood_stage_job_duration_seconds_bucket{le="0.5",stage="caption",status="failed"} 0',
    );
    expect(duration).toContain(
      'synood_stage_job_duration_seconds_bucket{le="1",stage="caption",status="failed"} 1',
    );
    expect(duration).toContain(
      'synood_stage_job_duration_seconds_bucket{le="0.01",stage="caption",status="skipped"} 1',
    );
    expect(duration).toHaveLength(2 * (20 + 3));
  });

  it('times with the injected clock: end(labels) observes and returns the elapsed seconds', async () => {
    const m = createMetrics({ collectDefault: false, now: fakeClock(1000, 3500, 10_000, 10_400) });
    const end = m.stageJobDuration.timer();
    expect(end({ stage: 'synthesize', status: 'completed' })).toBe(2.5);
    const bound = m.stageJobWait.bind({ stage: 'synthesize' });
    const stop = bound.timer();
    expect(stop()).toBe(0.4);
    const text = await m.metricsText();
    expect(samples(text, 'synood_stage_job_duration_seconds')).toContain(
      'synood_stage_job_duration_seconds_bucket{le="2.5",stage="synthesize",status="completed"} 1',
    );
    expect(samples(text, 'synood_stage_job_duration_seconds')).toContain(
      'synood_stage_job_duration_seconds_bucket{le="1",stage="synthesize",status="completed"} 0',
    );
    expect(samples(text, 'synood_stage_job_wait_seconds')).toContain(
      'synood_stage_job_wait_seconds_bucket{le="0.25",stage="synthesize"} 0',
    );
    expect(samples(text, 'synood_stage_job_wait_seconds')).toContain(
      'synood_stage_job_wait_seconds_bucket{le="0.5",stage="synthesize"} 1',
    );
  });

  it('sends observations through observe() and bind() to the same series', async () => {
    const m = bare();
    const bound = m.stageJobWait.bind({ stage: 'encode' });
    bound.observe(2);
    m.stageJobWait.observe({ stage: 'encode' }, 4);
    const wait = samples(await m.metricsText(), 'synood_stage_job_wait_seconds');
    expect(wait).toContain('synood_stage_job_wait_seconds_sum{stage="encode"} 6');
    expect(wait).toContain('synood_stage_job_wait_seconds_count{stage="encode"} 2');
  });
});

describe('items, rates and queue depth', () => {
  it('counts items per stage and outcome', async () => {
    const m = bare();
    m.stageItems.inc({ stage: 'encode', outcome: 'processed' }, 64);
    m.stageItems.inc({ stage: 'encode', outcome: 'processed' });
    const failed = m.stageItems.bind({ stage: 'encode', outcome: 'failed' });
    failed.inc();
    failed.inc(2);
    m.stageItems.inc({ stage: 'caption', outcome: 'skipped' }, 0);
    expect(samples(await m.metricsText(), 'synood_stage_items_total')).toEqual([
      'synood_stage_items_total{stage="encode",outcome="processed"} 65',
      'synood_stage_items_total{stage="encode",outcome="failed"} 3',
      'synood_stage_items_total{stage="caption",outcome="skipped"} 0',
    ]);
  });

  it('sets images per second from a RateMeter', async () => {
    const m = bare();
    const meter = new RateMeter({ windowSeconds: 10 });
    meter.mark(64, 0);
    meter.mark(64, 2000);
    m.stageImagesPerSecond.set({ stage: 'encode' }, meter.rate(5000));
    // (64 + 64) images / 10 s.
    expect(samples(await m.metricsText(), 'synood_stage_images_per_second')).toEqual([
      'synood_stage_images_per_second{stage="encode"} 12.8',
    ]);
    m.stageImagesPerSecond.set({ stage: 'encode' }, meter.rate(11_000));
    // The mark at 0 ms left the window (1000, 11000].
    expect(samples(await m.metricsText(), 'synood_stage_images_per_second')).toEqual([
      'synood_stage_images_per_second{stage="encode"} 6.4',
    ]);
  });

  it('sets queue depth per state, maps BullMQ wait to waiting and keeps absent states', async () => {
    const m = bare();
    m.setQueueDepth('encode', { waiting: 5, active: 1, 'waiting-children': 2 });
    // BullMQ returns a string-keyed record; `wait` is its key when asked for 'wait'.
    const fromBullmq: Record<string, number> = { wait: 7, delayed: 0 };
    m.setQueueDepth('encode', fromBullmq);
    m.setQueueDepth('caption', { failed: 3, completed: 10, paused: 0, prioritized: 4 });
    expect(samples(await m.metricsText(), 'synood_queue_jobs')).toEqual([
      'synood_queue_jobs{queue="encode",state="waiting"} 7',
      'synood_queue_jobs{queue="encode",state="active"} 1',
      'synood_queue_jobs{queue="encode",state="waiting-children"} 2',
      'synood_queue_jobs{queue="encode",state="delayed"} 0',
      'synood_queue_jobs{queue="caption",state="failed"} 3',
      'synood_queue_jobs{queue="caption",state="completed"} 10',
      'synood_queue_jobs{queue="caption",state="paused"} 0',
      'synood_queue_jobs{queue="caption",state="prioritized"} 4',
    ]);
  });

  it('checks every queue count before setting any', async () => {
    const m = bare();
    m.setQueueDepth('encode', { active: 1 });
    expect(
      thrownCode(() => {
        m.setQueueDepth('encode', { active: 9, failed: -1 });
      }),
    ).toBe(MetricsErrorCode.Argument);
    const unknown: Record<string, number> = { active: 9, stuck: 1 };
    expect(
      thrownCode(() => {
        m.setQueueDepth('encode', unknown);
      }),
    ).toBe(MetricsErrorCode.Label);
    const both: Record<string, number> = { wait: 1, waiting: 2 };
    expect(
      thrownCode(() => {
        m.setQueueDepth('encode', both);
      }),
    ).toBe(MetricsErrorCode.Argument);
    expect(samples(await m.metricsText(), 'synood_queue_jobs')).toEqual([
      'synood_queue_jobs{queue="encode",state="active"} 1',
    ]);
  });
});

describe('ONNX, model load and HTTP histograms', () => {
  it('observes ONNX runs and model loads per model role', async () => {
    const m = createMetrics({ collectDefault: false, now: fakeClock(0, 12_000) });
    m.onnxRun.observe({ model: 'clip.vision' }, 0.004);
    m.onnxRun.observe({ model: 'clip.vision' }, 0.004);
    m.onnxRun.observe({ model: 'clip.vision' }, 45);
    const endLoad = m.modelLoad.timer();
    expect(endLoad({ model: 'sd.unet' })).toBe(12);
    const text = await m.metricsText();
    expect(samples(text, 'synood_onnx_run_seconds')).toEqual(
      histogramLines(
        'synood_onnx_run_seconds',
        'model="clip.vision"',
        [
          ['0.001', 0],
          ['0.0025', 0],
          ['0.005', 2],
          ['0.01', 2],
          ['0.025', 2],
          ['0.05', 2],
          ['0.1', 2],
          ['0.25', 2],
          ['0.5', 2],
          ['1', 2],
          ['2.5', 2],
          ['5', 2],
          ['10', 2],
          ['30', 2],
          ['60', 3],
        ],
        0.004 + 0.004 + 45,
        3,
      ),
    );
    expect(samples(text, 'synood_model_load_seconds')).toEqual(
      histogramLines(
        'synood_model_load_seconds',
        'model="sd.unet"',
        [
          ['0.01', 0],
          ['0.025', 0],
          ['0.05', 0],
          ['0.1', 0],
          ['0.25', 0],
          ['0.5', 0],
          ['1', 0],
          ['2.5', 0],
          ['5', 0],
          ['10', 0],
          ['30', 1],
          ['60', 1],
          ['120', 1],
          ['300', 1],
          ['600', 1],
        ],
        12,
        1,
      ),
    );
  });

  it('labels API requests by method, route template and status code', async () => {
    const m = bare();
    m.httpRequest.observe({ method: 'get', route: '/v1/runs/:id', statusCode: 200 }, 0.003);
    m.httpRequest.observe({ method: 'GET', route: '/v1/runs/:id', statusCode: 200 }, 0.0005);
    m.httpRequest.observe({ method: 'PROPFIND', route: '/v1/runs', statusCode: 405 }, 0.001);
    const text = samples(await m.metricsText(), 'synood_http_request_duration_seconds');
    const ok = 'method="GET",route="/v1/runs/:id",status_code="200"';
    expect(text).toContain(`synood_http_request_duration_seconds_bucket{le="0.001",${ok}} 1`);
    expect(text).toContain(`synood_http_request_duration_seconds_bucket{le="0.0025",${ok}} 1`);
    expect(text).toContain(`synood_http_request_duration_seconds_bucket{le="0.005",${ok}} 2`);
    expect(text).toContain(`synood_http_request_duration_seconds_count{${ok}} 2`);
    const other = 'method="_OTHER",route="/v1/runs",status_code="405"';
    expect(text).toContain(`synood_http_request_duration_seconds_bucket{le="0.001",${other}} 1`);
    // Two label sets, each 15 buckets + Inf + sum + count.
    expect(text).toHaveLength(2 * 18);
  });
});

describe('label rule: never ids', () => {
  it('rejects id-like free-form label values with METRICS_ERR_LABEL', async () => {
    const m = bare();
    const uuid = '3f2b8c1e-9d4a-4e2b-8f7c-1a2b3c4d5e6f';
    expect(
      thrownCode(() => {
        m.stageJobWait.observe({ stage: uuid }, 1);
      }),
    ).toBe(MetricsErrorCode.Label);
    expect(
      thrownCode(() => {
        m.stageJobWait.observe({ stage: `encode-${uuid.toUpperCase()}` }, 1);
      }),
    ).toBe(MetricsErrorCode.Label);
    expect(
      thrownCode(() => {
        m.onnxRun.observe({ model: 'clip.0123456789abcdef' }, 1);
      }),
    ).toBe(MetricsErrorCode.Label);
    expect(
      thrownCode(() => {
        m.httpRequest.observe({ method: 'GET', route: '/v1/runs/123', statusCode: 200 }, 1);
      }),
    ).toBe(MetricsErrorCode.Label);
    expect(
      thrownCode(() => {
        m.setQueueDepth('42', { active: 1 });
      }),
    ).toBe(MetricsErrorCode.Label);
    expect(
      thrownCode(() => {
        m.stageItems.inc({ stage: '', outcome: 'processed' });
      }),
    ).toBe(MetricsErrorCode.Label);
    expect(thrownCode(() => m.stageItems.bind({ stage: 'x'.repeat(129), outcome: 'processed' }))).toBe(
      MetricsErrorCode.Label,
    );
    expect(thrownCode(() => m.modelLoad.timer()({ model: 'a/7' }))).toBe(MetricsErrorCode.Label);
    // Nothing rejected reached the registry.
    const text = await m.metricsText();
    expect(text.split('\n').filter((l) => !l.startsWith('#') && l !== '')).toEqual([]);
  });

  it('accepts ordinary names near the thresholds', () => {
    expect(labelValueProblem('clip.vision')).toBeUndefined();
    expect(labelValueProblem('/v1/runs/:id')).toBeUndefined();
    expect(labelValueProblem('/v1/runs/:id/artifacts')).toBeUndefined();
    expect(labelValueProblem('sd2.unet')).toBeUndefined();
    expect(labelValueProblem('train-projection')).toBeUndefined();
    // 15 hex digits: one short of the rule.
    expect(labelValueProblem('abcdef012345678')).toBeUndefined();
    expect(labelValueProblem('abcdef0123456789')).toMatch(/16 or more hex digits/);
    expect(labelValueProblem('/v1/runs/123')).toMatch(/digits-only path segment/);
    expect(labelValueProblem('x'.repeat(128))).toBeUndefined();
    expect(labelValueProblem('x'.repeat(129))).toMatch(/129 characters/);
  });

  it('rejects closed-set values outside their set', () => {
    const m = bare();
    const status = 'done' as 'completed';
    expect(
      thrownCode(() => {
        m.stageJobDuration.observe({ stage: 'encode', status }, 1);
      }),
    ).toBe(MetricsErrorCode.Label);
    const outcome = 'ok' as 'processed';
    expect(
      thrownCode(() => {
        m.stageItems.inc({ stage: 'encode', outcome });
      }),
    ).toBe(MetricsErrorCode.Label);
    for (const statusCode of [99, 600, 200.5, Number.NaN]) {
      expect(
        thrownCode(() => {
          m.httpRequest.observe({ method: 'GET', route: '/healthz', statusCode }, 1);
        }),
      ).toBe(MetricsErrorCode.Label);
    }
    let message = '';
    try {
      m.stageJobDuration.observe({ stage: 'encode', status }, 1);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      'metric label status="done" is not allowed. Should be one of: completed, failed, skipped',
    );
  });

  it('caps label combinations per metric with METRICS_ERR_CARDINALITY', async () => {
    const m = createMetrics({ collectDefault: false, maxSeriesPerMetric: 2 });
    m.stageJobWait.observe({ stage: 'a' }, 1);
    m.stageJobWait.observe({ stage: 'b' }, 1);
    expect(
      thrownCode(() => {
        m.stageJobWait.observe({ stage: 'c' }, 1);
      }),
    ).toBe(MetricsErrorCode.Cardinality);
    m.stageJobWait.observe({ stage: 'a' }, 1);
    // Other metrics have their own budget.
    m.onnxRun.observe({ model: 'c' }, 1);
    const wait = samples(await m.metricsText(), 'synood_stage_job_wait_seconds');
    expect(wait).toContain('synood_stage_job_wait_seconds_count{stage="a"} 2');
    expect(wait).toContain('synood_stage_job_wait_seconds_count{stage="b"} 1');
    expect(wait.some((l) => l.includes('stage="c"'))).toBe(false);
  });

  it('rejects negative and non-finite observations with METRICS_ERR_ARGUMENT', () => {
    const m = bare();
    expect(
      thrownCode(() => {
        m.stageJobWait.observe({ stage: 'encode' }, -0.1);
      }),
    ).toBe(MetricsErrorCode.Argument);
    expect(
      thrownCode(() => {
        m.onnxRun.bind({ model: 'clip.text' }).observe(Number.NaN);
      }),
    ).toBe(MetricsErrorCode.Argument);
    expect(
      thrownCode(() => {
        m.modelLoad.observe({ model: 'clip.text' }, Infinity);
      }),
    ).toBe(MetricsErrorCode.Argument);
    expect(
      thrownCode(() => {
        m.stageItems.inc({ stage: 'encode', outcome: 'failed' }, -1);
      }),
    ).toBe(MetricsErrorCode.Argument);
    expect(
      thrownCode(() => {
        m.stageImagesPerSecond.set({ stage: 'encode' }, Number.NaN);
      }),
    ).toBe(MetricsErrorCode.Argument);
  });
});

describe('registries', () => {
  it('gives every createMetrics its own registry, never the global one', async () => {
    const a = bare();
    const b = bare();
    a.stageItems.inc({ stage: 'encode', outcome: 'processed' }, 5);
    expect(samples(await a.metricsText(), 'synood_stage_items_total')).toEqual([
      'synood_stage_items_total{stage="encode",outcome="processed"} 5',
    ]);
    expect(samples(await b.metricsText(), 'synood_stage_items_total')).toEqual([]);
    expect(await b.metricsText()).toContain('# TYPE synood_stage_items_total counter');
    expect(globalRegistry.getSingleMetric('synood_stage_items_total')).toBeUndefined();
    expect(a.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(METRICS_CONTENT_TYPE).toBe(a.contentType);
  });

  it('applies prefix and default labels', async () => {
    const m = createMetrics({ collectDefault: false, prefix: 'x_', defaultLabels: { service: 'api' } });
    m.stageItems.inc({ stage: 'encode', outcome: 'processed' });
    expect(m.stageItems.name).toBe('x_stage_items_total');
    expect(samples(await m.metricsText(), 'x_stage_items_total')).toEqual([
      'x_stage_items_total{stage="encode",outcome="processed",service="api"} 1',
    ]);
  });

  it('collects process metrics by default, with the default labels, and can switch them off', async () => {
    const on = await createMetrics({ defaultLabels: { service: 'encoder' } }).metricsText();
    expect(on).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(on).toMatch(/^process_cpu_user_seconds_total\{service="encoder"\} \d/m);
    expect(on).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    const off = await bare().metricsText();
    expect(off).not.toMatch(/^# TYPE (process|nodejs)_/m);
    expect(off).toContain('# TYPE synood_queue_jobs gauge');
  });

  it('combines registries into one text, keeping process metrics once and default labels', async () => {
    const api = createMetrics({ defaultLabels: { service: 'api' } });
    const workers = createMetrics({ prefix: 'synood_worker_', defaultLabels: { service: 'workers' } });
    api.httpRequest.observe({ method: 'POST', route: '/v1/runs', statusCode: 202 }, 0.02);
    workers.stageItems.inc({ stage: 'encode', outcome: 'processed' }, 64);
    const text = await combinedMetricsText(api, workers);
    expect(text).toContain(
      'synood_http_request_duration_seconds_count{method="POST",route="/v1/runs",status_code="202",service="api"} 1',
    );
    expect(text).toContain(
      'synood_worker_stage_items_total{stage="encode",outcome="processed",service="workers"} 64',
    );
    expect(text.match(/^# TYPE process_cpu_seconds_total /gm)).toHaveLength(1);
    expect(text.match(/^# TYPE synood_stage_items_total /gm)).toHaveLength(1);
    expect(text.match(/^# TYPE synood_worker_stage_items_total /gm)).toHaveLength(1);
    // The same instance twice is not a clash.
    expect(await combinedMetricsText(api, api)).toContain('# TYPE synood_queue_jobs gauge');
  });

  it('refuses to combine registries whose platform metric names clash', async () => {
    const a = bare();
    const b = bare();
    await expect(combinedMetricsText(a, b)).rejects.toMatchObject({ code: MetricsErrorCode.Merge });
    await expect(combinedMetricsText()).rejects.toMatchObject({ code: MetricsErrorCode.Argument });
    await expect(combinedMetricsText({ ...a })).rejects.toMatchObject({ code: MetricsErrorCode.Argument });
  });

  it('validates options', () => {
    expect(thrownCode(() => createMetrics({ collectDefault: false, prefix: '1x_' }))).toBe(
      MetricsErrorCode.Argument,
    );
    expect(thrownCode(() => createMetrics({ collectDefault: false, defaultLabels: { stage: 'api' } }))).toBe(
      MetricsErrorCode.Argument,
    );
    expect(
      thrownCode(() => createMetrics({ collectDefault: false, defaultLabels: { 'bad-name': 'api' } })),
    ).toBe(MetricsErrorCode.Argument);
    expect(
      thrownCode(() =>
        createMetrics({ collectDefault: false, defaultLabels: { pod: 'a3f9c2d18e7b4f6a9c0d' } }),
      ),
    ).toBe(MetricsErrorCode.Label);
    expect(thrownCode(() => createMetrics({ collectDefault: false, maxSeriesPerMetric: 0 }))).toBe(
      MetricsErrorCode.Argument,
    );
    expect(thrownCode(() => createMetrics({ collectDefault: false, prefix: '' }))).toBeUndefined();
  });
});

describe('RateMeter', () => {
  it('computes hand-worked rates over a 10 s sliding window', () => {
    const meter = new RateMeter({ windowSeconds: 10 });
    expect(meter.rate(0)).toBe(0);
    meter.mark(64, 0);
    meter.mark(64, 2000);
    meter.mark(32, 9000);
    // Window (−1000, 9000]: 64 + 64 + 32 = 160 images / 10 s.
    expect(meter.rate(9000)).toBe(16);
    // Window (0, 10000]: the mark at exactly 0 ms has left; 96 / 10.
    expect(meter.rate(10_000)).toBe(9.6);
    // Window (2000, 12000]: 32 / 10.
    expect(meter.rate(12_000)).toBe(3.2);
    // Window (9000, 19000]: empty.
    expect(meter.rate(19_000)).toBe(0);
    meter.mark(10, 19_000);
    expect(meter.rate(19_000)).toBe(1);
  });

  it('handles many marks (compaction) and keeps the sum exact', () => {
    const meter = new RateMeter({ windowSeconds: 1 });
    // One image every millisecond for 5 s: at any time after the first second, 1000 marks in (t − 1000, t].
    for (let t = 1; t <= 5000; t++) {
      meter.mark(1, t);
    }
    expect(meter.rate(5000)).toBe(1000);
    expect(meter.rate(5500)).toBe(500);
  });

  it('defaults to a 30 s window and rejects bad input', () => {
    expect(new RateMeter().windowMs).toBe(30_000);
    expect(thrownCode(() => new RateMeter({ windowSeconds: 0 }))).toBe(MetricsErrorCode.Argument);
    const meter = new RateMeter();
    meter.mark(1, 100);
    expect(
      thrownCode(() => {
        meter.mark(1, 99);
      }),
    ).toBe(MetricsErrorCode.Argument);
    expect(thrownCode(() => meter.rate(50))).toBe(MetricsErrorCode.Argument);
    expect(
      thrownCode(() => {
        meter.mark(-1, 200);
      }),
    ).toBe(MetricsErrorCode.Argument);
    expect(
      thrownCode(() => {
        meter.mark(Number.NaN, 200);
      }),
    ).toBe(MetricsErrorCode.Argument);
  });
});
