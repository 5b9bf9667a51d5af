/**
 * `synood models list|pull|verify`: the model cache (see docs/models.md). The cache folder, Hugging Face
 * endpoint and token come from options, or from the defaults `main.ts` passes in from the configuration
 * (`SYNOOD_MODEL_CACHE`, `HF_ENDPOINT`, `HF_TOKEN`); this file reads no environment.
 */
import { resolve } from 'node:path';

import {
  DEFAULT_MODEL_CATALOG,
  type ModelCatalog,
  type ModelListing,
  type ModelProgressEvent,
  type PullFileResult,
  type PullModelsOptions,
  type VerifyFileResult,
  defaultModelCacheDir,
  listModels,
  loadModelCatalog,
  pullModels,
  verifyModels,
} from '@synood/models';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Command } from 'commander';

import { CliError, writeOut } from '../program';

/** Defaults of the `models` commands, for `main.ts` to fill from the configuration. */
export interface ModelsCommandDefaults {
  /** Cache folder when `--cache` is absent. @defaultValue `~/.cache/synood/models` */
  readonly cacheDir?: string;
  /** Hugging Face endpoint when `--endpoint` is absent. @defaultValue `https://huggingface.co` */
  readonly endpoint?: string;
  /** Hugging Face token (sent to the endpoint only). @defaultValue none */
  readonly token?: string;
  /** Connection settings for `s3://` sources. @defaultValue AWS defaults */
  readonly s3?: PullModelsOptions['s3'];
  /** Show progress bars; plain lines otherwise. @defaultValue whether stderr is a terminal */
  readonly interactive?: boolean;
}

interface CommonOptions {
  catalog?: string;
  cache?: string;
  json?: boolean;
}

interface PullOptions extends CommonOptions {
  offline?: boolean;
  concurrency: string;
  endpoint?: string;
}

/** Human-readable byte count, decimal units as the Hugging Face Hub shows them. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) {
    return '-';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]!}`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '),
    )
    .map((line) => `${line}\n`)
    .join('');
}

async function catalogFrom(file: string | undefined): Promise<ModelCatalog> {
  return file === undefined ? DEFAULT_MODEL_CATALOG : loadModelCatalog(resolve(file));
}

function cacheFrom(option: string | undefined, defaults: ModelsCommandDefaults): string {
  return resolve(option ?? defaults.cacheDir ?? defaultModelCacheDir());
}

/** The human-readable form of `models list`: one row per role, then the export commands still needed. */
export function formatModelList(listing: readonly ModelListing[], cacheDir: string): string {
  const rows = [['ROLE', 'STATUS', 'SIZE', 'FILES']];
  for (const model of listing) {
    const sizes = model.files.map((f) => f.size ?? f.expectedSize);
    const size = sizes.every((s) => s !== undefined) ? sizes.reduce((a, b) => a + b, 0) : undefined;
    rows.push([model.role, model.status, formatBytes(size), model.files.map((f) => f.path).join(', ')]);
  }
  let out = `cache: ${cacheDir}\n${table(rows)}`;
  const exports = exportHints(listing.filter((m) => m.status === 'export-required'));
  if (exports !== '') {
    out += `\n${exports}`;
  }
  return out;
}

/** One paragraph per distinct export command, naming the roles it produces. */
function exportHints(models: readonly { role: string; exportCommand?: string }[]): string {
  const byCommand = new Map<string, Set<string>>();
  for (const model of models) {
    if (model.exportCommand !== undefined) {
      byCommand.set(model.exportCommand, (byCommand.get(model.exportCommand) ?? new Set()).add(model.role));
    }
  }
  return [...byCommand.entries()]
    .map(
      ([command, roles]) => `To export ${[...roles].join(', ')} (see docs/models.md), run:\n  ${command}\n`,
    )
    .join('');
}

/** Progress output of `models pull` / `models verify`: bars on a terminal, one line per file otherwise. */
class ProgressView {
  private readonly multibar: MultiBar | undefined;
  private readonly bars = new Map<string, SingleBar>();

