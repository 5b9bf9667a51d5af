/**
 * Model and resource registry. For now: the WordNet database loader behind the negative-label corpus.
 * @packageDocumentation
 */
export * from './wordnet';
