/**
 * The module-host check bites: module code that reaches for anything SpacetimeDB's JS host does not
 * provide (a Node global, a Node module, `Math.random`, timers, a pending top-level await) fails to
 * load, as it would fail on the server. The happy path (the real bundle loads and describes itself as
 * the embedded host's catalog) is module-definition.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleModule } from '../scripts/bundle.ts';
import { describeBundle, section } from '../scripts/module-definition.ts';

let bundle: string;
beforeAll(async () => {
  bundle = await bundleModule();
});

describe('loading the module as SpacetimeDB does', () => {
  it.each([
    ['a Node global', 'process.env.HOME;', /process is not defined/],
    ['Buffer', "Buffer.from('x');", /Buffer is not defined/],
    ['Math.random', 'Math.random();', /Math.random is not a function/],
    ['timers', 'setTimeout(() => {}, 1);', /setTimeout is not defined/],
    ['require', "require('fs');", /require is not defined/],
    ['a pending top-level await', 'await new Promise(() => {});', /top-level await pending/],
  ])('fails for module code that uses %s', async (_what, code, message) => {
    await expect(describeBundle(`${bundle}\n${code}\n`)).rejects.toThrow(message);
  });

  it('fails for a module that imports a Node module', async () => {
    await expect(describeBundle(`import 'node:fs';\n${bundle}`)).rejects.toThrow(
      /resolves only its spacetime:sys modules; the module imports `node:fs`/,
    );
  });

  it('gives the module TextEncoder and TextDecoder, as the host does', async () => {
    const definition = await describeBundle(`${bundle}\nnew TextDecoder().decode(new TextEncoder().encode('ok'));\n`);
    expect(section<unknown[]>(definition, 'Tables').length).toBeGreaterThan(0);
  });
});
