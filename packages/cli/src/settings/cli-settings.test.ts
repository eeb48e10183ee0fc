import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveCliSettings } from './cli-settings.ts';

const folder = mkdtempSync(join(tmpdir(), 'claw-settings-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('resolveCliSettings', () => {
  it('defaults to .data in the working folder, as the orchestrator does', () => {
    const settings = resolveCliSettings({}, {}, folder);
    expect(settings.dataDirectory).toBe(join(folder, '.data'));
    expect(settings.socketPath).toBe(join(folder, '.data', 'run', 'orchestrator.sock'));
    expect(settings.tokensPath).toBe(join(folder, '.data', 'tokens.json'));
    expect(settings.logPath).toBe(join(folder, '.data', 'logs', 'orchestrator.log'));
  });

  it('takes the config file, then the environment, then the command line', () => {
    const file = join(folder, 'claw.json');
    writeFileSync(file, JSON.stringify({ dataDirectory: 'from-file', socketPath: '/run/claw.sock', models: [] }));
    const fromFile = resolveCliSettings({}, { CLAW_CONFIG: file }, folder);
    expect(fromFile).toMatchObject({ dataDirectory: join(folder, 'from-file'), socketPath: '/run/claw.sock' });
    const fromEnvironment = resolveCliSettings(
      {},
      { CLAW_CONFIG: file, CLAW_DATA_DIR: '/srv/claw', CLAW_SOCKET: '' },
      folder,
    );
    expect(fromEnvironment).toMatchObject({ dataDirectory: '/srv/claw', socketPath: '/run/claw.sock' });
    const fromOptions = resolveCliSettings(
      { dataDir: 'mine', socket: 'my.sock' },
      { CLAW_CONFIG: file, CLAW_DATA_DIR: '/srv/claw' },
      folder,
    );
    expect(fromOptions).toMatchObject({ dataDirectory: join(folder, 'mine'), socketPath: join(folder, 'my.sock') });
  });

  it('reads clawfleet.config.json from the working folder when CLAW_CONFIG is not set', () => {
    const working = mkdtempSync(join(folder, 'working-'));
    writeFileSync(join(working, 'clawfleet.config.json'), JSON.stringify({ dataDirectory: '/var/lib/clawfleet' }));
    expect(resolveCliSettings({}, {}, working).dataDirectory).toBe('/var/lib/clawfleet');
  });

  it('names the file and the option when the config file is wrong', () => {
    const file = join(folder, 'broken.json');
    writeFileSync(file, '{ "dataDirectory": 5 }');
    expect(() => resolveCliSettings({}, { CLAW_CONFIG: file }, folder)).toThrow(
      /Invalid option `dataDirectory` in config file .*broken\.json/,
    );
    writeFileSync(file, '{ not json');
    expect(() => resolveCliSettings({}, { CLAW_CONFIG: file }, folder)).toThrow(/is not valid JSON/);
  });
});
