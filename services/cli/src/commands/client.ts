/**
 * `synood run | status | score | report`: the REST client side of the CLI. Each talks to the API at
 * `--api` (default `SYNOOD_API_URL`, else `http://127.0.0.1:8080`) with the key from `--api-key` or
 * `SYNOOD_API_KEY`; API errors are printed with their stable code.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { type RunStatus, type StageStatus, parseRunSpec, runStatusSchema } from '@synood/contracts';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CliError, writeErr, writeOut } from '../program';

/** Where the client commands find the API when no option says. */
export interface ClientDefaults {
  apiUrl?: string;
  apiKey?: string;
  /** Show progress bars; plain lines otherwise. @defaultValue whether stderr is a terminal */
  interactive?: boolean;
  /** Seconds between status polls of `synood run`. @defaultValue 1 */
  pollSeconds?: number;
}

interface ApiOptions {
  api?: string;
  apiKey?: string;
}

/** A minimal JSON client over fetch that turns API error bodies into coded CLI errors. */
export class ApiClient {
  constructor(
    private readonly base: string,
    private readonly key: string | undefined,
  ) {}

  async request(method: string, path: string, body?: string | FormData, json = true): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.key !== undefined) {
      headers.authorization = `Bearer ${this.key}`;
    }
    if (body !== undefined && json) {
      headers['content-type'] = 'application/json';
    }
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
    } catch (error) {
      throw new CliError(
        'CLI_ERR_API_UNREACHABLE',
        `cannot reach the API at ${this.base} (${(error as Error).message}); start it with \`synood up\` or pass --api URL`,
      );
    }
    if (!response.ok) {
      const text = await response.text();
      let code = `HTTP_${response.status}`;
      let message = text.slice(0, 500);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? message;
      } catch {
        // Not JSON: keep the status and the start of the body.
      }
      throw new CliError(code, `${method} ${path}: ${message}`);
    }
    return response;
  }

  async json(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await this.request(method, path, body === undefined ? undefined : JSON.stringify(body));
    return response.json();
  }
}

