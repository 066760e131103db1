import { isTimeZone, yearOffsets } from './plant.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { createSource, DirSource } from '../capture/index.js';
import { serializeError, StationError } from '../errors/index.js';
import { loadModel } from '../inference/manifest.js';
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
    const at = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
    throw new StationError('STN_ERR_CONFIG_PARSE', `${file ?? 'configuration'}: line ${at.line}, column ${at.col}: ${e.message}`);
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
    const numbers = new Map<number, string>();
    for (const [name, r] of Object.entries(cfg.recipes)) {
      if (r.number === undefined) continue;
      const other = numbers.get(r.number);
      if (other !== undefined)
        issues.push({
          path: `recipes.${name}.number`,
          message: `recipe number ${r.number} is also recipe "${other}"'s`,
          line: lineOf(['recipes', name, 'number']),
        });
      numbers.set(r.number, name);
    }
    if (cfg.plc?.tags.RecipeSelect !== undefined && numbers.size === 0)
      issues.push({
        path: 'plc.tags.RecipeSelect',
        message: 'RecipeSelect is read, but no recipe has a number for it to select',
        line: lineOf(['plc', 'tags', 'RecipeSelect']),
      });
    issues.push(...sourceIssues(cfg, baseDir, lineOf), ...classIssues(cfg, baseDir, lineOf), ...plantIssues(cfg, lineOf));
  }
  if (issues.length > 0) throw new ConfigError(dedupe(issues), file);
  return deepFreeze({ ...(value as StationConfig), baseDir });
}

/** A zone the runtime knows, with whole-hour offsets (statistics are kept per UTC hour), and distinct shift starts and names. */
function plantIssues(cfg: StationConfig, lineOf: LineOf): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { timeZone, shifts } = cfg.plant;
  const at = (...p: string[]) => ({ path: ['plant', ...p].join('.'), line: lineOf(['plant', ...p]) });
  if (!isTimeZone(timeZone)) issues.push({ ...at('timeZone'), message: `"${timeZone}" is not an IANA time zone (e.g. Europe/Berlin, America/Chicago, UTC)` });
  else {
    const odd = yearOffsets(timeZone).filter((m) => m % 60 !== 0);
    if (odd.length)
      issues.push({
        ...at('timeZone'),
        message: `${timeZone} is ${odd[0] / 60} h from UTC: statistics are kept per UTC hour, so shifts and days can only follow a zone whose offset is whole hours`,
      });
  }
  const starts = new Set<string>();
  const names = new Set<string>();
  shifts.forEach((s, i) => {
    if (starts.has(s.start)) issues.push({ ...at('shifts', String(i), 'start'), message: `two shifts start at ${s.start}` });
    if (names.has(s.name)) issues.push({ ...at('shifts', String(i), 'name'), message: `two shifts are named "${s.name}"` });
    starts.add(s.start);
    names.add(s.name);
  });
  return issues;
}

/**
 * Every source URI parsed as the line will parse it, and every `dir:` folder present: a dead
 * source is refused at start with its key path, not found out when the line is already running.
 */
function sourceIssues(cfg: StationConfig, baseDir: string, lineOf: LineOf): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  cfg.sources.forEach((s, i) => {
    const at = { path: `sources.${i}.uri`, line: lineOf(['sources', String(i), 'uri']) };
    try {
      const source = createSource(s.name, s.uri, { baseDir });
      if (source instanceof DirSource && !isFolder(source.dir)) issues.push({ ...at, message: `${s.uri}: no folder at ${source.dir}` });
    } catch (err) {
      issues.push({ ...at, message: serializeError(err, 'STN_ERR_SOURCE_URI').message });
    }
  });
  return issues;
}

function isFolder(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every class a recipe's thresholds name (`classes`, `goodClasses`) is one of its model's labels:
 * a misspelt class would otherwise start a rule that never matches while the intended one falls
 * back to the default. A model that cannot be read is left to the line, which refuses it.
 */
function classIssues(cfg: StationConfig, baseDir: string, lineOf: LineOf): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const labelsOf = new Map<string, readonly string[] | null>();
  for (const [name, recipe] of Object.entries(cfg.recipes)) {
    const named = [
      ...Object.keys(recipe.thresholds.classes ?? {}).map((c) => ({ c, key: ['recipes', name, 'thresholds', 'classes', c] })),
      ...(recipe.thresholds.goodClasses ?? []).map((c, i) => ({ c, key: ['recipes', name, 'thresholds', 'goodClasses', String(i)] })),
    ];
    if (!named.length) continue;
    const file = path.resolve(baseDir, recipe.model);
    if (!labelsOf.has(file)) labelsOf.set(file, modelLabels(file));
    const labels = labelsOf.get(file);
    if (!labels?.length) continue;
    for (const { c, key } of named) {
      if (!labels.includes(c)) {
        issues.push({
          path: key.join('.'),
          line: lineOf(key),
          message: `the model ${path.basename(file)} has no class "${c}" (its classes: ${labels.join(', ')})`,
        });
      }
    }
  }
  return issues;
}

/** Labels by model file, size and modification time: a reload or a re-inference job does not read a model again. */
const labelCache = new Map<string, readonly string[] | null>();

function modelLabels(file: string): readonly string[] | null {
  let key: string;
  try {
    const st = statSync(file);
    key = `${file}\u0000${st.size}\u0000${st.mtimeMs}`;
  } catch {
    return null;
  }
  const hit = labelCache.get(key);
  if (hit !== undefined) return hit;
  let labels: readonly string[] | null;
  try {
    labels = loadModel(file).manifest.labels;
  } catch {
    labels = null;
  }
  if (labelCache.size > 64) labelCache.clear();
  labelCache.set(key, labels);
  return labels;
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
