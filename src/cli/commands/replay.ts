import type { Command } from 'commander';
import { configOption, listOption, recipeOption, runFolder } from '../offline.js';
import { round, TruthTally } from '../shared.js';

/** `station replay DIR`: one JSON line per image, then a summary line. */
export function register(program: Command): void {
  program
    .command('replay')
    .description('run a folder of images through a recipe; one JSON line per image, then a summary')
    .argument('<dir>', 'folder of images (good/ and defect/<class>/ give ground truth)')
    .option('--model <file>', "use this model instead of the recipe's")
    .addOption(recipeOption())
    .addOption(configOption())
    .addOption(listOption())
    .option('--json', 'JSON lines only (default)')
    .action(async (dir: string, o) => {
      const { processingMs } = await import('../../line/index.js');
      const counts = { images: 0, pass: 0, fail: 0, uninspected: 0 };
      const truth = new TruthTally();
      await runFolder(dir, o, (r) => {
        counts.images++;
        counts[r.verdict]++;
        truth.add(r);
        const rejecting = r.defects.filter((d) => d.rejecting);
        process.stdout.write(
          JSON.stringify({
            file: r.file,
            verdict: r.verdict,
            defects: rejecting.map((d) => ({
              class: d.class,
              score: round(d.score, 4),
              ...(d.box ? { box: d.box.map((v) => round(v, 1)) } : {}),
              ...(d.area !== undefined ? { area: Math.round(d.area) } : {}),
            })),
            latencyMs: round(processingMs(r.timings), 2),
            ...(r.errorCode ? { errorCode: r.errorCode } : {}),
            // Why a part failed (classes, counts, a code not read), and the code read when the recipe reads one.
            reasons: r.reasons.map((x) => x.rule),
            ...(r.timings.code !== undefined ? { code: r.code ?? null } : {}),
          }) + '\n',
        );
      });
      process.stdout.write(JSON.stringify({ ...counts, ...truth.summary() }) + '\n');
    });
}
