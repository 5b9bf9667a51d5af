import { describe, expect, it } from '@jest/globals';

import { registerDiffusionCommand } from '../src/commands/diffusion';
import { type CliRun, runCli } from './support/run-cli';

const synood = (args: string[]): Promise<CliRun> => runCli(registerDiffusionCommand, args);

/** ᾱ_t by hand: Π_{i ≤ t} (1 − (√0.00085 + i·(√0.012 − √0.00085)/999)²). */
function alphaBar(t: number): number {
  let prod = 1;
  for (let i = 0; i <= t; i++) {
    const root = Math.sqrt(0.00085) + ((Math.sqrt(0.012) - Math.sqrt(0.00085)) * i) / 999;
    prod *= 1 - root * root;
  }
  return prod;
}

describe('synood diffusion timesteps', () => {
  it('prints the PNDM chain 601 … 1 at 20 steps, strength 0.6, with ᾱ', async () => {
    const r = await synood([
      'diffusion',
      'timesteps',
      '--scheduler',
      'pndm',
      '--steps',
      '20',
      '--strength',
      '0.6',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as {
      timesteps: number[];
      alphasCumprod: number[];
      schedule: number[];
      startIndex: number;
      finalAlphaCumprod: number;
    };
    expect(report.timesteps).toEqual([601, 551, 501, 451, 401, 351, 301, 251, 201, 151, 101, 51, 1]);
    expect(report.schedule.slice(0, 4)).toEqual([951, 901, 901, 851]);
    expect(report.startIndex).toBe(8);
    expect(report.alphasCumprod[0]).toBeCloseTo(0.15982, 5);
    report.timesteps.forEach((t, i) => {
      expect(report.alphasCumprod[i]).toBeCloseTo(alphaBar(t), 12);
    });
    expect(report.finalAlphaCumprod).toBeCloseTo(0.99915, 12);
  });

  it('prints the DDIM chain with the same defaults', async () => {
    const r = await synood(['diffusion', 'timesteps', '--scheduler', 'ddim']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { timesteps: number[] }).timesteps).toEqual(
      Array.from({ length: 12 }, (_, k) => 551 - 50 * k),
    );
  });

  it('reports bad options as usage errors', async () => {
    for (const args of [
      ['--scheduler', 'euler'],
      ['--steps', 'x'],
      ['--strength', '1.5'],
      ['--steps', '20', '--strength', '0.01'],
    ]) {
      const r = await synood(['diffusion', 'timesteps', ...args]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^error \[CLI_ERR_USAGE\]/);
    }
  });
});
