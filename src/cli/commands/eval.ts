import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { EvalReport } from '../../eval/evaluate.js';
import type { InspectionResult } from '../../line/index.js';
import { configOption, listOption, recipeOption, runFolder } from '../offline.js';

/** `station eval DIR --model FILE`: how good a model is on a labelled folder. */
export function register(program: Command): void {
  program
    .command('eval')
    .description("how good a model is on a labelled folder (good/, defect/<class>/, masks/<class>/), with the station's own pipeline")
    .argument('<dir>', 'labelled folder')
    .requiredOption('--model <file>', 'the ONNX model')
    .addOption(recipeOption())
    .addOption(configOption())
    .addOption(listOption())
    .option('--json', 'only the summary line on stdout')
    .option('--plot <file.png>', 'write ROC and precision–recall curves')
    .option(
      '--report <file.json>',
      'save the whole evaluation (summary, curves, cost of each threshold) for the gallery; list it in the model manifest\'s "reports"',
    )
    .option('--dataset-description <text>', 'what the folder is, for the report (e.g. "magnetic tile, 20 % validation split")')
    .action(async (dir: string, o) => {
      const [{ Presets, SingleBar }, { evaluate, plotCurves }, { readFixtureList }, { StationError }, { loadModel }] = await Promise.all([
        import('cli-progress'),
        import('../../eval/evaluate.js'),
        import('../../capture/index.js'),
        import('../../errors/index.js'),
        import('../../inference/index.js'),
      ]);
      if (o.list && !existsSync(o.list)) throw new StationError('STN_ERR_SOURCE_FAILED', `cannot read the list ${o.list}: no such file`);
      const total = o.list ? readFixtureList(readFileSync(path.resolve(o.list), 'utf8')).length : countImages(path.resolve(dir));
      const bar = new SingleBar(
        { format: 'eval [{bar}] {value}/{total} images  {eta}s', stream: process.stderr, hideCursor: true, noTTYOutput: false, notTTYSchedule: 5000 },
        Presets.legacy,
      );
      bar.start(total, 0);
      const results: InspectionResult[] = [];
      await runFolder(dir, o, (r) => {
        results.push({ ...r, image: undefined });
        bar.increment();
      });
      bar.stop();
      const { summary, curves: c, points, classCounts } = await evaluate(path.resolve(dir), results);
      if (o.report) {
        const model = loadModel(path.resolve(o.model));
        const defective = Object.values(classCounts).reduce((a, b) => a + b, 0);
        const report: EvalReport = {
          kind: 'station-eval',
          createdAt: new Date().toISOString(),
          model: { name: model.manifest.name, sha256: model.manifest.sha256 },
          dataset: {
            name: path.basename(path.resolve(dir)),
            ...(o.datasetDescription ? { description: o.datasetDescription } : {}),
            good: summary.images - defective,
            defective,
            classes: classCounts,
          },
          summary,
          curves: c,
          operatingPoints: points,
        };
        writeFileSync(path.resolve(o.report), JSON.stringify(report) + '\n');
        process.stderr.write(`report written to ${o.report}\n`);
      }
      if (o.plot) {
        writeFileSync(path.resolve(o.plot), await plotCurves(c, summary, `${path.basename(o.model)} on ${path.basename(path.resolve(dir))}`));
        process.stderr.write(`curves written to ${o.plot}\n`);
      }
      if (!o.json) process.stderr.write(`${JSON.stringify(summary, null, 2)}\n`);
      process.stdout.write(JSON.stringify(summary) + '\n');
    });
}

function countImages(dir: string): number {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.(png|jpe?g|bmp|tiff?|webp)$/i.test(f) && !f.split(path.sep).includes('masks'))
    .length;
}
