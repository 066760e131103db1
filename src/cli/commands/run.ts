import path from 'node:path';
import type { Command } from 'commander';
import { createLogger, resolveDatabase, untilStopped } from '../shared.js';

/** `station run --config FILE`: the station for a real line. */
export function register(program: Command): void {
  program
    .command('run')
    .description('the station for a real line, from a configuration file')
    .requiredOption('--config <file>', 'station YAML file')
    .action(async (o) => {
      const [{ loadConfigFile }, { startStation }] = await Promise.all([import('../../config/index.js'), import('../../main.js')]);
      const log = createLogger();
      const config = loadConfigFile(o.config);
      const database = await resolveDatabase({ config: o.config });
      const station = await startStation({ config, configFile: path.resolve(o.config), databaseUrl: database.url, log, env: process.env });
      log.info({ url: station.url, sources: config.sources.map((s) => s.name) }, 'station running');
      // SIGHUP re-reads the file (thresholds, models); an invalid file is refused and the running one stays.
      process.on('SIGHUP', () => void station.reload('SIGHUP').catch(() => undefined));
      const ticker = setInterval(() => log.info({ line: station.line.summary(), recorder: station.recorder.counters }, 'status'), 60_000);
      await Promise.race([untilStopped(), station.line.whenIdle()]);
      clearInterval(ticker);
      await station.stop();
      log.info({ line: station.line.summary(), recorder: station.recorder.counters }, 'station stopped');
    });
}
