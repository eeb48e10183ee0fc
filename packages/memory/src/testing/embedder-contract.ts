import { describe, expect, it } from 'vitest';
import type { Embedder } from '../embedding/embedder.ts';

/**
 * What retrieval relies on from every Embedder: one vector per text, in order, all of one length,
 * unit length (dot product = cosine), the same vector for the same text, different vectors for
 * different texts, and an empty list for no texts.
 */
export function describeEmbedderContract(name: string, createEmbedder: () => Promise<Embedder> | Embedder): void {
  describe(`Embedder contract: ${name}`, () => {
    const texts = ['the deploy failed on staging', 'lunch menu for friday', 'the deploy failed on staging'];

    it('returns one unit vector per text, all of one length, identical for identical texts', async () => {
      const embedder = await createEmbedder();
      const vectors = await embedder.embed(texts);
      expect(vectors).toHaveLength(3);
      const dimensions = vectors[0]!.length;
      expect(dimensions).toBeGreaterThan(0);
      for (const vector of vectors) {
        expect(vector).toBeInstanceOf(Float32Array);
        expect(vector.length).toBe(dimensions);
        const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
        expect(norm).toBeCloseTo(1, 3);
      }
      expect([...vectors[2]!]).toEqual([...vectors[0]!]);
      expect([...vectors[1]!]).not.toEqual([...vectors[0]!]);
      const [again] = await embedder.embed([texts[0]!]);
      expect([...again!]).toEqual([...vectors[0]!]);
    });

    it('names its model: a stable key, and the length its vectors have', async () => {
      const embedder = await createEmbedder();
      const model = await embedder.model();
      expect(model.key.length).toBeGreaterThan(0);
      const [vector] = await embedder.embed(['what the model is']);
      expect(model.dimensions).toBe(vector!.length);
      expect(await embedder.model()).toEqual(model);
    });

    it('answers no texts with no vectors', async () => {
      const embedder = await createEmbedder();
      expect(await embedder.embed([])).toEqual([]);
    });
  });
}
