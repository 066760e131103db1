import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { StationConfig } from '../src/config/schema.js';

const ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const README = path.join(ROOT, 'README.md');
const DOCS = path.join(ROOT, 'docs');
const docPages = () =>
  readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .sort();

/** Relative link targets of a Markdown file: `[text](target)`, without web addresses, anchors or mail. */
function relativeLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const out: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    out.push(target.split('#')[0]);
  }
  return out;
}

/** A schema node as TypeBox builds it (plain JSON Schema plus symbols). */
interface Node {
  type?: string;
  properties?: Record<string, Node>;
  patternProperties?: Record<string, Node>;
  items?: Node | Node[];
  anyOf?: Node[];
}

/**
 * Every key path of the station file: `storage.retention.maxAgeDays`; a Record's keys are
 * `<placeholder>` (`recipes.<name>.model`), an array of objects is `[]` (`sources[].uri`).
 */
function keyPaths(node: Node, prefix: string, out: string[]): string[] {
  for (const branch of node.anyOf ?? []) keyPaths(branch, prefix, out);
  if (node.type === 'object' && node.properties) {
    for (const [key, child] of Object.entries(node.properties)) {
      const p = prefix ? `${prefix}.${key}` : key;
      out.push(p);
      keyPaths(child, p, out);
    }
  }
  if (node.type === 'object' && node.patternProperties) {
    for (const child of Object.values(node.patternProperties)) {
      const p = `${prefix}.<*>`;
      out.push(p);
      keyPaths(child, p, out);
    }
  }
  if (node.type === 'array' && node.items && !Array.isArray(node.items)) keyPaths(node.items, `${prefix}[]`, out);
  return [...new Set(out)];
}

describe('the documentation', () => {
  it('keeps the README under 12 KB and links every page of docs/ from it', () => {
    expect(statSync(README).size).toBeLessThan(12 * 1024);
    const linked = new Set(relativeLinks(README).map((l) => path.normalize(l)));
    const pages = docPages();
    expect(pages.length).toBeGreaterThan(0);
    for (const page of pages) expect(linked, `README.md does not link docs/${page}`).toContain(path.normalize(`docs/${page}`));
  });

  it('has no relative link to a file that does not exist', () => {
    const files = [README, ...docPages().map((p) => path.join(DOCS, p))];
    const broken: string[] = [];
    for (const file of files) {
      for (const link of relativeLinks(file)) {
        if (link && !existsSync(path.resolve(path.dirname(file), link))) broken.push(`${path.relative(ROOT, file)} → ${link}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('names every key of the station file in docs/configuration.md, as a whole key path in backticks', () => {
    const page = readFileSync(path.join(DOCS, 'configuration.md'), 'utf8');
    const paths = keyPaths(StationConfig as unknown as Node, '', []);
    // Sanity: the walk reaches nested objects, records, arrays and unions.
    expect(paths).toContain('storage.retention.maxAgeDays');
    expect(paths).toContain('recipes.<*>.thresholds.classes.<*>.minScore');
    expect(paths).toContain('sources[].uri');
    expect(paths).toContain('plc.user.passwordEnv');
    const missing = paths.filter((p) => {
      const pattern = p
        .split('<*>')
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('<[A-Za-z]+>');
      return !new RegExp('`' + pattern + '`').test(page);
    });
    expect(missing).toEqual([]);
  });
});
