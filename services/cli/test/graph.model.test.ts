import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GraphBuilder, buildSynthesisGradientModel, makeTensor, readModel, writeModel } from '@synood/graph';
import { Tensor, createSession, releaseSession, runSession } from '@synood/onnx';
import { registerGraphCommand } from '../src/commands/graph';
import { type CliRun, runCli } from './support/run-cli';

let dir: string;

const synood = (args: string[]): Promise<CliRun> => runCli(registerGraphCommand, args);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synood-graph-cli-'));
  // A 2-class classifier on 8×8 images with weights large enough to externalise.
  const b = new GraphBuilder('tiny_classifier');
  const x = b.input('input', 'float32', ['batch_size', 3, 8, 8]);
  const flat = b.node('Flatten', [x], { axis: 1 });
  const w = Array.from({ length: 2 * 192 }, (_, i) => Math.sin(i) / 10);
  b.node(
    'Gemm',
    [flat, b.initializer('fc.weight', makeTensor('float32', [2, 192], w))],
    { transB: 1 },
    { output: 'logits' },
  );
  b.output('logits', 'float32', ['batch_size', 2]);
  await writeModel(join(dir, 'classifier.onnx'), b.toModel(17));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('synood graph grad', () => {
  it('writes a gradient model with external data that matches the in-process builder', async () => {
    const out = join(dir, 'grad.onnx');
    const r = await synood([
      'graph',
      'grad',
      '--classifier',
      join(dir, 'classifier.onnx'),
      '--preprocess',
      'none',
      '--out',
      out,
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `wrote ${out}: input input [batch_size, 3, 8, 8] → loss [batch_size], grad [batch_size, 3, 8, 8]\n`,
    );
    expect((await readdir(dir)).sort()).toEqual(['classifier.onnx', 'grad.onnx', 'grad.onnx.data']);
    const written = await readModel(out);
    const expected = buildSynthesisGradientModel({
      classifier: await readModel(join(dir, 'classifier.onnx')),
      preprocess: 'none',
    });
    expect(written.graph.nodes.map((n) => n.opType)).toEqual(expected.graph.nodes.map((n) => n.opType));
    const session = await createSession(out, { intraOpThreads: 1 });
    try {
      const x = new Float32Array(2 * 192).map((_, i) => Math.cos(i));
      const res = await runSession(session, { input: new Tensor('float32', x, [2, 3, 8, 8]) });
      expect(res.loss!.dims).toEqual([2]);
      expect(res.grad!.dims).toEqual([2, 3, 8, 8]);
      // Independent check of image 0: g = W x, code loss (−5 − (mean g − lse g))², dL/dx = Wᵀ dL/dg.
      const g = [0, 1].map((k) =>
        x.slice(0, 192).reduce((s, v, i) => s + v * (Math.sin(k * 192 + i) / 10), 0),
      );
      const lse = Math.max(...g) + Math.log(g.reduce((s, v) => s + Math.exp(v - Math.max(...g)), 0));
      const s = (g[0]! + g[1]!) / 2 - lse;
      expect((res.loss!.data as Float32Array)[0]).toBeCloseTo((-5 - s) ** 2, 3);
      const dg = g.map((v) => 2 * (-5 - s) * (Math.exp(v - lse) - 0.5));
      const grad = res.grad!.data as Float32Array;
      for (const i of [0, 17, 191]) {
        expect(grad[i]).toBeCloseTo(dg[0]! * (Math.sin(i) / 10) + dg[1]! * (Math.sin(192 + i) / 10), 4);
      }
    } finally {
      await releaseSession(session);
    }
  });

  it('reports missing files, bad options and graph errors with codes', async () => {
    const missing = await synood([
      'graph',
      'grad',
      '--classifier',
      join(dir, 'nope.onnx'),
      '--out',
      join(dir, 'x.onnx'),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error \[CLI_ERR_NOT_FOUND\]: --classifier .*nope\.onnx: no such file/);
    const badLoss = await synood([
      'graph',
      'grad',
      '--classifier',
      join(dir, 'classifier.onnx'),
      '--loss',
      'hinge',
      '--out',
      join(dir, 'x.onnx'),
    ]);
    expect(badLoss.code).toBe(2);
    expect(badLoss.err).toContain('--loss must be one of code, energy, got "hinge"');
    const badBatch = await synood([
      'graph',
      'grad',
      '--classifier',
      join(dir, 'classifier.onnx'),
      '--batch',
      '0',
      '--out',
      join(dir, 'x.onnx'),
    ]);
    expect(badBatch.code).toBe(2);
    // ResNet preprocessing feeds 224² crops to a classifier built for 8×8: the shape error names the node.
    const small = await synood([
      'graph',
      'grad',
      '--classifier',
      join(dir, 'classifier.onnx'),
      '--out',
      join(dir, 'x.onnx'),
    ]);
    expect(small.code).toBe(1);
    expect(small.err).toMatch(
      /^error \[GRAPH_ERR_SHAPE\]: node classifier\/Gemm \(Gemm\): inner dims differ/,
    );
    expect((await readdir(dir)).filter((f) => f.startsWith('x.onnx') || f.startsWith('.x.onnx'))).toEqual([]);
  });
});
