/**
 * A tiny CLIP-style `tokenizer.json` for the demo's fixture models: one token per letter (with and
 * without CLIP's end-of-word suffix) and CLIP's start and end ids, in the layout of Hugging Face's CLIP
 * checkpoints (the pattern of `packages/models/test/clip-fixtures.ts`). The fixture text towers accept
 * ids up to 49407, so both `clip.tokenizer` and `sd.tokenizer` use it.
 */
import { clipLetterVocab, clipTokenizerJson } from '@synood/models';

/** The tokenizer as a JSON object (write it with `JSON.stringify`). */
export function tinyClipTokenizerJson(): Record<string, unknown> {
  return clipTokenizerJson(clipLetterVocab(), []);
}
