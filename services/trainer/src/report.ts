/**
 * The evaluation report as one self-contained HTML page (inline CSS and SVG, thumbnails as `data:` URLs,
 * no scripts, no external reference), so it can be served by the API, attached to a ticket or opened from a
 * bucket as is. It renders a {@link ReportData} (stored beside it as `report.json`): the summary table of
 * every method over the OOD sets, the near/far and overall means, a table per set with the four metrics
 * (best values in bold), ROC curves and score histograms per set, the training curves, InD images beside
 * their synthetic counterparts with captions and loss trajectories (the paper's Fig. 4), per-stage timings,
 * the model versions and the run config. Every string from the run (set and class names, captions,
 * config) is HTML-escaped.
 */
import type { EvaluationReport } from '@synood/contracts';

import type { ReportData, ReportPair, StageTiming } from './report/data';
import { escapeHtml } from './report/escape';
import { histogramSvg, lineChartSvg } from './report/svg';

export { escapeHtml } from './report/escape';
export type { ReportData, ReportPair, SetPlots, StageTiming } from './report/data';

/** Context shown in the report's header (a subset of {@link ReportData}). */
export interface ReportContext {
  runId: string;
  /** InD true-positive rate the threshold was set at. */
  tpr: number;
}

/** Display names of the methods (the paper's Table 4 rows and the baselines). */
export const METHOD_NAMES: Readonly<Record<string, string>> = {
  synood: 'SynOOD',
  'synood-projection': 'SynOOD (projection only)',
  'synood-labels': 'SynOOD (label fine-tuning only)',
  neglabel: 'NegLabel',
  mcm: 'MCM',
  msp: 'MSP',
  energy: 'Energy',
  'max-logit': 'Max-logit',
};

type MetricKey = 'auroc' | 'fpr95' | 'auprIn' | 'auprOut';
const COLUMNS: { key: MetricKey; label: string; higher: boolean }[] = [
  { key: 'auroc', label: 'AUROC ↑', higher: true },
  { key: 'fpr95', label: 'FPR95 ↓', higher: false },
  { key: 'auprIn', label: 'AUPR-In ↑', higher: true },
  { key: 'auprOut', label: 'AUPR-Out ↑', higher: true },
];

type Row = Record<MetricKey, number>;

function percent(v: number): string {
  return (100 * v).toFixed(2);
}

function nameOf(method: string): string {
  return METHOD_NAMES[method] ?? method;
}

/** Plain mean of each metric per method over `sets` (methods without a row in a set are left out there). */
export function meanRows(
  methods: readonly string[],
  sets: EvaluationReport['sets'],
): Record<string, Row | undefined> {
  const out: Record<string, Row | undefined> = {};
  for (const m of methods) {
    const rows = sets.map((s) => s.metrics[m]).filter((r): r is Row => r !== undefined);
    if (rows.length === 0) {
      out[m] = undefined;
      continue;
    }
    const mean = (k: MetricKey): number => rows.reduce((a, r) => a + r[k], 0) / rows.length;
    out[m] = { auroc: mean('auroc'), fpr95: mean('fpr95'), auprIn: mean('auprIn'), auprOut: mean('auprOut') };
  }
  return out;
}

/** Per-group and overall means of a report's scored sets (what `metrics.json` carries as `groups` and `average`). */
export function reportMeans(
  methods: readonly string[],
  sets: EvaluationReport['sets'],
): Pick<EvaluationReport, 'groups' | 'average'> {
  const scored = sets.filter((s) => Object.keys(s.metrics).length > 0);
  const strip = (rows: Record<string, Row | undefined>): Record<string, Row> =>
    Object.fromEntries(Object.entries(rows).filter((e): e is [string, Row] => e[1] !== undefined));
  const groups: NonNullable<EvaluationReport['groups']> = [];
  for (const group of ['near', 'far'] as const) {
    const members = scored.filter((s) => s.kind === group);
    if (members.length > 0) {
      groups.push({ group, sets: members.map((s) => s.name), metrics: strip(meanRows(methods, members)) });
    }
  }
  return {
    groups,
    ...(scored.length === 0
      ? {}
      : { average: { sets: scored.map((s) => s.name), metrics: strip(meanRows(methods, scored)) } }),
  };
}

