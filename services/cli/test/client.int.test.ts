import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type HttpFixtureServer, startHttpFixtureServer } from '@synood/testing';
import { registerClientCommands } from '../src/commands/client';
import { buildProgram, runProgram } from '../src/program';

const NOW = '2026-11-24T08:00:00.000Z';
const stages = (state: 'pending' | 'done') =>
  ['plan', 'caption'].map((stage) => ({
    stage,
    state,
    jobs: { total: stage === 'plan' ? 1 : 2, done: state === 'done' ? (stage === 'plan' ? 1 : 2) : 0 },
    items: { processed: state === 'done' ? 3 : 0, failed: state === 'done' ? 1 : 0, skipped: 0 },
  }));
const run = (state: 'queued' | 'succeeded') => ({
  id: 'r-0123456789ab',
  state,
  specHash: 'ab'.repeat(32),
  createdAt: NOW,
  updatedAt: NOW,
  stages: stages(state === 'succeeded' ? 'done' : 'pending'),
});

let server: HttpFixtureServer;
let dir: string;
let polls = 0;

async function synood(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const program = buildProgram({ writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  registerClientCommands(program, {
    apiUrl: server.url,
    apiKey: 'k1',
    interactive: false,
    pollSeconds: 0.01,
  });
  return { code: await runProgram(program, args), out, err };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-client-'));
  server = await startHttpFixtureServer({
    routes: [
      {
        method: 'POST',
        path: '/v1/runs',
        handler: (_req, res) => {
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(run('queued')));
        },
      },
      {
        method: 'GET',
        path: '/v1/runs/r-0123456789ab',
        handler: (_req, res) => {
          polls++;
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify(run(polls >= 2 ? 'succeeded' : 'queued')));
        },
      },
      {
        method: 'GET',
        path: '/v1/runs/r-missing',
        handler: (_req, res) => {
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: { code: 'RUN_ERR_NOT_FOUND', message: 'no run r-missing' } }));
        },
      },
      {
        method: 'POST',
        path: '/v1/detectors/r-0123456789ab/score',
        handler: (req, res, body) => {
          const names = [...body.toString('latin1').matchAll(/filename="([^"]+)"/g)].map((m) => m[1]);
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              detector: 'r-0123456789ab',
              results: names.map((name, i) =>
                i === 0
                  ? {
                      name,
                      synoodScore: 0.75,
                      negLabelScore: 0.5,
                      decision: 'ind',
                      topClass: { index: 1, name: 'goldfish', probability: 0.9 },
                    }
                  : { name, error: { code: 'VISION_ERR_DECODE', message: 'not an image' } },
              ),
              auth: req.headers.authorization,
            }),
          );
        },
      },
    ],
  });
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('synood run / status / score', () => {
  it('rejects a bad spec locally, naming the field, without calling the API', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ dataset: { location: 'http://x' } }));
    const r = await synood('run', file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error \[SPEC_ERR_INVALID\]: .*dataset\.location/);
    expect(server.requestsFor('/v1/runs')).toHaveLength(0);
  });

  it('submits a spec with the key and follows the run until it succeeds', async () => {
    const file = join(dir, 'spec.json');
    await writeFile(file, JSON.stringify({ dataset: { location: '/data/ind' } }));
    const r = await synood('run', file);
    expect(r.code).toBe(0);
    const post = server.requestsFor('/v1/runs')[0]!;
    expect(post.headers.authorization).toBe('Bearer k1');
    expect(r.out).toContain('run r-0123456789ab (queued)');
    expect(r.out).toContain('r-0123456789ab: succeeded');
    expect(r.out).toMatch(/caption +done +jobs 2\/2 {2}items 3 ok, 1 failed, 0 skipped/);
    // Progress lines go to stderr, once per change.
    expect(r.err.split('\n').filter((l) => l.startsWith('caption'))).toHaveLength(2);
  });

  it('prints API errors with their code and reports an unreachable API', async () => {
    const missing = await synood('status', 'r-missing');
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('error [RUN_ERR_NOT_FOUND]: GET /v1/runs/r-missing: no run r-missing\n');
    const down = await synood('status', '--api', 'http://127.0.0.1:9');
    expect(down.err).toMatch(
      /^error \[CLI_ERR_API_UNREACHABLE\]: cannot reach the API at http:\/\/127\.0\.0\.1:9/,
    );
  });

  it('uploads images as multipart parts and prints one line per image', async () => {
    const a = join(dir, 'a.jpg');
    const b = join(dir, 'b.png');
    await writeFile(a, Buffer.from([0xff, 0xd8, 0xff]));
    await writeFile(b, 'nope');
    const r = await synood('score', 'r-0123456789ab', a, b);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      'a.jpg: ind  synood 0.7500  neglabel 0.5000  top goldfish (90.0%)\n' +
        'b.png: error [VISION_ERR_DECODE] not an image\n',
    );
    expect(await readFile(a)).toHaveLength(3);
  });
});
