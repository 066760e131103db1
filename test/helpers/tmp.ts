import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';

const perTest: string[] = [];
const perFile: string[] = [];
afterEach(() => {
  for (const d of perTest.splice(0)) rmSync(d, { recursive: true, force: true });
});
afterAll(() => {
  for (const d of perFile.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A fresh folder, removed after the current test — or, with `untilFileEnds`, after the last test
 * of the file (for stations started in `beforeAll`).
 */
export function tmpDir(prefix = 'station-test-', untilFileEnds = false): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  (untilFileEnds ? perFile : perTest).push(d);
  return d;
}
