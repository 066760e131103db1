import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, demoConfig, loadConfigFile, parseConfig } from '../src/config/index.js';
import { tmpDir } from './helpers/tmp.js';

const valid = `
station:
  id: press-3
sources:
  - name: cam1
    uri: synthetic:?seed=3&rate=5
    recipe: plate
recipes:
  plate:
    model: ../models/plate-defects.onnx
    thresholds:
      default: { minScore: 0.5 }
      classes:
        scratch: { minScore: 0.6, minArea: 40, maxCount: 0 }
`;

function issues(text: string) {
  try {
    parseConfig(text, '/tmp', 'station.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('STN_ERR_CONFIG_INVALID');
    return (err as ConfigError).issues;
  }
  throw new Error('the configuration was accepted');
}

describe('station configuration', () => {
  it('fills defaults and freezes the result', () => {
    const cfg = parseConfig(valid, '/etc/station');
    expect(cfg.line.deadlineMs).toBe(400);
    expect(cfg.http).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(cfg.recipes.plate.keepGood).toBe(0.05);
    expect(cfg.baseDir).toBe('/etc/station');
    expect(Object.isFrozen(cfg.recipes.plate.thresholds)).toBe(true);
  });

  it('names the key path and line of an unknown key', () => {
    const found = issues(valid.replace('      default: { minScore: 0.5 }', '      default: { minScore: 0.5 }\n      minScroe: 0.3'));
    expect(found).toContainEqual(expect.objectContaining({ path: 'recipes.plate.thresholds', line: 13, message: expect.stringContaining('minScroe') }));
  });

  it('names the key path of a value out of range', () => {
    const found = issues(valid.replace('minScore: 0.6', 'minScore: 1.6'));
    expect(found).toContainEqual(expect.objectContaining({ path: 'recipes.plate.thresholds.classes.scratch.minScore', line: 14 }));
  });

  it('refuses a source that names a recipe that does not exist', () => {
    expect(issues(valid.replace('recipe: plate', 'recipe: plat'))).toContainEqual(expect.objectContaining({ path: 'sources.0.recipe', line: 7 }));
  });

  it('refuses YAML that does not parse with STN_ERR_CONFIG_PARSE', () => {
    expect(() => parseConfig('station: [unclosed', '/tmp')).toThrow(expect.objectContaining({ code: 'STN_ERR_CONFIG_PARSE' }));
  });

  it('reports a missing file with STN_ERR_CONFIG_NOT_FOUND', () => {
    expect(() => loadConfigFile('/nonexistent/station.yaml')).toThrow(expect.objectContaining({ code: 'STN_ERR_CONFIG_NOT_FOUND' }));
  });

  it('resolves relative paths against the file, not the working directory', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'station.yaml');
    writeFileSync(f, valid);
    expect(loadConfigFile(f).baseDir).toBe(dir);
  });

  it('the embedded demo configuration is valid and uses the shipped model', () => {
    const cfg = demoConfig({ dataDir: '/tmp/x', port: 0, host: '127.0.0.1', rate: 10 });
    expect(cfg.sources[0].uri).toContain('synthetic:');
    expect(cfg.recipes.plate.model).toMatch(/models\/plate-defects\.onnx$/);
  });
});

describe('configuration checks that need the world (model labels, folders, URIs)', () => {
  // From test/, `../models/plate-defects.onnx` is the shipped model (classes scratch, crack, spot, dent, missing_hole).
  const TEST_DIR = path.dirname(new URL(import.meta.url).pathname);
  const issuesAt = (text: string, baseDir = TEST_DIR) => {
    try {
      parseConfig(text, baseDir, 'station.yaml');
    } catch (err) {
      return (err as ConfigError).issues;
    }
    throw new Error('the configuration was accepted');
  };

  it('refuses a class the recipe model does not have, at its key path and line (a misspelt "spots" for "spot")', () => {
    const text = valid.replace(
      'scratch: { minScore: 0.6, minArea: 40, maxCount: 0 }',
      'scratch: { minScore: 0.6 }\n        spots: { minScore: 0.3, maxCount: 2 }',
    );
    expect(issuesAt(text)).toContainEqual(
      expect.objectContaining({ path: 'recipes.plate.thresholds.classes.spots', line: 15, message: expect.stringContaining('no class "spots"') }),
    );
    // Spelt right, the same file is accepted.
    expect(() => parseConfig(text.replace('spots:', 'spot:'), TEST_DIR)).not.toThrow();
  });

  it('refuses a misspelt scheme as an unknown scheme, with the key path and line of the URI', () => {
    const found = issuesAt(valid.replace('uri: synthetic:?seed=3&rate=5', 'uri: dri:./frames?rate=5'));
    expect(found).toContainEqual(expect.objectContaining({ path: 'sources.0.uri', line: 6, message: expect.stringContaining('unknown scheme "dri"') }));
  });

  it('refuses a dir: source whose folder does not exist (a dead source never starts)', () => {
    const found = issuesAt(valid.replace('uri: synthetic:?seed=3&rate=5', 'uri: dir:/no/such/folder'));
    expect(found).toContainEqual(expect.objectContaining({ path: 'sources.0.uri', line: 6, message: expect.stringContaining('no folder at /no/such/folder') }));
  });

  it('names the line and column of a YAML syntax error', () => {
    let message = '';
    try {
      parseConfig('station:\n  id: a\n  bad: [1, 2\nrecipes: {}\n', '/tmp', 'station.yaml');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^station\.yaml: line 4, column 1: /);
  });
});

describe('configuration reload refuses a class the model does not have', () => {
  it('keeps the running recipe and names the key path and line when the reloaded file misspells a class', async () => {
    const { startStation } = await import('../src/main.js');
    const { pino } = await import('pino');
    const { SHIPPED_MODEL } = await import('../src/paths.js');
    const dir = tmpDir();
    const file = path.join(dir, 'station.yaml');
    const text = (cls: string) => `
station: { id: reload-classes }
http: { port: 0 }
storage: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }
sources:
  - { name: push, uri: "http:", recipe: plate }
recipes:
  plate:
    model: ${JSON.stringify(SHIPPED_MODEL)}
    thresholds:
      default: { minScore: 0.5 }
      classes:
        ${cls}: { minScore: 0.3, maxCount: 2 }
`;
    writeFileSync(file, text('spot'));
    const s = await startStation({ config: loadConfigFile(file), configFile: file, log: pino({ level: 'silent' }) });
    try {
      writeFileSync(file, text('spots'));
      const refused = await s.reload('test').catch((err: ConfigError) => err);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).issues).toContainEqual(expect.objectContaining({ path: 'recipes.plate.thresholds.classes.spots', line: 13 }));
      const current = await s.api!.inject({ method: 'GET', url: '/api/health' });
      expect(current.statusCode).toBe(200);
      expect(s.config.recipes.plate.thresholds.classes).toEqual({ spot: { minScore: 0.3, maxCount: 2 } });
    } finally {
      await s.stop();
    }
  });
});
