/**
 * @file Parsing a vision-language model's answer into context elements. Answers come in every shape a
 * chat model produces: a bare comma list, one item per line, numbered or bulleted lists with descriptions
 * ("1. **Bamboo**: tall stalks behind"), "and"-joined tails, whole sentences ("The image shows a table, a
 * lamp and a window."), lead-ins ("Sure! Here are the elements:"). The parser keeps short noun phrases,
 * lower-cased and deduplicated, and drops the main object under any of its names.
 */
import { requireArg } from './errors';
import { matchesClassName, normalizeNoun, sameNoun } from './nouns';

/** Default cap on the number of elements kept. */
export const DEFAULT_MAX_ELEMENTS = 8;
/** Default limit on an element's words: longer items are descriptions, not names. */
export const DEFAULT_MAX_ELEMENT_WORDS = 5;
/** Default limit on an element's characters. */
export const DEFAULT_MAX_ELEMENT_CHARS = 40;

/** Options of {@link parseElements}. */
export interface ParseOptions {
  /** The image's class: never an element. */
  className: string;
  /** Other names of the class (WordNet lemmas of its synsets), dropped like the class name. */
  synonyms?: readonly string[];
  /** Elements kept, in answer order. @defaultValue {@link DEFAULT_MAX_ELEMENTS} (8) */
  maxElements?: number;
  /** Items with more words are dropped. @defaultValue {@link DEFAULT_MAX_ELEMENT_WORDS} (5) */
  maxWords?: number;
  /** Items with more characters are dropped. @defaultValue {@link DEFAULT_MAX_ELEMENT_CHARS} (40) */
  maxChars?: number;
}

/** Why an item of the answer is not an element. */
export type DropReason =
  'empty' | 'negation' | 'sentence' | 'too-long' | 'class-name' | 'duplicate' | 'over-cap';

/** One item of the answer that was not kept. */
export interface DroppedItem {
  /** The item after cleanup (lower case, lead-ins and articles removed). */
  readonly item: string;
  readonly reason: DropReason;
}

/** The elements of an answer and what was dropped, for the manifest and for debugging prompts. */
export interface ParsedElements {
  /** Lower-case noun phrases in answer order, at most `maxElements`. */
  readonly elements: string[];
  readonly dropped: DroppedItem[];
}

/** A list marker at the start of a line: bullets, `1.`, `1)`, `(1)`, `a)`. */
const LIST_MARKER = /^(?:[-*•·‣▪◦●–—+]|\(?\d{1,3}[.):\]]|\(?[a-z][)\]]|[a-z]\.(?=\s))\s*/i;

/** Separators between a listed term and its description ("bamboo: tall stalks", "bamboo - tall"). */
const DESCRIPTION = /\s*(?::|\s[-–—]\s)/;

/** Separators between items inside a line. */
const ITEM_SEPARATOR = /\s*[,;]\s*|\s+(?:and|&|as well as|along with|plus)\s+/;

/** Phrases that introduce items; removed from the start of an item, repeatedly. */
const LEAD_INS: readonly RegExp[] = [
  /^(?:sure|certainly|okay|ok|of course)\b[!.,]?\s*/,
  /^here (?:is|are)\b(?: (?:the|a|some))?(?: list)?(?: of)?(?: the)?\s*/,
  /^(?:the|this) (?:image|picture|photo(?:graph)?|scene|background|foreground|setting|frame)\s+(?:also\s+)?(?:shows|contains|includes|features|depicts|displays|has|consists of|is made up of)\s+/,
  /^(?:in|within|on|at) (?:the|this) (?:image|picture|photo(?:graph)?|scene|background|foreground|distance|surroundings|setting|frame)\b\s*,?\s*/,
  /^(?:behind|around|near|next to|beside) (?:it|them)\b\s*,?\s*/,
  // A bare location ("near the window") names its landmark.
  /^(?:near|next to|beside|behind|under|beneath|above|below|on top of|in front of|around) (?=(?:the|a|an)\s)/,
  /^there (?:is|are|appears to be|appear to be|seems to be|seem to be)\s+/,
  /^(?:i|we|you|one) (?:can )?(?:also )?(?:see|notice|observe|spot)\s+/,
  /^(?:other |the )?(?:background |context(?:ual)? |visible |scene |surrounding )?(?:elements|objects|items|things|labels)(?: (?:in|of) (?:the|this) (?:image|scene|background|photo|picture))?(?: (?:include|are|is))?\s+(?=\S)/,
  /^(?:it )?(?:also )?(?:includes?|contains?|features?|shows?|has)\s+/,
  /^(?:and|or|also|plus|as well as|along with|with)\s+/,
  /^(?:visible|present)\s+(?:are|is)\s+/,
];

/** Determiners and vague quantities in front of the noun. */
const DETERMINER =
  /^(?:a|an|the|some|several|many|few|a few|various|multiple|numerous|lots of|a lot of|a pair of|a couple of|a group of|a bunch of|one|two|three|four|five|six|seven|eight|nine|ten|\d+|other|another|more|its|their|his|her)\s+/;

/** Location phrases at the end of an item that say where, not what ("trees in the background"). */
const TRAILING_LOCATION =
  /\s+(?:in|on|at|behind|near|under|beneath|above|below|beside|next to|around|along|across|against|inside|outside|over|to)\s+(?:the\s+|its\s+)?(?:background|foreground|distance|scene|image|picture|photo|frame|back|front|corner|side|left|right|top|bottom|middle|center|centre|sky|it|them)\b.*$/;