function bestOf(values: number[], higher: boolean): string {
  return percent(higher ? Math.max(...values) : Math.min(...values));
}

function table(caption: string, methods: readonly string[], rows: Record<string, Row | undefined>): string {
  const present = methods.filter((m) => rows[m] !== undefined);
  if (present.length === 0) {
    return `<section><h3>${escapeHtml(caption)}</h3><p class="note">No scores (the set has no readable image).</p></section>`;
  }
  const best = new Map(
    COLUMNS.map((c) => [
      c.key,
      bestOf(
        present.map((m) => rows[m]![c.key]),
        c.higher,
      ),
    ]),
  );
  const head = `<tr><th>Method</th>${COLUMNS.map((c) => `<th>${c.label}</th>`).join('')}</tr>`;
  const body = present
    .map((m) => {
      const cells = COLUMNS.map((c) => {
        const text = percent(rows[m]![c.key]);
        return `<td>${best.get(c.key) === text ? `<b>${text}</b>` : text}</td>`;
      }).join('');
      return `<tr><th scope="row">${escapeHtml(nameOf(m))}</th>${cells}</tr>`;
    })
    .join('');
  return `<section><h3>${escapeHtml(caption)}</h3><table><thead>${head}</thead><tbody>${body}</tbody></table></section>`;
}

/** The summary: one row per method, AUROC and FPR95 per set, per group and on average. */
function summaryTable(report: EvaluationReport): string {
  const columns: { label: string; rows: Record<string, Row | undefined> }[] = report.sets.map((s) => ({
    label: s.name,
    rows: s.metrics,
  }));
  for (const g of report.groups ?? []) {
    columns.push({ label: `${g.group === 'near' ? 'Near' : 'Far'}-OOD mean`, rows: g.metrics });
  }
  if (report.average !== undefined) {
    columns.push({ label: 'Average', rows: report.average.metrics });
  }
  const head1 = `<tr><th rowspan="2">Method</th>${columns
    .map((c) => `<th colspan="2">${escapeHtml(c.label)}</th>`)
    .join('')}</tr>`;
  const head2 = `<tr>${columns.map(() => '<th>AUROC ↑</th><th>FPR95 ↓</th>').join('')}</tr>`;
  const cell = (c: (typeof columns)[number], m: string, key: 'auroc' | 'fpr95'): string => {
    const r = c.rows[m];
    if (r === undefined) {
      return '<td>–</td>';
    }
    const values = report.methods.map((x) => c.rows[x]?.[key]).filter((v): v is number => v !== undefined);
    const text = percent(r[key]);
    return `<td>${bestOf(values, key === 'auroc') === text ? `<b>${text}</b>` : text}</td>`;
  };
  const body = report.methods
    .map(
      (m) =>
        `<tr data-method="${escapeHtml(m)}"><th scope="row">${escapeHtml(nameOf(m))}</th>${columns
          .map((c) => cell(c, m, 'auroc') + cell(c, m, 'fpr95'))
          .join('')}</tr>`,
    )
    .join('');
  return `<table id="summary" class="summary"><thead>${head1}${head2}</thead><tbody>${body}</tbody></table>`;
}

function plotsSection(data: ReportData): string {
  if (data.plots.length === 0) {
    return '';
  }
  const figures = data.plots
    .map((p) => {
      const group = p.group === undefined ? '' : ` (${p.group}-OOD)`;
      const roc = lineChartSvg({
        kind: 'roc',
        title: `ROC: ${p.set}${group}`,
        xLabel: 'FPR (OOD accepted)',
        yLabel: 'TPR (InD accepted)',
        series: p.roc.map((c) => ({ name: nameOf(c.method), points: c.points })),
        xDomain: [0, 1],
        yDomain: [0, 1],
        diagonal: true,
      });
      const hist = histogramSvg(
        `${nameOf(p.histogram.method)} scores: ${p.set}`,
        `${nameOf(p.histogram.method)} score`,
        p.histogram,
        p.set,
      );
      return `<figure class="set" data-set="${escapeHtml(p.set)}">${roc}${hist}<figcaption>${escapeHtml(p.set)}${escapeHtml(group)}</figcaption></figure>`;
    })
    .join('');
  return `<h2>ROC curves and score histograms</h2><div class="grid">${figures}</div>`;
}

