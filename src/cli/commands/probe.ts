import type { Command } from 'commander';
import { int, num } from '../shared.js';

/** `station probe SOURCE`: commissioning a camera. */
export function register(program: Command): void {
  program
    .command('probe')
    .description('commissioning: grab frames from a source and report size, pixel format and frame rate')
    .argument('<source>', 'source URI: gige:CAMERA, rtsp://…, v4l2:/dev/video0, file:VIDEO, dir:FOLDER, synthetic:')
    .option('--frames <n>', 'frames to grab', int('frames', 1), 10)
    .option('--timeout-s <s>', 'give up after this long', num('timeout-s', 1), 60)
    .option('--json', 'only the summary line on stdout')
    .action(async (uri: string, o) => {
      const { probeSource } = await import('../probe.js');
      const r = await probeSource(uri, o.frames, o.timeoutS * 1000, (n) => {
        if (!o.json) process.stderr.write(`\r${n}/${o.frames} frames`);
      });
      if (!o.json) process.stderr.write('\n');
      process.stdout.write(JSON.stringify(r) + '\n');
      if (r.frames < o.frames) process.exitCode = 1;
    });
}
