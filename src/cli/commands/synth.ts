import path from 'node:path';
import type { Command } from 'commander';
import { int, num } from '../shared.js';

/** `station synth DIR`: a labelled folder of synthetic parts. */
export function register(program: Command): void {
  program
    .command('synth')
    .description('write synthetic parts as a labelled folder (good/, defect/<class>/, masks/, labels.jsonl)')
    .argument('<dir>', 'output folder')
    .option('--count <n>', 'parts', int('count', 1), 1000)
    .option('--seed <n>', 'seed', int('seed'), 11)
    .option('--start <n>', 'first part index (held-out sets use a disjoint range)', int('start'), 0)
    .option('--defect-rate <p>', 'fraction of defective parts', num('defect-rate'), 0.5)
    .action(async (dir: string, o) => {
      const { writeSyntheticDataset } = await import('../../capture/index.js');
      const r = await writeSyntheticDataset(path.resolve(dir), {
        count: o.count,
        seed: o.seed,
        start: o.start,
        defectRate: o.defectRate,
        onProgress: (d, t) => {
          if (d % 100 === 0 || d === t) process.stderr.write(`\r${d}/${t}`);
        },
      });
      process.stderr.write('\n');
      process.stdout.write(JSON.stringify({ dir: path.resolve(dir), ...r }) + '\n');
    });
}