function trainingSection(data: ReportData): string {
  const charts: string[] = [];
  for (const [label, h] of [
    ['Projection head', data.training.projection],
    ['Label fine-tuning', data.training.labels],
  ] as const) {
    if (h === null || (h.steps.length === 0 && h.epochs.length === 0)) {
      charts.push(`<p class="note">${label}: no training history recorded.</p>`);
      continue;
    }
    const stepsPerEpoch = Math.max(1, ...h.steps.map((s) => s.step + 1));
    const series = [
      {
        name: 'loss per step',
        points: h.steps.map((s, i): [number, number] => [(i + 1) / stepsPerEpoch, s.loss]),
      },
      { name: 'epoch mean', points: h.epochs.map((e): [number, number] => [e.epoch + 1, e.loss]) },
    ].filter((s) => s.points.length > 0);
    charts.push(
      lineChartSvg({
        kind: 'training',
        title: `${label}: training loss`,
        xLabel: 'epoch',
        yLabel: 'loss',
        series,
      }),
    );
  }
  return `<h2>Training curves</h2><div class="grid">${charts.join('')}</div>`;
}

function sparkline(losses: readonly number[]): string {
  if (losses.length === 0) {
    return '';
  }
  const w = 120;
  const h = 36;
  const lo = Math.min(...losses);
  const hi = Math.max(...losses);
  const span = hi === lo ? 1 : hi - lo;
  const points = losses
    .map((l, i) => {
      const x = losses.length === 1 ? w / 2 : 4 + (i * (w - 8)) / (losses.length - 1);
      return `${x.toFixed(1)},${(h - 4 - ((l - lo) / span) * (h - 8)).toFixed(1)}`;
    })
    .join(' ');
  return `<svg class="spark" data-kind="losses" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="guidance loss per iteration"><polyline fill="none" stroke="#d55e00" stroke-width="1.5" points="${points}"/></svg>`;
}

function pairCard(p: ReportPair): string {
  const img = (src: string | null, alt: string): string =>
    src === null
      ? `<div class="missing">${escapeHtml(alt)}: not readable</div>`
      : `<img src="${src}" alt="${escapeHtml(alt)}">`;
  return (
    `<figure class="pair" data-item="${escapeHtml(p.id)}"><div class="images">${img(p.ind, `InD ${p.className}`)}` +
    `${img(p.synthetic, `synthetic from ${p.className}`)}</div><figcaption><b>${escapeHtml(p.className)}</b>` +
    `<span class="caption">${p.caption === null ? '<i>no caption</i>' : escapeHtml(p.caption)}</span>` +
    `${sparkline(p.losses)}<span class="losses">loss: ${p.losses.map((l) => l.toFixed(3)).join(' → ') || '–'}</span>` +
    `</figcaption></figure>`
  );
}

function pairsSection(data: ReportData): string {
  const body =
    data.pairs.length === 0
      ? '<p class="note">No synthetic image was recorded for this run.</p>'
      : `<div class="pairs">${data.pairs.map(pairCard).join('')}</div>`;
  return `<h2>InD images and their synthetic OOD counterparts</h2><p class="note">Left: InD image; right: the near-boundary image synthesised from it, with the caption that prompted it and the guidance loss per iteration.</p>${body}`;
}

function timingsSection(stages: readonly StageTiming[]): string {
  const fmt = (v: number | null, digits: number): string => (v === null ? '–' : v.toFixed(digits));
  const rows = stages
    .map(
      (t) =>
        `<tr><th scope="row">${escapeHtml(t.stage)}</th><td>${t.markers}</td><td>${fmt(t.seconds, 2)}</td>` +
        `<td>${t.processed}</td><td>${t.failed}</td><td>${t.skipped}</td><td>${fmt(t.perSecond, 2)}</td></tr>`,
    )
    .join('');
  return (
    '<h2>Stage timings</h2><table id="timings"><thead><tr><th>Stage</th><th>Jobs</th><th>Seconds</th>' +
    '<th>Processed</th><th>Failed</th><th>Skipped</th><th>Items/s</th></tr></thead>' +
    `<tbody>${rows}</tbody></table><p class="note">Seconds summed over a stage's jobs (shards), from their done-markers; – where a stage does not record them.</p>`
  );
}

