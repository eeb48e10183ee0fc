import MiniSearch from 'minisearch';

/** Words too common to say anything about a memory; dropped from the index and from queries. */
const STOP_WORDS = new Set(
  'a an and are as at be by for from has have i in is it its of on or that the this to was were will with we our my me'.split(
    ' ',
  ),
);

const tokenize = MiniSearch.getDefault('tokenize') as (text: string) => string[];

function processTerm(term: string): string | null {
  const lower = term.toLowerCase();
  return lower.length === 0 || STOP_WORDS.has(lower) ? null : lower;
}

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

export interface LexicalIndexOptions {
  /**
   * Query words found in more than this share of the entries (and in more than
   * `minDocumentCeiling` entries) are left out of the query, unless all of its words are that
   * common: they add little to BM25 (low IDF) and would make every query score most of the index.
   * @default 0.02
   */
  maxDocumentShare?: number;
  /** Below this many entries containing it, no word is left out. @default 1000 */
  minDocumentCeiling?: number;
}

/**
 * BM25 over memory text and tags, kept up to date entry by entry. MiniSearch (MIT, no dependencies)
 * was chosen over wink-bm25-text-search because it adds and removes documents incrementally
 * (`discard`, with vacuuming in the background) while wink must be rebuilt ("consolidated") before it
 * answers queries: the memory index is fed row by row by the bus subscription.
 *
 * MiniSearch scores every document that contains any query word; this index keeps its own document
 * frequencies so that words present in most entries can be dropped from a query first.
 */
export class LexicalIndex {
  readonly #search = new MiniSearch<LexicalDocument>({
    fields: ['text', 'tags'],
    storeFields: [],
    processTerm,
    searchOptions: { boost: { tags: 1.5 }, combineWith: 'OR' },
  });
  /** Term → number of entries containing it. */
  readonly #frequency = new Map<string, number>();
  /** Entry → its distinct terms, to undo its frequencies when it changes or goes. */
  readonly #terms = new Map<number, string[]>();
  readonly #maxDocumentShare: number;
  readonly #minDocumentCeiling: number;

  constructor(options: LexicalIndexOptions = {}) {
    this.#maxDocumentShare = options.maxDocumentShare ?? 0.02;
    this.#minDocumentCeiling = options.minDocumentCeiling ?? 1_000;
  }

  get size(): number {
    return this.#terms.size;
  }

  has(id: number): boolean {
    return this.#terms.has(id);
  }

  /** Adds or replaces the document of `id`. */
  set(id: number, text: string, tags: readonly string[]): void {
    if (this.#terms.has(id)) this.delete(id);
    const tagText = tags.join(' ');
    this.#search.add({ id, text, tags: tagText });
    const terms = distinctTerms(`${text} ${tagText}`);
    for (const term of terms) this.#frequency.set(term, (this.#frequency.get(term) ?? 0) + 1);
    this.#terms.set(id, terms);
  }

  delete(id: number): void {
    const terms = this.#terms.get(id);
    if (terms === undefined) return;
    this.#terms.delete(id);
    this.#search.discard(id);
    for (const term of terms) {
      const count = (this.#frequency.get(term) ?? 1) - 1;
      if (count === 0) this.#frequency.delete(term);
      else this.#frequency.set(term, count);
    }
  }

  /** Matching ids, best first, that pass `accept`, at most `limit`. */
  search(query: string, limit: number, accept: (id: number) => boolean): LexicalHit[] {
    const terms = distinctTerms(query).filter((term) => this.#frequency.has(term));
    if (terms.length === 0) return [];
    const ceiling = Math.max(this.#minDocumentCeiling, this.#maxDocumentShare * this.#terms.size);
    const selective = terms.filter((term) => this.#frequency.get(term)! <= ceiling);
    const chosen =
      selective.length > 0
        ? selective
        : [terms.reduce((a, b) => (this.#frequency.get(a)! <= this.#frequency.get(b)! ? a : b))];
    const hits: LexicalHit[] = [];
    for (const result of this.#search.search(chosen.join(' '))) {
      const id = result.id as number;
      if (!accept(id)) continue;
      hits.push({ id, score: result.score });
      if (hits.length >= limit) break;
    }
    return hits;
  }
}

function distinctTerms(text: string): string[] {
  const terms = new Set<string>();
  for (const token of tokenize(text)) {
    const term = processTerm(token);
    if (term !== null) terms.add(term);
  }
  return [...terms];
}
