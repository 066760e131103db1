import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { manifestPathFor, type Manifest } from '../inference/index.js';
import type { EvalReport } from './evaluate.js';

/** Raw HTML in a card is shown as text, and links are limited to safe schemes (markdown-it's defaults). */
const md = new MarkdownIt({ html: false, linkify: true });

export interface ModelDocs {
  name: string;
  version: string;
  family: string;
  sha256: string;
  labels: string[];
  card: { markdown: string; html: string } | null;
  /** Saved evaluations; `current` is false when a report was made for another build of the model. */
  reports: (EvalReport & { file: string; current: boolean })[];
  /** Files the manifest names that could not be read, with why. */
  problems: string[];
}

/**
 * What a quality engineer reads about a model: its card and its saved evaluations, from the
 * files its manifest names beside it. Names that leave the model's folder are refused; a
 * missing or unreadable file is reported, never fatal (the line does not depend on these).
 */
export function modelDocs(modelFile: string, manifest: Manifest): ModelDocs {
  const dir = path.dirname(manifestPathFor(modelFile));
  const problems: string[] = [];
  const read = (name: string): string | null => {
    if (path.basename(name) !== name) {
      problems.push(`${name}: must be a file name beside the manifest`);
      return null;
    }
    const file = path.join(dir, name);
    if (!existsSync(file)) {
      problems.push(`${name}: missing`);
      return null;
    }
    return readFileSync(file, 'utf8');
  };
  const cardText = manifest.card ? read(manifest.card) : null;
  const reports: ModelDocs['reports'] = [];
  for (const name of manifest.reports ?? []) {
    const text = read(name);
    if (text === null) continue;
    try {
      const r = JSON.parse(text) as EvalReport;
      if (r.kind !== 'station-eval' || !r.summary || !r.model) throw new Error('not a station eval report');
      reports.push({ ...r, file: name, current: r.model.sha256 === manifest.sha256 });
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }
  return {
    name: manifest.name,
    version: manifest.version,
    family: manifest.family,
    sha256: manifest.sha256,
    labels: manifest.labels,
    card: cardText === null ? null : { markdown: cardText, html: md.render(cardText) },
    reports,
    problems,
  };
}
