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
}
