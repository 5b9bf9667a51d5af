import { describe, expect, it } from '@jest/globals';
import {
  OOD_PRESET_FOLDERS,
  SynoodError,
  evaluationReportSchema,
  expandOodPreset,
  parseRunSpec,
  runSpecSchema,
  trainingHistorySchema,
  ARTIFACTS,
} from '../src';

const dataset = { location: '/data/imagenet' };

describe('OOD presets', () => {
  it('expands clip-ood to the four MOS sets, all far-OOD, in their conventional folders', () => {
    expect(expandOodPreset({ name: 'clip-ood', root: 's3://bench/ood/' })).toEqual([
      { name: 'iNaturalist', location: 's3://bench/ood/iNaturalist/images', layout: 'flat', group: 'far' },
      { name: 'SUN', location: 's3://bench/ood/SUN/images', layout: 'flat', group: 'far' },
      { name: 'Places', location: 's3://bench/ood/Places/images', layout: 'flat', group: 'far' },
      { name: 'Textures', location: 's3://bench/ood/dtd/images', layout: 'flat', group: 'far' },
    ]);
  });

  it('expands openood-v1.5 to SSB-hard and NINCO (near) and iNaturalist, Textures, OpenImage-O (far)', () => {
    const sets = expandOodPreset({ name: 'openood-v1.5', root: '/data/images_largescale' });
    expect(sets.map((s) => [s.name, s.group, s.location])).toEqual([
      ['SSB-hard', 'near', '/data/images_largescale/ssb_hard'],
      ['NINCO', 'near', '/data/images_largescale/ninco'],
      ['iNaturalist', 'far', '/data/images_largescale/inaturalist'],
      ['Textures', 'far', '/data/images_largescale/textures'],
      ['OpenImage-O', 'far', '/data/images_largescale/openimage_o'],
    ]);
    expect(OOD_PRESET_FOLDERS['openood-v1.5']).toHaveLength(5);
  });

  it('parses a preset into oodSets, before the explicit sets, and drops the preset field', () => {
    const spec = parseRunSpec({
      dataset,
      oodPreset: { name: 'clip-ood', root: 'file:///bench' },
      oodSets: [{ name: 'mine', location: '/data/mine', group: 'near' }],
    });
    expect(spec.oodSets.map((s) => s.name)).toEqual(['iNaturalist', 'SUN', 'Places', 'Textures', 'mine']);
    expect(spec.oodSets[0]!.location).toBe('file:///bench/iNaturalist/images');
    expect('oodPreset' in spec).toBe(false);
    // A parsed spec parses to itself (the stored run record re-parses it).
    expect(runSpecSchema.parse(spec)).toEqual(spec);
  });

  it('rejects an explicit set named like a preset set, naming the set and the preset', () => {
    let error: unknown;
    try {
      parseRunSpec({
        dataset,
        oodPreset: { name: 'openood-v1.5', root: '/bench' },
        oodSets: [{ name: 'NINCO', location: '/elsewhere/ninco' }],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SynoodError);
    const e = error as SynoodError;
    expect(e.issues!.map((i) => i.path)).toEqual(['oodSets.0.name']);
    expect(e.message).toContain('"NINCO"');
    expect(e.message).toContain('openood-v1.5');
  });

  it('rejects an unknown preset and a bad root', () => {
    expect(() => parseRunSpec({ dataset, oodPreset: { name: 'imagenet-o', root: '/x' } })).toThrow(
      /oodPreset\.name/,
    );
    expect(() => parseRunSpec({ dataset, oodPreset: { name: 'clip-ood', root: 'http://x/y' } })).toThrow(
      /oodPreset\.root/,
    );
  });
});

describe('evaluation report and history schemas', () => {
  const row = { auroc: 0.9, fpr95: 0.2, auprIn: 0.8, auprOut: 0.7 };
  const base = {
    methods: ['synood'],
    sets: [{ name: 'a', kind: 'far' as const, images: 3, metrics: { synood: row } }],
    ind: { name: 'ind', images: 4 },
    threshold: 0.5,
  };

  it('accepts reports without and with the group and overall means', () => {
    expect(evaluationReportSchema.parse(base)).toEqual(base);
    const full = {
      ...base,
      groups: [{ group: 'far', sets: ['a'], metrics: { synood: row } }],
      average: { sets: ['a'], metrics: { synood: row } },
    };
    expect(evaluationReportSchema.parse(full)).toEqual(full);
    expect(
      evaluationReportSchema.safeParse({ ...base, groups: [{ group: 'mid', sets: [], metrics: {} }] })
        .success,
    ).toBe(false);
  });

  it('names the new artifacts and parses a training history', () => {
    expect(ARTIFACTS.evaluate.reportData).toBe('report.json');
    expect(ARTIFACTS['train-projection'].history).toBe('history.json');
    expect(ARTIFACTS['train-labels'].history).toBe('history.json');
    const h = { epochs: [{ epoch: 0, lr: 0.01, loss: 1.5 }], steps: [{ epoch: 0, step: 0, loss: 1.5 }] };
    expect(trainingHistorySchema.parse(h)).toEqual(h);
    expect(
      trainingHistorySchema.safeParse({ epochs: [], steps: [{ epoch: -1, step: 0, loss: 1 }] }).success,
    ).toBe(false);
  });
});
