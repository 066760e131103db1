import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { resolveDatabase } from '../shared.js';

const FORMATS = ['pdf', 'csv', 'json'] as const;
type Format = (typeof FORMATS)[number];

/** Where a command's image files are: --images, the station file's storage, `<--data>/images`, else ./data/images. */
async function resolveImages(o: { images?: string; config?: string; data?: string }): Promise<string> {
  if (o.images) return path.resolve(o.images);
  if (o.config) {
    const { loadConfigFile } = await import('../../config/index.js');
    const c = loadConfigFile(o.config);
    return path.resolve(c.baseDir, c.storage.imagesDir ?? path.join(c.storage.dataDir, 'images'));
  }
  return path.resolve(o.data ?? 'data', 'images');
}

/**
 * `station report lot LOT`: the lot report (PDF, CSV or JSON) from the station's database, as
 * `GET /api/lots/:lot/report.*` makes it. Loads the store and the report only (never the line or
 * onnxruntime-node), so it runs beside a running station.
 */
export function register(program: Command): void {
  const report = program.command('report').description('reports from the records');
  report
    .command('lot')
    .argument('<lot>', 'the lot, exactly as the PLC wrote it')
    .description(
      "a lot's report: counts, yield, rejects by class, every part with its verdict, reasons, recipe and model versions, reviews, the rejects' thumbnails",
    )
    .option('--out <file>', 'where the report goes (written to FILE.tmp, then renamed; "-": stdout); default lot-LOT.FORMAT here')
    .option('--format <format>', `${FORMATS.join(', ')} (default: from --out's extension, else pdf)`, (v: string) => {
      if (!(FORMATS as readonly string[]).includes(v)) throw new InvalidArgumentError(`one of ${FORMATS.join(', ')}`);
      return v;
    })
    .option('--station <id>', "only this station's records of the lot")
    .option('--config <file>', 'the station file whose database and images to read')
    .option('--data <dir>', 'the data folder whose station.db and images/ to read')
    .option('--images <dir>', "the image folder (default: the station file's, or DIR/images of --data, else ./data/images)")
    .action(async (lot: string, o: { out?: string; format?: Format; station?: string; config?: string; data?: string; images?: string }) => {
      const [
        { StationError },
        { DiskImageStore, Lots, openDatabase },
        { lotCsv, lotJson, lotPdf, lotReport },
        { createWriteStream },
        { rename, rm, stat },
        { pipeline },
      ] = await Promise.all([
        import('../../errors/index.js'),
        import('../../store/index.js'),
        import('../../report/index.js'),
        import('node:fs'),
        import('node:fs/promises'),
        import('node:stream/promises'),
      ]);
      const ext = o.out && o.out !== '-' ? path.extname(o.out).slice(1).toLowerCase() : '';
      const format: Format = o.format ?? ((FORMATS as readonly string[]).includes(ext) ? (ext as Format) : 'pdf');
      const out = o.out === '-' ? null : path.resolve(o.out ?? `lot-${lot.replace(/[^A-Za-z0-9._-]/g, '_')}.${format}`);
      const choice = await resolveDatabase(o);
      const images = new DiskImageStore(await resolveImages(o));
      const started = Date.now();
      const db = await openDatabase(choice.url);
      try {
        const rep = await lotReport(new Lots(db), images, { lot, station: o.station });
        if (!rep)
          throw new StationError(
            'STN_ERR_LOT_NOT_FOUND',
            `no record in ${choice.shown} names lot ${JSON.stringify(lot)}${o.station ? ` at station ${o.station}` : ''}`,
          );
        let failed: Error | null = null;
        const onError = (err: Error) => (failed = err);
        const body = format === 'pdf' ? lotPdf(rep, onError) : format === 'csv' ? lotCsv(rep, onError) : lotJson(rep);
        if (out === null) await pipeline(body, process.stdout, { end: false });
        else {
          const tmp = `${out}.tmp`;
          try {
            await pipeline(body, createWriteStream(tmp));
            if (failed) throw failed;
            await rename(tmp, out);
          } catch (err) {
            await rm(tmp, { force: true });
            throw err;
          }
        }
        if (failed) throw failed;
        const s = rep.summary;
        const line = JSON.stringify({
          lot: s.lot,
          format,
          out: out ?? '-',
          bytes: out ? (await stat(out)).size : null,
          parts: s.parts,
          pass: s.pass,
          fail: s.fail,
          uninspected: s.uninspected,
          yield: s.yield,
          stations: s.stations,
          ms: Date.now() - started,
        });
        process.stderr.write(
          `lot ${s.lot} from ${choice.shown} (${choice.from}): ${s.parts} parts, yield ${(s.yield * 100).toFixed(2)} %, ${format} ${out ?? 'on stdout'}\n`,
        );
        // The summary line goes to stdout unless the report itself does.
        if (out !== null) process.stdout.write(`${line}\n`);
      } finally {
        await db.$disconnect();
      }
    });

  report
    .command('shift')
    .description(
      "a shift's report, the hand-over: parts, yield before and after reviews, per hour, rejects by class, the highest-scoring rejects, fail-safe rejects by cause, the changes made; in the plant's zone (the station file's plant)",
    )
    .option('--date <YYYY-MM-DD>', 'the plant day the shift starts on (default: the latest shift of that name, or the one running)', (v: string) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidArgumentError('a plant day as YYYY-MM-DD');
      return v;
    })
    .option('--shift <name>', "the shift's name (default: the first of the day with --date, else the one running)")
    .option('--station <id>', "only this station's records")
    .option('--out <file>', 'where the report goes (written to FILE.tmp, then renamed; "-": stdout); default shift-DATE-NAME.FORMAT here')
    .option('--format <format>', "pdf or json (default: from --out's extension, else pdf)", (v: string) => {
      if (v !== 'pdf' && v !== 'json') throw new InvalidArgumentError('pdf or json');
      return v;
    })
    .option('--config <file>', 'the station file whose database and plant clock to use')
    .option('--data <dir>', 'the data folder whose station.db to read (the plant clock is then UTC, shifts from 06, 14 and 22 h)')
    .action(async (o: { date?: string; shift?: string; station?: string; out?: string; format?: 'pdf' | 'json'; config?: string; data?: string }) => {
      const [
        { StationError },
        { openDatabase, Repository },
        { shiftPdf, shiftReport },
        { UTC_CLOCK, loadConfigFile },
        { createWriteStream },
        { rename, rm },
        { pipeline },
      ] = await Promise.all([
        import('../../errors/index.js'),
        import('../../store/index.js'),
        import('../../report/index.js'),
        import('../../config/index.js'),
        import('node:fs'),
        import('node:fs/promises'),
        import('node:stream/promises'),
      ]);
      const clock = o.config ? loadConfigFile(o.config).plant : UTC_CLOCK;
      const choice = await resolveDatabase(o);
      const db = await openDatabase(choice.url);
      try {
        const rep = await shiftReport(new Repository(db), clock, { date: o.date, name: o.shift, station: o.station });
        if (!rep)
          throw new StationError(
            'STN_ERR_SHIFT_UNKNOWN',
            `no shift ${JSON.stringify(o.shift)}: the plant's shifts are ${clock.shifts.map((s) => s.name).join(', ')}`,
          );
        const ext = o.out && o.out !== '-' ? path.extname(o.out).slice(1).toLowerCase() : '';
        const format = o.format ?? (ext === 'json' ? 'json' : 'pdf');
        const out = o.out === '-' ? null : path.resolve(o.out ?? `shift-${rep.shift.date}-${rep.shift.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.${format}`);
        const body = () => (format === 'pdf' ? shiftPdf(rep) : [`${JSON.stringify(rep, null, 2)}\n`]);
        if (out === null) await pipeline(body(), process.stdout, { end: false });
        else {
          const tmp = `${out}.tmp`;
          try {
            await pipeline(body(), createWriteStream(tmp));
            await rename(tmp, out);
          } catch (err) {
            await rm(tmp, { force: true });
            throw err;
          }
        }
        const t = rep.totals;
        process.stderr.write(
          `shift ${rep.shift.date} ${rep.shift.name} (${clock.timeZone}) from ${choice.shown}: ${t.parts} parts, yield ${t.yield === null ? '–' : `${(t.yield * 100).toFixed(2)} %`}, ${format} ${out ?? 'on stdout'}\n`,
        );
        if (out !== null)
          process.stdout.write(
            `${JSON.stringify({ shift: rep.shift.name, date: rep.shift.date, from: rep.shift.from, to: rep.shift.to, format, out, parts: t.parts, yield: t.yield })}\n`,
          );
      } finally {
        await db.$disconnect();
      }
    });
}
