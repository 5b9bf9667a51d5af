/**
 * The report's curves against hand-counted values, and the HTML page of a hand-made report: one summary
 * row per method, a ROC and a histogram SVG per set, embedded images, escaped strings.
 */
import { describe, expect, it } from '@jest/globals';
import type { EvaluationReport } from '@synood/contracts';

import { METHOD_NAMES, renderReport, reportMeans } from '../src/report';
import { rocCurve, scoreHistogram } from '../src/report/curves';
import { row, sampleReport } from './report-sample';

describe('rocCurve', () => {
  it('steps through the distinct scores, InD positive', () => {
    // InD 0.9, 0.6; OOD 0.8, 0.1. Thresholds 0.9 → (0, ½), 0.8 → (½, ½), 0.6 → (½, 1), 0.1 → (1, 1).
    expect(rocCurve([0.9, 0.6], [0.8, 0.1])).toEqual([
      [0, 0],
      [0, 0.5],
      [0.5, 0.5],
      [0.5, 1],
      [1, 1],
    ]);
  });

  it('moves diagonally over a tie between InD and OOD', () => {
    expect(rocCurve([1, 0.5], [0.5])).toEqual([
      [0, 0],
      [0, 0.5],
      [1, 1],
    ]);
  });

  it('keeps at most maxPoints points, both ends included', () => {
    const ind = Array.from({ length: 100 }, (_, i) => i);
    const ood = Array.from({ length: 100 }, (_, i) => i + 0.5);
    const curve = rocCurve(ind, ood, 11);
    expect(curve).toHaveLength(11);
    expect(curve[0]).toEqual([0, 0]);
    expect(curve.at(-1)).toEqual([1, 1]);
  });
});

describe('scoreHistogram', () => {
  it('counts both sides over equal bins of the joint range, the maximum in the last bin', () => {
    // Range [0, 1] in 4 bins of ¼.
    const h = scoreHistogram([0, 0.3, 1], [0.25, 0.6, 0.74], 4);
    expect(h.edges).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(h.ind).toEqual([1, 1, 0, 1]);
    expect(h.ood).toEqual([0, 1, 2, 0]);
  });

  it('gives a single value a unit range', () => {
    const h = scoreHistogram([2, 2], [2], 2);
    expect(h.edges).toEqual([1.5, 2, 2.5]);
    expect(h.ind).toEqual([0, 2]);
  });
});

const METHODS = Object.keys(METHOD_NAMES);

describe('reportMeans', () => {
  it('averages per group and overall, each set weighing the same', () => {
    const sets: EvaluationReport['sets'] = [
      { name: 'a', kind: 'far', images: 10, metrics: { m: row(0.8) } },
      { name: 'b', kind: 'far', images: 1, metrics: { m: row(0.6) } },
      { name: 'c', kind: 'near', images: 1, metrics: { m: row(0.5) } },
      { name: 'empty', kind: 'near', images: 0, metrics: {} },
    ];
    const means = reportMeans(['m'], sets);
    expect(means.groups!.map((g) => [g.group, g.sets, g.metrics.m!.auroc])).toEqual([
      ['near', ['c'], 0.5],
      ['far', ['a', 'b'], expect.closeTo(0.7, 12)],
    ]);
    expect(means.average!.sets).toEqual(['a', 'b', 'c']);
    expect(means.average!.metrics.m!.auroc).toBeCloseTo((0.8 + 0.6 + 0.5) / 3, 12);
    expect(means.average!.metrics.m!.fpr95).toBeCloseTo((0.2 + 0.4 + 0.5) / 3, 12);
  });
});

describe('renderReport', () => {
  it('shows one summary row per method, a ROC and a histogram per set, images, timings and config', async () => {
    const html = renderReport(await sampleReport());
    const summary = /<table id="summary"[^>]*>([\s\S]*?)<\/table>/.exec(html)![1]!;
    expect(summary.match(/<tr data-method="/g)).toHaveLength(METHODS.length);
    for (const m of METHODS) {
      expect(summary).toContain(`<th scope="row">${METHOD_NAMES[m]!}</th>`);
    }
    // Columns: two sets, the near and far means and the average, AUROC and FPR95 each.
    expect(summary.match(/<th colspan="2">/g)).toHaveLength(5);
    expect(html.match(/<svg class="chart" data-kind="roc"/g)).toHaveLength(2);
    expect(html.match(/<svg class="chart" data-kind="histogram"/g)).toHaveLength(2);
    expect(html.match(/<polyline /g)!.length).toBeGreaterThanOrEqual(2 * 3);
    expect(html.match(/<img src="data:image\/jpeg;base64,[A-Za-z0-9+/=]+"/g)).toHaveLength(2);
    expect(html).toContain('Label fine-tuning: no training history recorded.');
    expect(html).toMatch(
      /<th scope="row">caption<\/th><td>2<\/td><td>4\.00<\/td><td>8<\/td><td>0<\/td><td>0<\/td><td>2\.00<\/td>/,
    );
    expect(html).toContain('3.000 → 2.000 → 1.500');
  });

  it('escapes set names, captions and the config', async () => {
    const html = renderReport(await sampleReport());
    expect(html).not.toContain('<b>evil</b>');
    expect(html).toContain('&lt;b&gt;evil&lt;/b&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; grass');
    expect(html).toContain('&quot;name&quot;: &quot;&lt;/pre&gt;&lt;script&gt;x&lt;/script&gt;&quot;');
    expect(html).not.toMatch(/<script|<link|https?:|onerror=alert\(1\)>/);
  });
});
