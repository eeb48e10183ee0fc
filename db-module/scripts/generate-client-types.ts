/** Writes src/generated/client-types.ts (see client-types.ts). Run with `npm run db:generate`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderClientTypes } from './client-types.ts';

const target = fileURLToPath(new URL('../src/generated/client-types.ts', import.meta.url));
writeFileSync(target, renderClientTypes());
console.log(`wrote ${target}`);
