import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScores, registerMetricsCommand } from '../src/commands/metrics';
import { CliError, buildProgram, runProgram } from '../src/program';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function synood(...args: string[]): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
  registerMetricsCommand(program);
  const code = await runProgram(program, args);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

let dir = '';
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'synood-cli-metrics-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// InD 0.9 0.8 0.6 0.3 vs OOD 0.7 0.5 0.4 0.2 0.1; by hand (see packages/ood/test/metrics.test.ts):
// AUROC 16/20 = 0.8, FPR95 3/5 = 0.6, AUPR-In 93/112 = 0.830357…, AUPR-Out 597/700 = 0.852857….
const IND_TEXT = '# InD scores\n0.9\n  0.8  \n\n0.6\r\n3e-1\n';
const OOD_TEXT = '0.7\n0.5\n# a comment\n0.4\n.2\n0.1';

describe('synood metrics', () => {
  it('prints an aligned table', async () => {
    const ind = file('ind.txt', IND_TEXT);
    const ood = file('ood.txt', OOD_TEXT);
    const r = await synood('metrics', '--ind', ind, '--ood', ood);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `InD scores  4  ${ind}\n` +
        `OOD scores  5  ${ood}\n` +
        'AUROC       0.800000\n' +
        'FPR95       0.600000\n' +
        'AUPR-In     0.830357\n' +
        'AUPR-Out    0.852857\n',
    });
  });

  it('prints one JSON object with --json', async () => {
    const r = await synood(
      'metrics',
      '--ind',
      file('ind.txt', IND_TEXT),
      '--ood',
      file('ood.txt', OOD_TEXT),
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('}\n')).toBe(true);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const report = JSON.parse(r.stdout) as Record<string, number>;
    expect(Object.keys(report)).toEqual(['ind', 'ood', 'auroc', 'fpr95', 'auprIn', 'auprOut']);
    expect(report.ind).toBe(4);
    expect(report.ood).toBe(5);
    expect(report.auroc).toBeCloseTo(0.8, 12);
    expect(report.fpr95).toBeCloseTo(0.6, 12);
    expect(report.auprIn).toBeCloseTo(93 / 112, 12);
    expect(report.auprOut).toBeCloseTo(597 / 700, 12);
  });

  it('names the file, line and text of a bad score', async () => {
    const bad = file('bad.txt', '# header\n0.5\n\nabc\n');
    const r = await synood('metrics', '--ind', bad, '--ood', file('ood.txt', OOD_TEXT));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`error [CLI_ERR_BAD_SCORE]: ${bad}:4: "abc" is not a number\n`);
  });

  it('reports non-finite scores as such', async () => {
    const ood = file('nan.txt', '0.1\n  nan \n');
    const r = await synood('metrics', '--ind', file('ind.txt', IND_TEXT), '--ood', ood);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error [CLI_ERR_BAD_SCORE]: ${ood}:2: "nan" is not a finite number\n`);
  });

  it('names a missing file', async () => {
    const missing = join(dir, 'does-not-exist.txt');
    const r = await synood('metrics', '--ind', file('ind.txt', IND_TEXT), '--ood', missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error [CLI_ERR_FILE_NOT_FOUND]: ${missing}: no such file\n`);
  });

  it('says when a file has no scores', async () => {
    const empty = file('empty.txt', '# nothing here\n\n   \n');
    const r = await synood('metrics', '--ind', empty, '--ood', file('ood.txt', OOD_TEXT));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error [CLI_ERR_NO_SCORES]: ${empty} has no scores (only blank lines or # comments)\n`,
    );
  });

  it('treats a missing required option as a usage error (exit 2)', async () => {
    const r = await synood('metrics', '--ind', file('ind.txt', IND_TEXT));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error [CLI_ERR_USAGE]: required option '--ood <file>' not specified\n");
  });

  it('treats an unknown command or option as a usage error', async () => {
    expect((await synood('metrix')).code).toBe(2);
    const ind = file('ind.txt', IND_TEXT);
    const r = await synood('metrics', '--ind', ind, '--ood', ind, '--bogus');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error \[CLI_ERR_USAGE\]: unknown option '--bogus'/);
  });

  it('prints help and the version with exit 0', async () => {
    const help = await synood('metrics', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--ind <file>');
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(await synood('--version')).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});

describe('parseScores', () => {
  it('trims, skips blanks and comments, and accepts decimal and scientific notation', () => {
    expect(Array.from(parseScores('1\n  2.5 \r\n# c\n\n-3e-2\n+.5\n\uFEFF', 'x'))).toEqual([
      1, 2.5, -0.03, 0.5,
    ]);
  });

  it('rejects what Number() would quietly accept', () => {
    for (const text of ['0x10', '1,5', '1 2', 'Infinity', '1e999']) {
      expect(() => parseScores(text, 'f.txt')).toThrow(/^f\.txt:1: /);
    }
  });
});

describe('program error policy', () => {
  async function runWith(action: () => void, ...args: string[]): Promise<RunResult> {
    const out: string[] = [];
    const err: string[] = [];
    const program = buildProgram({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
    program.command('boom').action(action);
    const code = await runProgram(program, args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  }

  it('prints coded errors as `error [CODE]: message` with exit 1, CLI_ERR_USAGE with exit 2', async () => {
    const fail = (code: string) => () => {
      throw new CliError(code, 'went wrong');
    };
    expect(await runWith(fail('CLI_ERR_X'), 'boom')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error [CLI_ERR_X]: went wrong\n',
    });
    expect((await runWith(fail('CLI_ERR_USAGE'), 'boom')).code).toBe(2);
  });

  it('prints uncoded errors as CLI_ERR_INTERNAL', async () => {
    const r = await runWith(() => {
      throw new Error('boom');
    }, 'boom');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'error [CLI_ERR_INTERNAL]: boom\n' });
  });

  it('shows help on stderr with exit 2 when no command is given', async () => {
    const r = await runWith(() => undefined);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: synood');
  });
});
