/**
 * @file Inline SVG charts for the report: plain markup (no scripts, no external references), so the page
 * renders offline and from any store. Every text that reaches the markup is escaped.
 */
import type { Point, ScoreHistogram } from './curves';
import { escapeHtml } from './escape';

const W = 360;
const H = 260;
const M = { left: 52, right: 12, top: 26, bottom: 40 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;

/** Colours of the series, in order (colour-blind-safe Okabe–Ito). */
export const SERIES_COLORS = ['#d55e00', '#0072b2', '#009e73', '#cc79a7', '#e69f00', '#56b4e9'] as const;

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : Number(v.toPrecision(3)).toString();
}

function domainOf(values: number[], fallback: [number, number]): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) {
    return fallback;
  }
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

interface Frame {
  x: (v: number) => number;
  y: (v: number) => number;
  markup: string;
}

/** Axes, ticks, labels and title of a chart over the given domains. */
function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  [x0, x1]: [number, number],
  [y0, y1]: [number, number],
): Frame {
  const x = (v: number): number => M.left + ((v - x0) / (x1 - x0)) * PLOT_W;
  const y = (v: number): number => M.top + PLOT_H - ((v - y0) / (y1 - y0)) * PLOT_H;
  const ticks: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const xv = x0 + ((x1 - x0) * k) / 4;
    const yv = y0 + ((y1 - y0) * k) / 4;
    ticks.push(
      `<text x="${x(xv).toFixed(1)}" y="${M.top + PLOT_H + 14}" text-anchor="middle">${fmt(xv)}</text>`,
      `<text x="${M.left - 4}" y="${(y(yv) + 3).toFixed(1)}" text-anchor="end">${fmt(yv)}</text>`,
    );
  }
  const markup = [
    `<text class="title" x="${W / 2}" y="16" text-anchor="middle">${escapeHtml(title)}</text>`,
    `<path class="axis" d="M${M.left} ${M.top}V${M.top + PLOT_H}H${M.left + PLOT_W}" fill="none" stroke="#57606a"/>`,
    ...ticks,
    `<text x="${M.left + PLOT_W / 2}" y="${H - 6}" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    `<text x="12" y="${M.top + PLOT_H / 2}" text-anchor="middle" transform="rotate(-90 12 ${M.top + PLOT_H / 2})">${escapeHtml(yLabel)}</text>`,
  ].join('');
  return { x, y, markup };
}

function legend(names: readonly string[], colors: readonly string[]): string {
  return names
    .map(
      (name, i) =>
        `<g transform="translate(${M.left + PLOT_W - 130} ${M.top + 8 + i * 14})">` +
        `<rect width="10" height="10" fill="${colors[i]!}" opacity="0.8"/>` +
        `<text x="14" y="9">${escapeHtml(name)}</text></g>`,
    )
    .join('');
}

/** One line of a {@link lineChartSvg}. */
export interface Series {
  name: string;
  points: readonly Point[];
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Fixed domains (ROC: `[0, 1]`); the data's range otherwise. */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Draws the chance diagonal (ROC). */
  diagonal?: boolean;
  /** `data-*` kind of the chart, for tests and styling. */
  kind: string;
}

/** A line chart: one `<polyline>` per series. */
export function lineChartSvg(o: LineChartOptions): string {
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]));
  const f = frame(
    o.title,
    o.xLabel,
    o.yLabel,
    o.xDomain ?? domainOf(xs, [0, 1]),
    o.yDomain ?? domainOf(ys, [0, 1]),
  );
  const colors = o.series.map((_, i) => SERIES_COLORS[i % SERIES_COLORS.length]!);
  const lines = o.series
    .map(
      (s, i) =>
        `<polyline fill="none" stroke="${colors[i]!}" stroke-width="1.6" points="${s.points
          .map((p) => `${f.x(p[0]).toFixed(1)},${f.y(p[1]).toFixed(1)}`)
          .join(' ')}"/>`,
    )
    .join('');
  const diagonal =
    o.diagonal === true
      ? `<path d="M${f.x(0)} ${f.y(0)}L${f.x(1)} ${f.y(1)}" stroke="#c8ccd1" stroke-dasharray="4 3"/>`
      : '';
  return (
    `<svg class="chart" data-kind="${escapeHtml(o.kind)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
    `role="img" aria-label="${escapeHtml(o.title)}">${f.markup}${diagonal}${lines}` +
    `${legend(
      o.series.map((s) => s.name),
      colors,
    )}</svg>`
  );
}

/** A histogram of InD against OOD scores: one filled step `<path>` per side, as fractions of each side. */
export function histogramSvg(title: string, xLabel: string, h: ScoreHistogram, oodName: string): string {
  const total = (c: number[]): number =>
    Math.max(
      1,
      c.reduce((a, b) => a + b, 0),
    );
  const fractions = [h.ind, h.ood].map((c) => c.map((v) => v / total(c)));
  const top = Math.max(1e-9, ...fractions.flat());
  const f = frame(title, xLabel, 'fraction of images', [h.edges[0]!, h.edges.at(-1)!], [0, top]);
  const colors: string[] = [SERIES_COLORS[1], SERIES_COLORS[0]];
  const paths = fractions
    .map((fr, side) => {
      let d = `M${f.x(h.edges[0]!).toFixed(1)} ${f.y(0).toFixed(1)}`;
      fr.forEach((v, b) => {
        d += `V${f.y(v).toFixed(1)}H${f.x(h.edges[b + 1]!).toFixed(1)}`;
      });
      d += `V${f.y(0).toFixed(1)}Z`;
      return `<path d="${d}" fill="${colors[side]!}" fill-opacity="0.35" stroke="${colors[side]!}"/>`;
    })
    .join('');
  return (
    `<svg class="chart" data-kind="histogram" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" ` +
    `aria-label="${escapeHtml(title)}">${f.markup}${paths}${legend(['InD', oodName], colors)}</svg>`
  );
}
