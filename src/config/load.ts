import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { StationError } from '../errors/index.js';
import { Recipe, StationConfig } from './schema.js';

export interface ConfigIssue {
  /** Key path, e.g. `recipes.plate.thresholds.default.minScore`. */
  path: string;
  message: string;
  line?: number;
}

export class ConfigError extends StationError {
  constructor(readonly issues: ConfigIssue[], readonly file?: string) {
    super(
      'STN_ERR_CONFIG_INVALID',
      `${file ?? 'configuration'} is invalid:\n` +
        issues.map((i) => `  ${i.path || '(root)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`).join('\n'),
    );
  }
}

/** A validated configuration whose relative paths are resolved against `baseDir`. Frozen. */
export type LoadedConfig = Readonly<StationConfig> & { readonly baseDir: string };

/** Reads, validates and freezes a station file. Throws ConfigError naming every bad key path. */
export function loadConfigFile(file: string): LoadedConfig {
  if (!existsSync(file)) throw new StationError('STN_ERR_CONFIG_NOT_FOUND', `no configuration file at ${file}`);
  return parseConfig(readFileSync(file, 'utf8'), path.dirname(path.resolve(file)), file);
}

export function parseConfig(text: string, baseDir: string, file?: string): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new StationError('STN_ERR_CONFIG_PARSE', `${file ?? 'configuration'}: line ${e.linePos?.[0]?.line ?? '?'}: ${e.message}`);
  }
  const lineOf = (segments: string[]): number | undefined => {
    for (let n = segments.length; n > 0; n--) {
      const node = doc.getIn(segments.slice(0, n), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return validateConfig(doc.toJS() ?? {}, baseDir, file, lineOf);
}

/** Validates a plain object (embedded defaults, tests) the same way as a file. */
export function validateConfig(
  input: unknown, baseDir: string, file?: string, lineOf: (segments: string[]) => number | undefined = () => undefined,
): LoadedConfig {
  const value = Value.Default(StationConfig, structuredClone(input)) as Record<string, unknown>;
  // TypeBox does not descend into Record values for defaults: fill each recipe's here.
  const recipes = value?.recipes;
  if (recipes && typeof recipes === 'object') {
    for (const [k, r] of Object.entries(recipes)) (recipes as Record<string, unknown>)[k] = Value.Default(Recipe, r);
  }
  const issues: ConfigIssue[] = [];
  for (const e of Value.Errors(StationConfig, value)) {
    const segments = e.path.split('/').slice(1).map(unescapePointer);
    if (e.type === ValueErrorType.ObjectAdditionalProperties) {
      // TypeBox points at the unknown key itself: report it at its parent, by name.
      const key = segments[segments.length - 1];
      const known = Object.keys((e.schema as { properties?: object }).properties ?? {});
      issues.push({ path: segments.slice(0, -1).join('.'), message: `unknown key "${key}" (known: ${known.join(', ')})`, line: lineOf(segments) });
      continue;
    }
    issues.push({ path: segments.join('.'), message: e.message, line: lineOf(segments) });
    if (issues.length >= 20) break;
  }
  if (issues.length === 0) {
    const cfg = value as StationConfig;
    cfg.sources.forEach((s, i) => {
      if (!Object.hasOwn(cfg.recipes, s.recipe)) {
        issues.push({ path: `sources.${i}.recipe`, message: `no recipe named "${s.recipe}" (known: ${Object.keys(cfg.recipes).join(', ')})`, line: lineOf(['sources', String(i), 'recipe']) });
      }
    });
    const names = new Set<string>();
    cfg.sources.forEach((s, i) => {
      if (names.has(s.name)) issues.push({ path: `sources.${i}.name`, message: `duplicate source name "${s.name}"`, line: lineOf(['sources', String(i), 'name']) });
      names.add(s.name);
    });
  }
  if (issues.length > 0) throw new ConfigError(dedupe(issues), file);
  return deepFreeze({ ...(value as StationConfig), baseDir });
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Resolves a path from the configuration against the configuration file's folder. */
export function resolveFromConfig(cfg: LoadedConfig, p: string): string {
  return path.resolve(cfg.baseDir, p);
}