function client(options: ApiOptions, defaults: ClientDefaults): ApiClient {
  const base = (options.api ?? defaults.apiUrl ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  try {
    new URL(base);
  } catch {
    throw new CliError('CLI_ERR_USAGE', `--api must be a URL like http://127.0.0.1:8080, got "${base}"`);
  }
  return new ApiClient(base, options.apiKey ?? defaults.apiKey);
}

function withApiOptions(command: Command): Command {
  return command
    .option('--api <url>', 'API base URL (default: SYNOOD_API_URL or http://127.0.0.1:8080)')
    .option('--api-key <key>', 'API key (default: SYNOOD_API_KEY)');
}

function stageLine(s: StageStatus): string {
  const items = s.items.processed + s.items.failed + s.items.skipped;
  return (
    `${s.stage.padEnd(17)} ${s.state.padEnd(9)} jobs ${s.jobs.done}/${s.jobs.total}` +
    (items > 0
      ? `  items ${s.items.processed} ok, ${s.items.failed} failed, ${s.items.skipped} skipped`
      : '') +
    (s.error === undefined ? '' : `  [${s.error.code}] ${s.error.message}`)
  );
}

/** A run status as text: the run line and one line per stage. */
export function formatRunStatus(run: RunStatus): string {
  return [
    `${run.id}${run.name === undefined ? '' : ` (${run.name})`}: ${run.state}` +
      (run.error === undefined ? '' : ` [${run.error.code}] ${run.error.message}`),
    ...run.stages.map((s) => `  ${stageLine(s)}`),
  ].join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How {@link followRun} shows progress. */
export interface FollowOptions {
  /** One progress bar per stage (a terminal), else one line per stage change through `note`. */
  interactive: boolean;
  /** Seconds between polls. @defaultValue 1 */
  pollSeconds?: number;
  /** Writes a progress line. */
  note: (line: string) => void;
}

/** Polls a run until it ends, drawing one bar per stage (or printing changed stage lines). */
export async function followRun(api: ApiClient, id: string, options: FollowOptions): Promise<RunStatus> {
  const bars = options.interactive
    ? new MultiBar(
        { format: ' {stage} [{bar}] {value}/{total} jobs  {state}', hideCursor: true },
        Presets.shades_grey,
      )
    : undefined;
  const byStage = new Map<string, SingleBar>();
  const last = new Map<string, string>();
  try {
    for (;;) {
      const run = runStatusSchema.parse(await api.json('GET', `/v1/runs/${encodeURIComponent(id)}`));
      for (const s of run.stages) {
        if (bars !== undefined) {
          const payload = { stage: s.stage.padEnd(17), state: s.state };
          const bar = byStage.get(s.stage) ?? bars.create(Math.max(1, s.jobs.total), 0, payload);
          byStage.set(s.stage, bar);
          bar.setTotal(Math.max(1, s.jobs.total));
          bar.update(s.jobs.done, payload);
        } else {
          const line = stageLine(s);
          if (last.get(s.stage) !== line) {
            last.set(s.stage, line);
            options.note(`${line}\n`);
          }
        }
      }
      if (run.state === 'succeeded' || run.state === 'failed' || run.state === 'cancelled') {
        return run;
      }
      await sleep(1000 * (options.pollSeconds ?? 1));
    }
  } finally {
    bars?.stop();
  }
}

/** Registers `synood run`, `synood status`, `synood score` and `synood report`. */
export function registerClientCommands(program: Command, defaults: ClientDefaults = {}): void {
  withApiOptions(
    program
      .command('run')
      .description('submit a run spec (JSON) to the API and follow it with one progress bar per stage')
      .argument('<spec>', 'run spec file (JSON)')
      .option('--no-follow', 'submit and print the run id without waiting'),
  ).action(async (file: string, options: ApiOptions & { follow: boolean }, command: Command) => {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new CliError('CLI_ERR_SPEC', `${file}: ${(error as Error).message}`);
    }
    // Validate locally first, so a typo is reported with its field path before anything is sent.
    try {
      parseRunSpec(raw);
    } catch (error) {
      throw new CliError('SPEC_ERR_INVALID', `${file}: ${(error as Error).message}`);
    }
    const api = client(options, defaults);
    const run = runStatusSchema.parse(await api.json('POST', '/v1/runs', raw));
    writeOut(command, `run ${run.id} (${run.state})\n`);
    if (!options.follow) {
      return;
    }
    const done = await followRun(api, run.id, {
      interactive: defaults.interactive ?? process.stderr.isTTY,
      ...(defaults.pollSeconds === undefined ? {} : { pollSeconds: defaults.pollSeconds }),
      note: (line) => {
        writeErr(command, line);
      },
    });
    writeOut(command, `${formatRunStatus(done)}\n`);
    if (done.state !== 'succeeded') {
      throw new CliError(done.error?.code ?? 'CLI_ERR_RUN_FAILED', `run ${done.id} ended ${done.state}`);
    }
  });

  withApiOptions(
    program
      .command('status')
      .description('show one run with its stages, or list runs')
      .argument('[run]', 'run id')
      .option('--json', 'print the API response as JSON'),
  ).action(async (id: string | undefined, options: ApiOptions & { json?: boolean }, command: Command) => {
    const api = client(options, defaults);
    const body = await api.json('GET', id === undefined ? '/v1/runs' : `/v1/runs/${encodeURIComponent(id)}`);
    if (options.json === true) {
      writeOut(command, `${JSON.stringify(body, null, 2)}\n`);
      return;
    }
    if (id !== undefined) {
      writeOut(command, `${formatRunStatus(runStatusSchema.parse(body))}\n`);
      return;
    }
    const runs = (body as { runs?: unknown[] }).runs ?? [];
    for (const r of runs) {
      const run = runStatusSchema.safeParse(r);
      if (run.success) {
        writeOut(
          command,
          `${run.data.id}  ${run.data.state.padEnd(9)}  ${run.data.createdAt}  ${run.data.name ?? ''}\n`,
        );
      }
    }
    if (runs.length === 0) {
      writeOut(command, 'no runs\n');
    }
  });

  withApiOptions(
    program
      .command('score')
      .description('score images with a published detector: InD or OOD, with the SynOOD and NegLabel scores')
      .argument('<detector>', 'detector id (the run id that published it)')
      .argument('<images...>', 'image files')
      .option('--json', 'print the API response as JSON'),
  ).action(
    async (
      detector: string,
      images: string[],
      options: ApiOptions & { json?: boolean },
      command: Command,
    ) => {
      const api = client(options, defaults);
      const form = new FormData();
      for (const path of images) {
        let bytes: Buffer;
        try {
          bytes = await readFile(path);
        } catch (error) {
          throw new CliError(
            'CLI_ERR_NOT_FOUND',
            `${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
          );
        }
        form.append('images', new Blob([bytes]), basename(path));
      }
      const response = await api.request(
        'POST',
        `/v1/detectors/${encodeURIComponent(detector)}/score`,
        form,
        false,
      );
      const body = (await response.json()) as { results?: Record<string, unknown>[] };
      if (options.json === true) {
        writeOut(command, `${JSON.stringify(body, null, 2)}\n`);
        return;
      }
      for (const r of body.results ?? []) {
        const err = r.error as { code?: string; message?: string } | undefined;
        const top = r.topClass as { name?: string; probability?: number } | undefined;
        writeOut(
          command,
          err !== undefined
            ? `${String(r.name)}: error [${err.code ?? '?'}] ${err.message ?? ''}\n`
            : `${String(r.name)}: ${typeof r.decision === 'string' ? r.decision : 'no threshold'}  synood ${Number(r.synoodScore).toFixed(4)}  ` +
                `neglabel ${Number(r.negLabelScore).toFixed(4)}  top ${top?.name ?? '?'} (${((top?.probability ?? 0) * 100).toFixed(1)}%)\n`,
        );
      }
    },
  );

  withApiOptions(
    program
      .command('report')
      .description("write a run's self-contained HTML report")
      .argument('<run>', 'run id')
      .option('--out <file>', 'where to write it', 'report.html'),
  ).action(async (id: string, options: ApiOptions & { out: string }, command: Command) => {
    const api = client(options, defaults);
    const response = await api.request('GET', `/v1/runs/${encodeURIComponent(id)}/report`);
    await writeFile(options.out, Buffer.from(await response.arrayBuffer()));
    writeOut(command, `wrote ${options.out}\n`);
  });
}