const TRAILING_VERB = /\s+(?:(?:is|are|can be|could be)\s+)?(?:visible|present|seen|shown|nearby|in view)$/;

const NEGATION = /^(?:no|none|nothing|n\/a|not any|without)\b/;

/** A verb that makes an item a clause ("the dog is not included"), not a name. */
const CLAUSE_VERB =
  /(?:^|\s)(?:is|are|was|were|be|been|being|has|have|had|can|could|would|should|will|does|do|did|appears?|seems?|looks?)(?:\s|$)/;

function stripEdges(s: string): string {
  return s.replace(/^[\s"'`*_.,;:!?()[\]{}<>~-]+|[\s"'`*_.,;:!?()[\]{}<>~-]+$/gu, '');
}

function stripRepeatedly(s: string, patterns: readonly RegExp[]): string {
  let out = s;
  for (let changed = true; changed;) {
    changed = false;
    for (const p of patterns) {
      const next = out.replace(p, '');
      if (next !== out) {
        out = next;
        changed = true;
      }
    }
  }
  return out;
}

/** One item of an answer → a lower-case noun phrase (possibly empty). */
function cleanItem(piece: string): string {
  let s = piece
    .toLowerCase()
    .replace(/\([^)]*\)|\[[^\]]*\]/g, ' ')
    .replace(/\s+/g, ' ');
  s = stripEdges(s);
  s = stripRepeatedly(s, LEAD_INS);
  s = stripEdges(s);
  s = s.replace(TRAILING_LOCATION, '').replace(TRAILING_VERB, '');
  s = stripRepeatedly(s, [DETERMINER]);
  return stripEdges(s).replace(/\s+/g, ' ');
}

/** A line of the answer → its raw items (before cleanup). */
function itemsOfLine(line: string): string[] {
  const marker = LIST_MARKER.exec(line);
  let body = marker === null ? line : line.slice(marker[0].length);
  if (marker !== null) {
    // "Bamboo: tall green stalks behind the panda" lists the term first; the rest describes it.
    const cut = DESCRIPTION.exec(body);
    if (cut !== null && cut.index > 0) {
      body = body.slice(0, cut.index);
    }
  } else {
    const colon = body.lastIndexOf(':');
    if (colon >= 0) {
      // "Elements: bamboo, leaves" keeps the list; "Here are the elements:" has nothing after it.
      body = body.slice(colon + 1);
    }
  }
  // Sentence ends split too ("A table. A lamp."); a dot not followed by a space ("2.5") does not.
  return body.split(/[.!?]+(?:\s+|$)/).flatMap((sentence) => sentence.split(ITEM_SEPARATOR));
}

function checkLimit(name: string, value: number): void {
  requireArg(Number.isSafeInteger(value) && value >= 1, `${name} must be a positive integer, got ${value}`);
}

/**
 * Splits an answer into context elements.
 *
 * Lines are split at commas, semicolons, sentence ends and "and"/"&"/"as well as"; list markers
 * (bullets, numbers) and descriptions after a listed term are removed; lead-ins ("The image shows",
 * "In the background, there are", "Here are the elements:"), articles and numbers in front and location
 * phrases at the end ("in the background") are removed. Then an item is dropped when it is empty, a
 * negation ("no people"), a clause rather than a name (it has a verb such as "is"), longer than `maxWords` words or `maxChars` characters, the class name or a
 * synonym in any form (see `matchesClassName`), a duplicate up to number of an earlier element, or past
 * `maxElements`.
 *
 * @throws CaptionError `CAPTION_ERR_BAD_ARGUMENT` for a non-positive limit.
 */
export function parseElements(raw: string, options: ParseOptions): ParsedElements {
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const maxWords = options.maxWords ?? DEFAULT_MAX_ELEMENT_WORDS;
  const maxChars = options.maxChars ?? DEFAULT_MAX_ELEMENT_CHARS;
  checkLimit('maxElements', maxElements);
  checkLimit('maxWords', maxWords);
  checkLimit('maxChars', maxChars);
  const names = [options.className, ...(options.synonyms ?? [])];

  const text = raw
    .normalize('NFKC')
    .replace(/[’‘]/g, "'")
    .replace(/\*\*|__|`+|^#+\s*/gm, '');
  const elements: string[] = [];
  const keys: string[] = [];
  const dropped: DroppedItem[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      continue;
    }
    for (const piece of itemsOfLine(line.trim())) {
      if (!/[\p{L}\p{N}]/u.test(piece)) {
        continue;
      }
      const item = cleanItem(piece);
      const key = normalizeNoun(item);
      let reason: DropReason | undefined;
      if (key === '') {
        reason = 'empty';
      } else if (NEGATION.test(item)) {
        reason = 'negation';
      } else if (CLAUSE_VERB.test(item)) {
        reason = 'sentence';
      } else if (item.split(' ').length > maxWords || Array.from(item).length > maxChars) {
        reason = 'too-long';
      } else if (matchesClassName(item, names)) {
        reason = 'class-name';
      } else if (keys.some((k) => sameNoun(k, key))) {
        reason = 'duplicate';
      } else if (elements.length >= maxElements) {
        reason = 'over-cap';
      }
      if (reason === undefined) {
        elements.push(item);
        keys.push(key);
      } else {
        dropped.push({ item, reason });
      }
    }
  }
  return { elements, dropped };
}