  constructor(
    private readonly command: Command,
    interactive: boolean,
  ) {
    this.multibar = interactive
      ? new MultiBar(
          {
            format: ' {label} {bar} {pct} {bytes}',
            hideCursor: true,
            clearOnComplete: false,
            stopOnComplete: false,
            stream: process.stderr,
          },
          Presets.shades_classic,
        )
      : undefined;
  }

  private line(text: string): void {
    if (this.multibar === undefined) {
      writeOut(this.command, `${text}\n`);
    } else {
      this.multibar.log(`${text}\n`);
    }
  }

  readonly listener = (event: ModelProgressEvent): void => {
    const label = `${event.role} ${event.name}`;
    switch (event.type) {
      case 'start':
        break;
      case 'progress': {
        if (this.multibar === undefined) {
          break;
        }
        const total = event.bytesTotal ?? 0;
        const payload = {
          label: label.padEnd(28),
          pct: total > 0 ? `${((100 * event.bytesDone) / total).toFixed(0).padStart(3)}%` : '   ?',
          bytes: `${formatBytes(event.bytesDone)}/${formatBytes(event.bytesTotal)}${event.phase === 'hash' ? ' (hashing)' : ''}`,
        };
        let bar = this.bars.get(event.path);
        if (bar === undefined) {
          bar = this.multibar.create(Math.max(total, 1), 0, payload);
          this.bars.set(event.path, bar);
        }
        bar.setTotal(Math.max(total, event.bytesDone, 1));
        bar.update(event.bytesDone, payload);
        break;
      }
      case 'retry':
        this.line(
          `! ${label}: attempt ${event.attempt + 1} in ${(event.delayMs / 1000).toFixed(1)} s after [${event.error.code}] ${event.error.message}`,
        );
        break;
      case 'done':
        this.line(
          `${event.outcome === 'mismatch' ? '✗' : '✓'} ${label}: ${event.outcome} (${formatBytes(event.bytes)})`,
        );
        break;
      case 'error':
        this.line(`✗ ${label}: [${event.error.code}] ${event.error.message}`);
        break;
    }
  };

  stop(): void {
    this.multibar?.stop();
  }
}

function parseConcurrency(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < 1 || value > 64) {
    throw new CliError('CLI_ERR_USAGE', `--concurrency must be a whole number from 1 to 64, got "${text}"`);
  }
  return value;
}

function summary(files: readonly PullFileResult[]): string {
  const count = (outcome: PullFileResult['outcome']): number =>
    files.filter((f) => f.outcome === outcome).length;
  return (
    `${count('downloaded')} downloaded, ${count('copied')} copied, ${count('present')} already present, ` +
    `${count('export-required')} to export\n`
  );
}

