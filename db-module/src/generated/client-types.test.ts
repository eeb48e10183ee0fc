import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderClientTypes } from '../../scripts/client-types.ts';

describe('generated client types', () => {
  it('match the table and reducer definitions (regenerate with `npm run db:generate`)', () => {
    const committed = readFileSync(new URL('./client-types.ts', import.meta.url), 'utf8');
    expect(committed).toBe(renderClientTypes());
  });
});
