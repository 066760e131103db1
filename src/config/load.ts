import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { StationError } from '../errors/index.js';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Recipe, StationConfig, Thresholds } from './schema.js';

export interface ConfigIssue {
  /** Key path, e.g. `recipes.plate.thresholds.default.minScore`. */
  path: string;
  message: string;
  line?: number;
}

export class ConfigError extends StationError {
  constructor(
    readonly issues: ConfigIssue[],
    readonly file?: string,
  ) {
    super(
      'STN_ERR_CONFIG_INVALID',
      `${file ?? 'configuration'} is invalid:\n` + issues.map((i) => `  ${i.path || '(root)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`).join('\n'),
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
  const { value, lineOf } = parseYaml(text, file);
  return validateConfig(value ?? {}, baseDir, file, lineOf);
}

type LineOf = (segments: string[]) => number | undefined;

/** YAML (or JSON) text → plain value, with the line of any key path for error messages. */
function parseYaml(text: string, file?: string): { value: unknown; lineOf: LineOf } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new StationError('STN_ERR_CONFIG_PARSE', `${file ?? 'configuration'}: line ${e.linePos?.[0]?.line ?? '?'}: ${e.message}`);
  }
  const lineOf: LineOf = (segments) => {
    for (let n = segments.length; n > 0; n--) {
      const node = doc.getIn(segments.slice(0, n), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { value: doc.toJS(), lineOf };
}

/** Every schema violation of `value` as a key path with its line; unknown keys named at their parent. */
function schemaIssues(schema: TSchema, value: unknown, lineOf: LineOf): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const e of Value.Errors(schema, value)) {
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
  return issues;
}

/** A file of candidate thresholds: `thresholds:` with an optional `recipe:` name. */
export const CandidateFile = Type.Object({ recipe: Type.Optional(Type.String({ minLength: 1 })), thresholds: Thresholds }, { additionalProperties: false });

/**
 * Candidate thresholds for what-if from a file: either `{recipe?, thresholds}` or a whole
 * station file (its recipe `name`, or its only recipe). Validated like a station file.
 */
export function loadCandidateFile(file: string, name?: string): { recipe?: string; thresholds: Thresholds } {
  if (!existsSync(file)) throw new StationError('STN_ERR_CONFIG_NOT_FOUND', `no file at ${file}`);
  const text = readFileSync(file, 'utf8');
  const { value, lineOf } = parseYaml(text, file);
  if (value && typeof value === 'object' && 'recipes' in value) {
    const cfg = parseConfig(text, path.dirname(path.resolve(file)), file);
    const names = Object.keys(cfg.recipes);
    const pick = name ?? (names.length === 1 ? names[0] : undefined);
    if (!pick || !cfg.recipes[pick]) throw new StationError('STN_ERR_WHATIF_RECIPE', `${file} has recipes ${names.join(', ')}: name one with --name`);
    return { recipe: pick, thresholds: cfg.recipes[pick].thresholds };
  }
  const issues = schemaIssues(CandidateFile, value, lineOf);
  if (issues.length) throw new ConfigError(dedupe(issues), file);
  const c = value as Static<typeof CandidateFile>;
  return { recipe: name ?? c.recipe, thresholds: c.thresholds };
}

/** Validates a plain object (embedded defaults, tests) the same way as a file. */
export function validateConfig(input: unknown, baseDir: string, file?: string, lineOf: LineOf = () => undefined): LoadedConfig {
  const value = Value.Default(StationConfig, structuredClone(input)) as Record<string, unknown>;
  // TypeBox does not descend into Record values for defaults: fill each recipe's here.
  const recipes = value?.recipes;
  if (recipes && typeof recipes === 'object') {
    for (const [k, r] of Object.entries(recipes)) (recipes as Record<string, unknown>)[k] = Value.Default(Recipe, r);
  }
  const issues = schemaIssues(StationConfig, value, lineOf);
  if (issues.length === 0) {
    const cfg = value as StationConfig;
    cfg.sources.forEach((s, i) => {
      if (!Object.hasOwn(cfg.recipes, s.recipe)) {
        issues.push({
          path: `sources.${i}.recipe`,
          message: `no recipe named "${s.recipe}" (known: ${Object.keys(cfg.recipes).join(', ')})`,
          line: lineOf(['sources', String(i), 'recipe']),
        });
      }
    });
    const names = new Set<string>();
    cfg.sources.forEach((s, i) => {
      if (names.has(s.name))
        issues.push({ path: `sources.${i}.name`, message: `duplicate source name "${s.name}"`, line: lineOf(['sources', String(i), 'name']) });
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