/** Ctrl-C cancels a pull cleanly (partial files stay and resume), instead of killing it mid-write. */
async function withInterrupt<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onInterrupt = (): void => {
    controller.abort(new Error('interrupted'));
  };
  process.once('SIGINT', onInterrupt);
  try {
    return await run(controller.signal);
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

/**
 * Registers `synood models list|pull|verify` on `program`.
 *
 * @param defaults - cache folder, endpoint, token and S3 settings from the configuration.
 */
export function registerModelsCommand(program: Command, defaults: ModelsCommandDefaults = {}): void {
  const models = program
    .command('models')
    .description('list, download and verify the ONNX models of each role (docs/models.md)');
  const interactive = (): boolean => defaults.interactive ?? process.stderr.isTTY;

  models
    .command('list')
    .description('roles, their files, sizes and cache status (missing, present, verified, export-required)')
    .argument('[roles...]', 'roles to show (default: every role of the catalog)')
    .option('--catalog <file>', 'catalog JSON file (default: the built-in catalog)')
    .option('--cache <dir>', 'cache folder (default: ~/.cache/synood/models)')
    .option('--json', 'print one JSON object')
    .action(async (roles: string[], opts: CommonOptions, command: Command) => {
      const catalog = await catalogFrom(opts.catalog);
      const cacheDir = cacheFrom(opts.cache, defaults);
      const listing = await listModels({ catalog, cacheDir, roles });
      writeOut(
        command,
        opts.json === true
          ? `${JSON.stringify({ cacheDir, catalog: opts.catalog ?? 'default', models: listing })}\n`
          : formatModelList(listing, cacheDir),
      );
    });

  models
    .command('pull')
    .description('download the models of the given roles into the cache, resuming and verifying')
    .argument('[roles...]', 'roles to pull (default: every role of the catalog)')
    .option('--catalog <file>', 'catalog JSON file (default: the built-in catalog)')
    .option('--cache <dir>', 'cache folder (default: ~/.cache/synood/models)')
    .option('--offline', 'never touch the network: verify what is cached, fail listing what is missing')
    .option('--concurrency <n>', 'files downloaded at the same time', '4')
    .option(
      '--endpoint <url>',
      'Hugging Face endpoint or mirror for hf:// sources (default: https://huggingface.co)',
    )
    .action(async (roles: string[], opts: PullOptions, command: Command) => {
      const catalog = await catalogFrom(opts.catalog);
      const cacheDir = cacheFrom(opts.cache, defaults);
      const concurrency = parseConcurrency(opts.concurrency);
      const endpoint = opts.endpoint ?? defaults.endpoint;
      const view = new ProgressView(command, interactive());
      let files: readonly PullFileResult[];
      try {
        files = (
          await withInterrupt((signal) =>
            pullModels({
              catalog,
              cacheDir,
              roles,
              concurrency,
              offline: opts.offline === true,
              onProgress: view.listener,
              signal,
              ...(endpoint === undefined ? {} : { endpoint }),
              ...(defaults.token === undefined ? {} : { token: defaults.token }),
              ...(defaults.s3 === undefined ? {} : { s3: defaults.s3 }),
            }),
          )
        ).files;
      } finally {
        view.stop();
      }
      let out = `cache: ${cacheDir}\n${summary(files)}`;
      const hints = exportHints(files.filter((f) => f.outcome === 'export-required'));
      if (hints !== '') {
        out += `\n${hints}`;
      }
      writeOut(command, out);
    });

  models
    .command('verify')
    .description('re-hash the cached files and compare them with the catalog (or the pinned hashes)')
    .argument('[roles...]', 'roles to verify (default: every role of the catalog)')
    .option('--catalog <file>', 'catalog JSON file (default: the built-in catalog)')
    .option('--cache <dir>', 'cache folder (default: ~/.cache/synood/models)')
    .option('--json', 'print one JSON object')
    .action(async (roles: string[], opts: CommonOptions, command: Command) => {
      const catalog = await catalogFrom(opts.catalog);
      const cacheDir = cacheFrom(opts.cache, defaults);
      const view = new ProgressView(command, opts.json !== true && interactive());
      let report: { files: readonly VerifyFileResult[]; ok: boolean };
      try {
        report = await withInterrupt((signal) =>
          verifyModels({
            catalog,
            cacheDir,
            roles,
            signal,
            ...(opts.json === true ? {} : { onProgress: view.listener }),
          }),
        );
      } finally {
        view.stop();
      }
      if (opts.json === true) {
        writeOut(command, `${JSON.stringify({ cacheDir, ok: report.ok, files: report.files })}\n`);
      } else {
        const rows = [['ROLE', 'FILE', 'STATUS', 'DETAIL']];
        for (const file of report.files) {
          const detail =
            file.status === 'mismatch'
              ? `expected ${file.expected ?? '(size)'}, got ${file.actual ?? '-'}`
              : file.status === 'unverified'
                ? file.pinned === true
                  ? 'no published hash; pinned now'
                  : 'no published hash; matches the pinned hash'
                : file.path;
          rows.push([file.role, file.name, file.status, detail]);
        }
        writeOut(command, `cache: ${cacheDir}\n${table(rows)}`);
      }
      if (!report.ok) {
        const bad = report.files.filter((f) => f.status !== 'verified' && f.status !== 'unverified');
        throw new CliError(
          'CLI_ERR_MODELS_UNVERIFIED',
          `${bad.length} file(s) failed verification: ${bad.map((f) => `${f.role} ${f.name} (${f.status})`).join(', ')}; ` +
            'run "synood models pull" (and the export commands of "synood models list") to fix them',
        );
      }
    });
}
