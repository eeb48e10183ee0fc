import MiniSearch from 'minisearch';

/** Words too common to say anything about a memory; dropped from the index and from queries. */
const STOP_WORDS = new Set(
  'a an and are as at be by for from has have i in is it its of on or that the this to was were will with we our my me'.split(
    ' ',
  ),
);

interface LexicalDocument {
  id: number;
  text: string;
  tags: string;
}

export interface LexicalHit {
  id: number;
  /** BM25+ score (MiniSearch), unbounded. */
  score: number;
}

/**
 * BM25 over memory text and tags, kept up to date entry by entry. MiniSearch (MIT, no dependencies)
 * was chosen over wink-bm25-text-search because it adds and removes documents incrementally
 * (`discard`, with vacuuming in the background) while wink must be rebuilt ("consolidated") before it
 * answers queries: the memory index is fed row by row by the bus subscription.
 */
export class LexicalIndex {
  readonly #search = new MiniSearch<LexicalDocument>({
    fields: ['text', 'tags'],
    storeFields: [],
    processTerm: (term) => {
      const lower = term.toLowerCase();
      return STOP_WORDS.has(lower) ? null : lower;
    },
    searchOptions: { boost: { tags: 1.5 }, combineWith: 'OR' },
  });
  readonly #ids = new Set<number>();

  get size(): number {
    return this.#ids.size;
  }

  has(id: number): boolean {
    return this.#ids.has(id);
  }

  /** Adds or replaces the document of `id`. */
  set(id: number, text: string, tags: readonly string[]): void {
    if (this.#ids.has(id)) this.#search.discard(id);
    this.#search.add({ id, text, tags: tags.join(' ') });
    this.#ids.add(id);
  }

  delete(id: number): void {
    if (!this.#ids.delete(id)) return;
    this.#search.discard(id);
  }

  /** Matching ids, best first, that pass `accept`, at most `limit`. */
  search(query: string, limit: number, accept: (id: number) => boolean): LexicalHit[] {
    const hits: LexicalHit[] = [];
    for (const result of this.#search.search(query)) {
      const id = result.id as number;
      if (!accept(id)) continue;
      hits.push({ id, score: result.score });
      if (hits.length >= limit) break;
    }
    return hits;
  }
}
