/**
 * @file Building a `tokenizer.json` from the files SD 2's `tokenizer/` folder ships (`vocab.json`,
 * `merges.txt`), so one tokenizer implementation (`@huggingface/tokenizers`) serves both layouts; and the
 * letter vocabulary of the tiny fixture tokenizers built on it.
 */
/** Ids of CLIP's special tokens in {@link clipLetterVocab}. */
export interface ClipLetterVocabIds {
  /** Id of `<|startoftext|>`. @defaultValue 49406 (CLIP's) */
  start?: number;
  /** Id of `<|endoftext|>`. @defaultValue 49407 (CLIP's) */
  end?: number;
}

/**
 * The smallest CLIP-style BPE vocabulary: each letter `a`–`z` (ids 0–25) and its word-final form
 * `a</w>`–`z</w>` (ids 26–51), plus the start and end tokens. With no merges a word tokenizes to its
 * letters, the last one word-final, so the fixture models' token ids can be worked out by hand.
 */
export function clipLetterVocab(ids: ClipLetterVocabIds = {}): Record<string, number> {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 26; i++) {
    const c = String.fromCharCode(97 + i);
    vocab[c] = i;
    vocab[`${c}</w>`] = 26 + i;
  }
  vocab['<|startoftext|>'] = ids.start ?? 49406;
  vocab['<|endoftext|>'] = ids.end ?? 49407;
  return vocab;
}

/**
 * A CLIP `tokenizer.json` (the layout of Hugging Face's CLIP checkpoints) around a BPE vocabulary and merge
 * list, as SD 2's `tokenizer/` folder ships them (`vocab.json`, `merges.txt`).
 */
export function clipTokenizerJson(
  vocab: Record<string, number>,
  merges: readonly string[],
): Record<string, unknown> {
  const special = (content: string) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special('<|startoftext|>'), special('<|endoftext|>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex:
              "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
          },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: ['<|endoftext|>', vocab['<|endoftext|>']],
      cls: ['<|startoftext|>', vocab['<|startoftext|>']],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<|endoftext|>',
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}
