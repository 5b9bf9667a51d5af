/**
 * Models and resources: the model registry (roles → files with sources and checksums, `pull`/`verify` into a
 * cache), the CLIP adapters (tokeniser, text and image features) and the WordNet corpus loader.
 * @packageDocumentation
 */
export * from './registry';
export * from './clip';
export * from './wordnet';
