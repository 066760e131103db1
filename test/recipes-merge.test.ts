import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changedFields, mergeThresholds } from '../src/api/recipes.js';
import type { Station } from '../src/main.js';
import { startTestStation, userWithRole } from './helpers/station.js';

describe('a partial threshold change (first-hour finding 16: PUT with only minScore dropped minArea and maxCount)', () => {
  let s: Station;
  let integrator: Record<string, string>;
  beforeAll(async () => {
    s = await startTestStation({
      sources: [{ name: 'push', uri: 'http:' }],
      recipe: { thresholds: { default: { minScore: 0.5, minArea: 40, maxCount: 1 }, classes: { scratch: { minScore: 0.7, minArea: 10 } } } },
    });
    integrator = await userWithRole(s, 'integrator');
  });
  afterAll(() => s.stop());

  const put = (payload: object) => s.api!.inject({ method: 'PUT', url: '/api/recipes/plate/thresholds', headers: integrator, payload });

  it('merges a rule given with only minScore into the current one, and the audit says exactly what changed', async () => {
    const r = await put({ thresholds: { default: { minScore: 0.6 } }, reason: 'tighten the default' });
    expect(r.statusCode).toBe(200);
    expect(r.json().thresholds).toEqual({ default: { minScore: 0.6, minArea: 40, maxCount: 1 }, classes: { scratch: { minScore: 0.7, minArea: 10 } } });
    expect(r.json().changes).toEqual([{ field: 'default.minScore', from: 0.5, to: 0.6 }]);
    const recipe = (await s.api!.inject({ method: 'GET', url: '/api/recipes/plate', headers: integrator })).json();
    expect(recipe.definition.thresholds.default).toEqual({ minScore: 0.6, minArea: 40, maxCount: 1 });
    const audit = (await s.api!.inject({ method: 'GET', url: '/api/audit', headers: integrator })).json().items;
    expect(audit[0]).toMatchObject({ action: 'recipe.thresholds', details: { changes: [{ field: 'default.minScore', from: 0.5, to: 0.6 }] } });
  });

  it('adds a class rule beside the others, and replaces everything only when asked to', async () => {
    const added = await put({ thresholds: { classes: { crack: { minScore: 0.4 } } }, reason: 'cracks matter' });
    expect(added.json().thresholds.classes).toEqual({ scratch: { minScore: 0.7, minArea: 10 }, crack: { minScore: 0.4 } });
    const replaced = await put({ thresholds: { default: { minScore: 0.5 } }, reason: 'start over', mode: 'replace' });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json().thresholds).toEqual({ default: { minScore: 0.5 } });
  });

  it('is a pure merge underneath', () => {
    expect(mergeThresholds({ anomalyScore: 0.5, default: { minScore: 0.2, maxCount: 0 } }, { anomalyScore: 0.6 })).toEqual({
      anomalyScore: 0.6,
      default: { minScore: 0.2, maxCount: 0 },
    });
    expect(changedFields({ classes: { a: { minScore: 0.1 } } }, { classes: { a: { minScore: 0.1 }, b: { minScore: 0.3 } } })).toEqual([
      { field: 'classes.b', from: null, to: { minScore: 0.3 } },
    ]);
  });
});
