/**
 * The error registry is the one place a code lives: each has an HTTP status, and docs/errors.md
 * documents each with that same status (issue #16: the status table covered 27 of 45 codes and
 * the README 9). Codes others add are caught because the test reads the registry itself.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, StationError, statusOf, type ErrorCode } from '../src/errors/index.js';
import { PACKAGE_ROOT } from '../src/paths.js';

const doc = readFileSync(`${PACKAGE_ROOT}/docs/errors.md`, 'utf8');
/** `| \`CODE\` | 404 | …` rows of the page. */
const documented = new Map([...doc.matchAll(/^\|\s*`(STN_ERR_[A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [m[1], Number(m[2])]));
const codes = Object.keys(ErrorCodes) as ErrorCode[];

describe('the error registry', () => {
  it('gives every code an HTTP status and a default message', () => {
    for (const code of codes) {
      const { status, message } = ErrorCodes[code];
      expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code} status ${status}`).toBe(true);
      expect(message.length, code).toBeGreaterThan(5);
      expect(new StationError(code).statusCode).toBe(status);
    }
    expect(ErrorCodes.STN_ERR_INTERNAL.status).toBe(500);
    expect(statusOf('STN_ERR_NOT_A_CODE')).toBe(500);
  });

  it('documents every code in docs/errors.md with the status the API answers', () => {
    const missing = codes.filter((c) => !documented.has(c));
    expect(missing, 'codes missing from docs/errors.md').toEqual([]);
    const wrong = codes
      .filter((c) => documented.get(c) !== ErrorCodes[c].status)
      .map((c) => `${c}: docs ${documented.get(c)}, registry ${ErrorCodes[c].status}`);
    expect(wrong).toEqual([]);
    const stale = [...documented.keys()].filter((c) => !Object.hasOwn(ErrorCodes, c));
    expect(stale, 'documented codes that no longer exist').toEqual([]);
  });

  it('names codes STN_ERR_<AREA>_<WHAT>', () => {
    for (const code of codes) expect(code).toMatch(/^STN_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
  });
});
