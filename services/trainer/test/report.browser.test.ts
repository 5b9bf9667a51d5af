/**
 * Renders a generated report.html in headless Chromium and checks what a reader sees: the summary table's
 * rows, the ROC and histogram plots drawn with path/polyline children, and the embedded thumbnails
 * decoded. Skipped, with a message, where no Chromium is installed (CI installs it).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium } from 'playwright-core';

import { renderReport } from '../src/report';
import { METHODS, sampleReport } from './report-sample';

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(executablePath);
if (!available) {
  console.warn(
    `report.browser.test: skipped, no Chromium at ${executablePath} (install it, e.g. apt-get install chromium, or set CHROMIUM_PATH)`,
  );
}
const maybe = available ? describe : describe.skip;

maybe('report.html in headless Chromium', () => {
  let browser: Browser;
  let dir: string;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synood-report-'));
    const file = join(dir, 'report.html');
    await writeFile(file, renderReport(await sampleReport()));
    url = pathToFileURL(file).href;
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the table, the plots and the images', async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) {
        requests.push(r.url());
      }
    });
    await page.goto(url, { waitUntil: 'load' });
    expect(await page.locator('#summary tbody tr').count()).toBe(METHODS.length);
    const charts = page.locator('svg.chart');
    const kinds: (string | null)[] = [];
    for (let i = 0; i < (await charts.count()); i++) {
      const chart = charts.nth(i);
      kinds.push(await chart.getAttribute('data-kind'));
      expect(await chart.locator('path, polyline').count()).toBeGreaterThan(1);
      expect((await chart.boundingBox())!.width).toBeGreaterThan(0);
    }
    expect(kinds.filter((k) => k === 'roc')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'histogram')).toHaveLength(2);
    // Evaluated as a string: this package compiles without the DOM library.
    const images = await page.evaluate<{ complete: boolean; width: number }[]>(
      'Array.from(document.images).map((i) => ({ complete: i.complete, width: i.naturalWidth }))',
    );
    expect(images).toHaveLength(2);
    for (const i of images) {
      expect(i).toEqual({ complete: true, width: 128 });
    }
    // Escaped text stays text: the hostile caption is visible, not an element.
    expect(await page.locator('.caption').first().textContent()).toBe('<img src=x onerror=alert(1)> & grass');
    expect(requests).toEqual([]);
    await page.close();
  }, 60_000);
});