function modelsSection(data: ReportData): string {
  const spec = Object.entries(data.models.spec)
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`)
    .join('');
  const files = data.models.service
    .map((m) => `<tr><th scope="row">${escapeHtml(m.role)}</th><td>${escapeHtml(m.file)}</td></tr>`)
    .join('');
  return (
    `<h2>Models</h2><table id="models"><thead><tr><th>Role (run spec)</th><th>Registry name / setting</th></tr></thead><tbody>${spec}</tbody></table>` +
    (files === ''
      ? ''
      : `<table id="model-files"><thead><tr><th>Role (evaluate worker)</th><th>File</th></tr></thead><tbody>${files}</tbody></table>`)
  );
}

const STYLE = [
  'body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24;max-width:80rem}',
  'table{border-collapse:collapse;margin:.5rem 0 1.5rem}',
  'th,td{border:1px solid #c8ccd1;padding:.3rem .6rem;text-align:right}',
  'th[scope=row],thead th:first-child{text-align:left}',
  'thead th{background:#eef1f4}',
  'h2{font-size:1.2rem;margin-top:2rem}h3{font-size:1.02rem;margin-top:1.2rem}',
  '.note{color:#57606a}',
  '.grid{display:flex;flex-wrap:wrap;gap:1rem}.grid figure{margin:0}',
  'svg.chart{font-size:10px;background:#fff;border:1px solid #eef1f4}svg .title{font-size:12px;font-weight:600}',
  '.pairs{display:grid;grid-template-columns:repeat(auto-fill,minmax(18rem,1fr));gap:1rem}',
  '.pair{margin:0;border:1px solid #eef1f4;padding:.5rem}.pair .images{display:flex;gap:.4rem}',
  '.pair img,.pair .missing{width:128px;height:128px}.pair .missing{background:#eef1f4;font-size:.8rem}',
  '.pair figcaption{display:flex;flex-direction:column;gap:.2rem;font-size:.85rem;margin-top:.3rem}',
  'pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:.8rem}',
].join('');

/** The HTML page of a report. */
export function renderReport(data: ReportData): string {
  const report = data.metrics;
  const details: string[] = [];
  for (const set of report.sets) {
    const kind = set.kind === undefined ? '' : ` (${set.kind}-OOD)`;
    details.push(table(`${set.name}${kind}: ${set.images} images`, report.methods, set.metrics));
  }
  const scored = report.sets.filter((s) => Object.keys(s.metrics).length > 0);
  if (report.average !== undefined && scored.length > 1) {
    details.push(table(`Mean over ${scored.length} OOD sets`, report.methods, report.average.metrics));
  }
  for (const g of report.groups ?? []) {
    details.push(
      table(
        `${g.group === 'near' ? 'Near' : 'Far'}-OOD mean (${g.sets.join(', ')})`,
        report.methods,
        g.metrics,
      ),
    );
  }
  const metrics =
    report.sets.length === 0
      ? '<p class="note">The run spec lists no OOD set; only the threshold was computed.</p>'
      : `${summaryTable(report)}<h2>Per set</h2>${details.join('')}`;
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>SynOOD evaluation: ${escapeHtml(data.runId)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>SynOOD evaluation of run ${escapeHtml(data.runId)}</h1>`,
    `<p>In-distribution: ${escapeHtml(report.ind.name)}, ${report.ind.images} images (the positive class). ` +
      `Metrics in %, InD positive; FPR95 at 95% InD recall as NegLabel computes it; means weigh every set the same.</p>`,
    `<p>Detector threshold: SynOOD score ≥ ${report.threshold.toPrecision(6)} is InD ` +
      `(${percent(data.tpr)}% of InD images accepted).</p>`,
    '<h2>Metrics</h2>',
    metrics,
    plotsSection(data),
    trainingSection(data),
    pairsSection(data),
    timingsSection(data.stages),
    modelsSection(data),
    `<h2>Run config</h2><pre id="config">${escapeHtml(JSON.stringify(data.config, null, 2))}</pre>`,
    '</body></html>',
    '',
  ].join('\n');
}
