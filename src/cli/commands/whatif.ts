import path from 'node:path';
import type { Command } from 'commander';
import type { Thresholds } from '../../config/index.js';
import type { WhatIfSummary } from '../../whatif/index.js';
import { int, isoDate, num, resolveDatabase } from '../shared.js';

/** `station whatif --recipe FILE`: what candidate thresholds would have done to the stored inspections. */
export function register(program: Command): void {
  program
    .command('whatif')
    .description('what candidate thresholds would have done to the stored inspections (nothing on the line changes)')
    .option('--recipe <file>', 'candidate thresholds: a YAML/JSON file with `thresholds:` (and `recipe:`), or a station file')
    .option('--name <recipe>', "the stored recipe to replay (default: the file's, or the only one)")
    .option('--from <iso>', 'from this time (ISO 8601)', isoDate('from'))
    .option('--to <iso>', 'up to this time (ISO 8601)', isoDate('to'))
    .option('--station <id>', "only this station's inspections")
    .option('--line <line>', "only the inspections of this line's stations")
    .option('--flips <n>', 'list this many of the newest flipped parts', int('flips'), 20)
    .option('--suggest', 'instead: suggest per-class thresholds from labelled parts (zero escapes, or --recall)')
    .option('--recall <r>', "with --suggest: catch this share of each class's labelled defects instead of all", num('recall', 0.5))
    .option('--json', 'only the summary line on stdout')
    .option('--data <dir>', 'the data folder whose station.db holds the inspections (default: DATABASE_URL, else ./data)')
    .action(async (o) => {
      const [{ StationError }, { loadCandidateFile }, { openDatabase, Repository }, { runSuggest, runWhatIf }] = await Promise.all([
        import('../../errors/index.js'),
        import('../../config/index.js'),
        import('../../store/index.js'),
        import('../../whatif/index.js'),
      ]);
      if (!o.recipe && !o.suggest) throw new StationError('STN_ERR_CONFIG_INVALID', 'give candidate thresholds with --recipe FILE (or --suggest)');
      const candidate = o.recipe ? loadCandidateFile(path.resolve(o.recipe), o.name) : null;
      const database = await openDatabase((await resolveDatabase({ data: o.data })).url);
      try {
        const repo = new Repository(database);
        const stored = (await repo.listRecipes()).map((r) => r.name);
        const recipe = candidate?.recipe ?? o.name ?? (stored.length === 1 ? stored[0] : undefined);
        if (!recipe) throw new StationError('STN_ERR_WHATIF_RECIPE', `name the recipe with --name (stored: ${stored.join(', ') || 'none'})`);
        const q = { recipe, station: o.station, line: o.line, from: o.from, to: o.to };
        if (o.suggest) {
          const current = await repo.getRecipe(recipe);
          if (!current) throw new StationError('STN_ERR_RECIPE_UNKNOWN', `no stored recipe ${recipe}`);
          const s = await runSuggest(repo, {
            ...q,
            current: (current.definition as { thresholds: Thresholds }).thresholds,
            target: o.recall !== undefined ? { recall: o.recall } : { escapes: 0 },
          });
          if (!o.json) {
            for (const c of s.classes)
              process.stderr.write(
                `${c.class.padEnd(16)} ${c.kept ? 'kept' : 'suggested'} ${c.threshold} (now ${c.current})  caught ${c.caught}/${c.defective}  good rejected ${c.goodRejected}${c.unreachable ? `  never seen ${c.unreachable}` : ''}\n`,
              );
            process.stderr.write(
              `replayed on ${s.result.labelled.total} labelled parts: escapes ${s.result.escapesNow} → ${s.result.escapesCandidate}, false rejects ${s.result.falseRejectsNow} → ${s.result.falseRejectsCandidate}\n`,
            );
          }
          process.stdout.write(
            JSON.stringify({ recipe, thresholds: s.thresholds, ...pickSummary(s.result), classes: s.classes.map(({ curve: _c, ...c }) => c), curve: s.curve }) +
              '\n',
          );
          return;
        }
        // A progress bar on stderr (a month is minutes of work); --json keeps stderr quiet.
        const total = await repo.countForWhatIf(q);
        const { Presets, SingleBar } = await import('cli-progress');
        const bar = o.json
          ? null
          : new SingleBar(
              { format: 'what-if [{bar}] {percentage} % {value}/{total} parts  {eta}s left', stream: process.stderr, hideCursor: true, notTTYSchedule: 10_000 },
              Presets.legacy,
            );
        bar?.start(total, 0);
        const r = await runWhatIf(
          repo,
          { ...q, thresholds: candidate!.thresholds, keepFlips: o.flips },
          { onProgress: (done) => bar?.update(Math.min(done, total)) },
        );
        bar?.update(total);
        bar?.stop();
        if (!o.json) {
          process.stderr.write(
            `${r.inspections} inspections of ${recipe}: reject rate ${pctOf(r.rejectRateNow)} → ${pctOf(r.rejectRateCandidate)}, ${r.flips} flip (${r.flipsToFail} pass→fail, ${r.flipsToPass} fail→pass)\n`,
          );
          process.stderr.write(
            `against ${r.labelled.total} labelled parts: escapes ${r.escapesNow} → ${r.escapesCandidate}, false rejects ${r.falseRejectsNow} → ${r.falseRejectsCandidate}  (${r.elapsedMs} ms)\n`,
          );
          for (const f of r.flipped)
            process.stderr.write(`  #${f.id} ${f.capturedAt} ${f.now} → ${f.candidate} (score ${f.maxScore}${f.label ? `, ${f.label}` : ''})\n`);
        }
        process.stdout.write(JSON.stringify({ recipe, ...pickSummary(r), flipped: r.flipped.map((f) => f.id), elapsedMs: r.elapsedMs }) + '\n');
      } finally {
        await database.$disconnect();
      }
    });
}

const pctOf = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)} %`);
function pickSummary(s: WhatIfSummary) {
  const {
    inspections,
    flips,
    rejectRateNow,
    rejectRateCandidate,
    escapesNow,
    escapesCandidate,
    falseRejectsNow,
    falseRejectsCandidate,
    flipsToFail,
    flipsToPass,
    labelled,
  } = s;
  return {
    inspections,
    flips,
    rejectRateNow,
    rejectRateCandidate,
    escapesNow,
    escapesCandidate,
    falseRejectsNow,
    falseRejectsCandidate,
    flipsToFail,
    flipsToPass,
    labelled,
  };
}
