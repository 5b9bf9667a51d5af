import { OOD_ERROR_CODES, OodError } from './errors';

/** Part of speech of a negative-label candidate; it picks the prompt template. */
export type CandidatePos = 'noun' | 'adj';

/** One word or phrase that may become a negative label. */
export interface LabelCandidate {
  /** The word or phrase as it goes into the prompt template (spaces, not underscores). */
  readonly text: string;
  readonly pos: CandidatePos;
}

/**
 * The contents of the WordNet database files the corpus is built from (wndb(5WN) and lexnames(5WN)
 * formats, as shipped in the `dict/` folder of a WordNet 3.x distribution).
 */
export interface WordNetSources {
  /** `data.noun`. */
  readonly dataNoun: string;
  /** `data.adj`. */
  readonly dataAdj: string;
  /** `lexnames`: lexicographer file number, name and syntactic category, one file a line. */
  readonly lexnames: string;
}

/** One synset line of a `data.*` file, reduced to what the corpus needs. */
export interface WordNetSynset {
  /** Byte offset of the line in its file: the synset's id within its part of speech (8 digits). */
  readonly offset: string;
  /** Name of the lexicographer file, e.g. `noun.artifact`. */
  readonly lexFile: string;
  /** Synset type: `n`, `v`, `a`, `s` (adjective satellite) or `r`. */
  readonly ssType: string;
  /** Lemmas in file order, as stored (underscores for spaces, case kept), adjective markers removed. */
  readonly words: readonly string[];
}

/** Options of {@link wordnetCandidates}; the defaults rebuild NegLabel's corpus (design §4). */
export interface WordNetCandidateOptions {
  /**
   * Noun lexicographer files to take nouns from; every `noun.*` file when absent. Applied before
   * `excludeNounFiles`.
   * @defaultValue undefined (all noun files)
   */
  nounFiles?: readonly string[];
  /**
   * Noun lexicographer files to leave out. NegLabel's corpus has no animal or food nouns, which would
   * otherwise be near-duplicates of many ImageNet classes.
   * @defaultValue `['noun.animal', 'noun.food']`
   */
  excludeNounFiles?: readonly string[];
  /**
   * Adjective lexicographer files to take adjectives from.
   * @defaultValue `['adj.all', 'adj.pert', 'adj.ppl']`
   */
  adjectiveFiles?: readonly string[];
  /**
   * Which lemmas of a synset become candidates. NegLabel's corpus has one string per synset, the first
   * lemma: every entry of its released selection that we checked is a synset's first lemma even where
   * the synset has up to five, and its size (70,000 unique strings) matches first lemmas (about
   * 71,500 in WordNet 3.1) and not all lemmas (about 121,700).
   * @defaultValue 'first'
   */
  lemmas?: 'first' | 'all';
  /**
   * Lower-case every string before deduplication. WordNet keeps case (proper nouns such as
   * `de Kooning`); NegLabel's corpus is lower case, and CLIP's tokenizer lower-cases anyway, so case
   * variants would encode to identical features; on by default to match the reference.
   * @defaultValue true
   */
  lowercase?: boolean;
}

/** Default of {@link WordNetCandidateOptions.excludeNounFiles}. */
export const DEFAULT_EXCLUDED_NOUN_FILES: readonly string[] = Object.freeze(['noun.animal', 'noun.food']);

/** Default of {@link WordNetCandidateOptions.adjectiveFiles}. */
export const DEFAULT_ADJECTIVE_FILES: readonly string[] = Object.freeze(['adj.all', 'adj.pert', 'adj.ppl']);

/** Thrown on a malformed WordNet file or an option naming no lexicographer file; code `OOD_ERR_BAD_ARGUMENT`. */
export class WordNetError extends OodError {
  constructor(message: string) {
    super(OOD_ERROR_CODES.badArgument, message);
  }
}

/** Syntactic markers of adjectives in attributive, predicate or immediately-postnominal position. */
const ADJ_MARKER = /\((?:a|p|ip)\)$/;
const OFFSET = /^\d{8}$/;
const TWO_DIGITS = /^\d{2}$/;
const HEX = /^[0-9a-fA-F]+$/;

/**
 * Parses a `lexnames` file into lexicographer file number → name. Blank lines are skipped; fields may
 * be separated by any whitespace (some distributions pad them).
 */
export function parseLexnames(text: string): Map<number, string> {
  const out = new Map<number, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') {
      continue;
    }
    const [num, name] = line.split(/\s+/);
    if (num === undefined || name === undefined || !/^\d+$/.test(num)) {
      throw new WordNetError(`lexnames line ${i + 1}: expected "<number> <name> <category>", got "${line}"`);
    }
    out.set(Number(num), name);
  }
  if (out.size === 0) {
    throw new WordNetError('lexnames is empty');
  }
  return out;
}

/**
 * Parses the synset lines of a WordNet `data.*` file (wndb(5WN)): `offset lex_filenum ss_type w_cnt
 * word lex_id [word lex_id...] p_cnt ...`, w_cnt in hexadecimal. The license header (lines starting
 * with two spaces) is skipped; pointers, frames and glosses are not read.
 *
 * @param text - the file's contents.
 * @param lexnames - from {@link parseLexnames}.
 * @param fileName - for error messages.
 * @param ssTypes - the synset types the file may hold (guards against passing the wrong file).
 */
