import path from 'node:path';
import type { Command } from 'commander';
import type { SerializedError } from '../../errors/index.js';
import { createLogger, resolveDatabase, untilStopped, warnIfGlibcAllocator } from '../shared.js';

/**
 * `station run --config FILE`: the station for a real line.
 *
 * It runs until SIGINT/SIGTERM, or until every source has ended (a finite folder replayed to the
 * end: exit 0). A source that fails has ended too: while others still deliver, the station runs
 * on; once no live source is left and one of them failed, the station stops and exits with
 * code 2 and the source's code — a dead camera is never a normal stop.
 */
export function register(program: Command): void {
  program
    .command('run')
    .description('the station for a real line, from a configuration file')
    .requiredOption('--config <file>', 'station YAML file')
    .action(async (o) => {
      const [{ loadConfigFile }, { startStation }, { StationError }] = await Promise.all([
        import('../../config/index.js'),
        import('../../main.js'),
        import('../../errors/index.js'),
      ]);
      const log = createLogger();
      const config = loadConfigFile(o.config);
      const database = await resolveDatabase({ config: o.config });
      const station = await startStation({ config, configFile: path.resolve(o.config), databaseUrl: database.url, log, env: process.env });
      warnIfGlibcAllocator(log);
      const failed: { source: string; error: SerializedError }[] = [];
      station.line.on('source-error', (source, error) => failed.push({ source, error }));
      log.info({ url: station.url, sources: config.sources.map((s) => s.name) }, 'station running');
      // SIGHUP re-reads the file (thresholds, models); an invalid file is refused and the running one stays.
      process.on('SIGHUP', () => void station.reload('SIGHUP').catch(() => undefined));
      const ticker = setInterval(() => log.info({ line: station.line.summary(), recorder: station.recorder.counters }, 'status'), 60_000);
      const why = await Promise.race([untilStopped(), station.line.whenIdle().then(() => 'sources ended')]);
      clearInterval(ticker);
      await station.stop();
      const facts = { line: station.line.summary(), recorder: station.recorder.counters };
      if (why === 'sources ended' && failed.length) {
        const { source, error } = failed[0];
        log.error({ ...facts, source, code: error.code }, 'station stopped: no live frame source left');
        throw new StationError(error.code, `frame source ${source} failed: ${error.message}`);
      }
      log.info(facts, 'station stopped');
    });
}
