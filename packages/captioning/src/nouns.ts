/**
 * @file English noun forms for matching a caption element against the class name: simple plural rules
 * (s, es, ies, f → ves) and the common irregular nouns, applied to the last word of a phrase (the head of
 * an English noun phrase). Matching only ever compares against a short known list (the class name and its
 * synonyms), so generating a few wrong singular candidates ("horses" → "hors") is harmless: they never
 * equal a real name.
 */

/** Irregular singular → plural forms, including the unchanged ones (sheep, fish). */
const IRREGULAR_PLURALS: Readonly<Record<string, string>> = Object.freeze({
  mouse: 'mice',
  louse: 'lice',
  goose: 'geese',
  child: 'children',
  man: 'men',
  woman: 'women',
  person: 'people',
  foot: 'feet',
  tooth: 'teeth',
  ox: 'oxen',
  die: 'dice',
  leaf: 'leaves',
  knife: 'knives',
  wife: 'wives',
  life: 'lives',
  wolf: 'wolves',
  half: 'halves',
  shelf: 'shelves',
  loaf: 'loaves',
  calf: 'calves',
  thief: 'thieves',
  elf: 'elves',
  scarf: 'scarves',
  hoof: 'hooves',
  cactus: 'cacti',
  fungus: 'fungi',
  nucleus: 'nuclei',
  stimulus: 'stimuli',
  crisis: 'crises',
  phenomenon: 'phenomena',
  criterion: 'criteria',
  bacterium: 'bacteria',
  potato: 'potatoes',
  tomato: 'tomatoes',
  hero: 'heroes',
  echo: 'echoes',
  torpedo: 'torpedoes',
  sheep: 'sheep',
  fish: 'fish',
  deer: 'deer',
  moose: 'moose',
  series: 'series',
  species: 'species',
  aircraft: 'aircraft',
  salmon: 'salmon',
  trout: 'trout',
  swine: 'swine',
  bison: 'bison',
});

const IRREGULAR_SINGULARS: ReadonlyMap<string, string> = new Map(
  Object.entries(IRREGULAR_PLURALS).map(([singular, plural]) => [plural, singular]),
);

/** The plural of one English noun by the simple rules and the irregular table. */
export function pluralizeWord(word: string): string {
  const irregular = IRREGULAR_PLURALS[word];
  if (irregular !== undefined) {
    return irregular;
  }
  if (/(?:s|x|z|ch|sh)$/.test(word)) {
    return `${word}es`;
  }
  if (/[^aeiou]y$/.test(word)) {
    return `${word.slice(0, -1)}ies`;
  }
  return `${word}s`;
}

/** Possible singulars of one English noun (none for a word that does not look plural). */
export function singularCandidates(word: string): string[] {
  const out: string[] = [];
  const irregular = IRREGULAR_SINGULARS.get(word);
  if (irregular !== undefined) {
    out.push(irregular);
  }
  if (word.length > 3 && word.endsWith('ies')) {
    out.push(`${word.slice(0, -3)}y`);
  }
  if (word.length > 3 && word.endsWith('ves')) {
    out.push(`${word.slice(0, -3)}f`, `${word.slice(0, -3)}fe`);
  }
  if (word.length > 2 && word.endsWith('es')) {
    out.push(word.slice(0, -2));
  }
  if (word.length > 1 && word.endsWith('s') && !word.endsWith('ss')) {
    out.push(word.slice(0, -1));
  }
  return out;
}

function withLastWord(phrase: string, f: (word: string) => string[]): string[] {
  const cut = phrase.lastIndexOf(' ');
  const head = cut < 0 ? '' : phrase.slice(0, cut + 1);
  const last = cut < 0 ? phrase : phrase.slice(cut + 1);
  return f(last).map((w) => head + w);
}

/** The plural of a noun phrase: its last word pluralised ("fire hydrant" → "fire hydrants"). */
export function pluralize(phrase: string): string {
  return withLastWord(phrase, (w) => [pluralizeWord(w)])[0]!;
}

/**
 * Lower-cases, applies NFKC, turns hyphens, underscores and slashes into spaces, drops possessive `'s`
 * and other punctuation, and collapses whitespace: the form nouns are compared in.
 */
export function normalizeNoun(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[’‘`]/g, "'")
    .replace(/'s\b/g, '')
    .replace(/[-_/]+/g, ' ')
    .replace(/[^\p{L}\p{N}\s]+/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Whether two normalised noun phrases name the same thing up to number: equal, or one is a plural or
 * singular form of the other ("mouse"/"mice", "box"/"boxes", "fire hydrant"/"fire hydrants").
 */
export function sameNoun(a: string, b: string): boolean {
  if (a === '' || b === '') {
    return false;
  }
  if (a === b) {
    return true;
  }
  const forms = (p: string): string[] => [pluralize(p), ...withLastWord(p, singularCandidates)];
  return forms(a).includes(b) || forms(b).includes(a);
}

/**
 * Whether a caption element names the main object, given the class name and its synonyms (any case,
 * hyphens, underscores, possessives; compared by {@link normalizeNoun}):
 * - it is one of the names up to number ("Dogs", "golden-retriever", "Canis familiaris");
 * - it is a one-word name with modifiers in front ("small dog", "another dog" for class "dog");
 * - it is the head word of a multi-word name on its own ("retriever" for "golden retriever");
 * - it equals a name once spaces are removed ("firetruck" for "fire truck").
 */
export function matchesClassName(element: string, names: readonly string[]): boolean {
  const item = normalizeNoun(element);
  if (item === '') {
    return false;
  }
  const itemWords = item.split(' ');
  for (const raw of names) {
    const name = normalizeNoun(raw);
    if (name === '') {
      continue;
    }
    if (sameNoun(item, name)) {
      return true;
    }
    const nameWords = name.split(' ');
    if (nameWords.length === 1 && itemWords.length > 1 && sameNoun(itemWords.at(-1)!, name)) {
      return true;
    }
    if (nameWords.length > 1 && itemWords.length === 1 && sameNoun(item, nameWords.at(-1)!)) {
      return true;
    }
    if (sameNoun(item.replaceAll(' ', ''), name.replaceAll(' ', ''))) {
      return true;
    }
  }
  return false;
}