export function parseWordNetData(
  text: string,
  lexnames: ReadonlyMap<number, string>,
  fileName: string,
  ssTypes: readonly string[],
): WordNetSynset[] {
  const out: WordNetSynset[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('  ') || line.trim() === '') {
      continue;
    }
    const where = (): string => `${fileName} line ${i + 1}`;
    // Only the head of the line is needed; limiting the split skips the long pointer lists and gloss.
    const head = line.split(' ', 4);
    const [offset, lexNum, ssType, wCntHex] = head;
    if (offset === undefined || !OFFSET.test(offset)) {
      throw new WordNetError(`${where()}: expected an 8-digit synset offset, got "${line.slice(0, 40)}"`);
    }
    if (lexNum === undefined || !TWO_DIGITS.test(lexNum)) {
      throw new WordNetError(`${where()}: expected a 2-digit lex_filenum, got "${lexNum ?? ''}"`);
    }
    const lexFile = lexnames.get(Number(lexNum));
    if (lexFile === undefined) {
      throw new WordNetError(`${where()}: lex_filenum ${lexNum} is not in lexnames`);
    }
    if (ssType === undefined || !ssTypes.includes(ssType)) {
      throw new WordNetError(
        `${where()}: synset type "${ssType ?? ''}" is not one of ${ssTypes.join(', ')} (wrong file?)`,
      );
    }
    if (wCntHex === undefined || !HEX.test(wCntHex)) {
      throw new WordNetError(`${where()}: expected a hexadecimal w_cnt, got "${wCntHex ?? ''}"`);
    }
    const wCnt = parseInt(wCntHex, 16);
    const fields = line.split(' ', 4 + 2 * wCnt);
    if (wCnt === 0 || fields.length < 4 + 2 * wCnt) {
      throw new WordNetError(`${where()}: w_cnt is ${wCnt} but the line has fewer words`);
    }
    const words: string[] = [];
    for (let w = 0; w < wCnt; w++) {
      const word = fields[4 + 2 * w]!.replace(ADJ_MARKER, '');
      const lexId = fields[5 + 2 * w]!;
      if (word === '' || !HEX.test(lexId)) {
        throw new WordNetError(`${where()}: word ${w + 1} is "${word} ${lexId}", not "<lemma> <lex_id>"`);
      }
      words.push(word);
    }
    out.push({ offset, lexFile, ssType, words });
  }
  return out;
}

function checkFileNames(
  names: readonly string[],
  prefix: string,
  known: ReadonlySet<string>,
  option: string,
): ReadonlySet<string> {
  for (const name of names) {
    // A misspelt name would otherwise be silently ignored and change the corpus.
    if (!name.startsWith(prefix) || !known.has(name)) {
      throw new WordNetError(`${option}: "${name}" is not a ${prefix}* lexicographer file in lexnames`);
    }
  }
  return new Set(names);
}

/**
 * The negative-label candidate corpus of NegLabel from the WordNet database: nouns of every noun
 * lexicographer file except `noun.animal` and `noun.food`, then adjectives of `adj.all`, `adj.pert` and
 * `adj.ppl` (satellites included), one string per synset's first lemma, with underscores replaced by
 * spaces (all configurable, see {@link WordNetCandidateOptions}).
 *
 * Strings are deduplicated exactly, the first occurrence winning, in this order: all nouns in
 * `data.noun` line order, then all adjectives in `data.adj` line order (lemmas in synset order). Nouns
 * come first by choice: the reference deduplicated across its per-lexicographer-file dumps in
 * `os.listdir` order, so which part of speech a string present in both got depended on the filesystem;
 * here it is always the noun.
 *
 * Pure: takes the files' contents (see `loadWordNetSources` in `@synood/models`).
 */
export function wordnetCandidates(
  sources: WordNetSources,
  options: WordNetCandidateOptions = {},
): LabelCandidate[] {
  const lexnames = parseLexnames(sources.lexnames);
  const known = new Set(lexnames.values());
  const allNounFiles = [...known].filter((n) => n.startsWith('noun.'));
  const nounAllow = checkFileNames(options.nounFiles ?? allNounFiles, 'noun.', known, 'nounFiles');
  const nounExclude = checkFileNames(
    options.excludeNounFiles ?? DEFAULT_EXCLUDED_NOUN_FILES,
    'noun.',
    known,
    'excludeNounFiles',
  );
  const adjFiles = checkFileNames(
    options.adjectiveFiles ?? DEFAULT_ADJECTIVE_FILES,
    'adj.',
    known,
    'adjectiveFiles',
  );
  const firstOnly = (options.lemmas ?? 'first') === 'first';
  const lowercase = options.lowercase ?? true;

  const seen = new Set<string>();
  const out: LabelCandidate[] = [];
  const take = (synsets: readonly WordNetSynset[], keep: (lexFile: string) => boolean, pos: CandidatePos) => {
    for (const s of synsets) {
      if (!keep(s.lexFile)) {
        continue;
      }
      const n = firstOnly ? 1 : s.words.length;
      for (let w = 0; w < n; w++) {
        const spaced = s.words[w]!.replaceAll('_', ' ');
        const text = lowercase ? spaced.toLowerCase() : spaced;
        if (!seen.has(text)) {
          seen.add(text);
          out.push({ text, pos });
        }
      }
    }
  };
  take(
    parseWordNetData(sources.dataNoun, lexnames, 'data.noun', ['n']),
    (f) => nounAllow.has(f) && !nounExclude.has(f),
    'noun',
  );
  take(parseWordNetData(sources.dataAdj, lexnames, 'data.adj', ['a', 's']), (f) => adjFiles.has(f), 'adj');
  return out;
}
