import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_PAGES, dashboardAssetDirectory } from './index.ts';

/** Every local file a page or module refers to, resolved against the referring file. */
function references(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = [
    ...text.matchAll(/(?:src|href)="([^"#:]+)"/g),
    ...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.[^']+)'/g),
  ].map((match) => match[1]!);
  return found.map((path) => (path.startsWith('/') ? join(dashboardAssetDirectory, path) : join(dirname(file), path)));
}

describe('the dashboard asset directory', () => {
  it('holds the pages, and every stylesheet and module they load exists (no build step)', () => {
    const seen = new Set<string>();
    const queue = Object.values(DASHBOARD_PAGES).map((page) => join(dashboardAssetDirectory, page));
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      expect(existsSync(file), file).toBe(true);
      if (/\.(html|js)$/.test(file)) queue.push(...references(file));
    }
    expect([...seen].filter((file) => file.endsWith('.js')).length).toBeGreaterThan(10);
  });

  it('never writes HTML from strings: the browser code has no innerHTML, outerHTML, insertAdjacentHTML or document.write', () => {
    const modules = references(join(dashboardAssetDirectory, 'index.html')).filter((file) => file.endsWith('.js'));
    const all = new Set<string>();
    const queue = [...modules];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (all.has(file)) continue;
      all.add(file);
      queue.push(...references(file).filter((path) => path.endsWith('.js')));
    }
    for (const file of all) {
      expect(readFileSync(file, 'utf8'), file).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    }
  });
});
