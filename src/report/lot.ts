/**
 * The lot report (issue #19, genealogy): what a quality engineer attaches to a certificate of
 * conformance. One summary and every part of the lot, as a PDF, a CSV or a JSON document, each
 * streamed: the parts are read page by page as the output is consumed, never all at once.
 *
 *   Lots.summary ──▶ header, counts, rejects by class, chain heads
 *   Lots.parts   ──▶ one line (PDF) / row (CSV) / element (JSON) per part, page by page
 *   Lots.parts (rejects only) + ImageStore ──▶ the rejects' thumbnails (PDF)
 */
import { Readable, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as csvStringify } from 'csv-stringify';
import PDFDocument from 'pdfkit';
import type { ImageStore, LotPart, LotScope, LotSummary, Lots } from '../store/index.js';

/** A lot ready to be reported: its summary and a way to walk its parts and read their thumbnails. */
export interface LotReport {
  summary: LotSummary;
  generatedAt: Date;
  /** The lot's parts up to the summary's snapshot, a page at a time, oldest first. */
  parts(o?: { rejectsOnly?: boolean }): AsyncIterable<LotPart[]>;
  /** A stored thumbnail's bytes; null when the file is gone. */
  thumb(rel: string): Promise<Buffer | null>;
}

/** The report of `scope`'s lot, or null when no record names it. */
export async function lotReport(lots: Lots, images: Pick<ImageStore, 'open'>, scope: LotScope, now = new Date()): Promise<LotReport | null> {
  const summary = await lots.summary(scope);
  if (!summary) return null;
  return {
    summary,
    generatedAt: now,
    parts: (o) => lots.parts(scope, summary.asOfId, o),
    thumb: async (rel) => {
      const f = await images.open(rel).catch(() => null);
      if (!f) return null;
      const chunks: Buffer[] = [];
      for await (const c of f.stream as AsyncIterable<Buffer>) chunks.push(c);
      return Buffer.concat(chunks);
    },
  };
}

/** A part's reasons in a few words: `scratch 0.93>=0.50`, `3x dent >2`, `uninspected STN_ERR_…`. */
export function reasonsText(reasons: unknown): string {
  if (!Array.isArray(reasons)) return '';
  const f = (x: unknown) => (typeof x === 'number' ? x.toFixed(2) : '?');
  return reasons
    .map((r: { rule?: string; class?: string; score?: number; count?: number; limit?: number; code?: string }) => {
      switch (r.rule) {
        case 'class':
        case 'anomaly':
        case 'classification':
          return `${r.class ?? r.rule} ${f(r.score)}>=${f(r.limit)}`;
        case 'count':
          return `${r.count ?? '?'}x ${r.class ?? ''} >${r.limit ?? '?'}`;
        case 'uninspected':
          return `uninspected ${r.code ?? ''}`.trim();
        default:
          return [r.rule, r.class, r.code].filter(Boolean).join(' ');
      }
    })
    .join('; ');
}

/** The latest review of a part in a few words: `false_reject (alice)`, `escape scratch (bob)`. */
export function reviewText(r: LotPart['review']): string {
  return r ? `${r.label}${r.class ? ` ${r.class}` : ''} (${r.by})` : '';
}

/** Where the API serves a part's thumbnail (clients address images by inspection id only). */
const thumbUrl = (p: LotPart) => (p.thumb ? `/api/inspections/${p.id}/image?variant=thumb` : null);

/** One part as the CSV and JSON reports carry it. */
function partOut(p: LotPart) {
  return {
    id: p.id,
    station: p.station,
    partSeq: p.partSeq,
    serial: p.serial,
    capturedAt: p.capturedAt,
    verdict: p.verdict,
    errorCode: p.errorCode,
    reasons: reasonsText(p.reasons),
    classes: [...new Set(p.defects.map((d) => d.class))],
    maxScore: p.maxScore,
    recipe: p.recipe,
    recipeVersion: p.recipeVersion,
    model: p.model,
    modelSha256: p.modelSha256,
    code: p.code,
    review: p.review,
    thumbnail: thumbUrl(p),
    hash: p.hash,
  };
}

export const LOT_CSV_COLUMNS = [
  'capturedAt',
  'station',
  'id',
  'partSeq',
  'serial',
  'lot',
  'verdict',
  'errorCode',
  'reasons',
  'classes',
  'maxScore',
  'recipe',
  'recipeVersion',
  'model',
  'modelSha256',
  'code',
  'review',
  'reviewClass',
  'reviewedBy',
  'reviewedAt',
  'reviewNote',
  'thumbnail',
  'hash',
];

/**
 * The lot's parts as CSV, one row per part, oldest first. Readable.from waits while the
 * stringifier (and so the socket or file) is full: one page of rows in memory at a time. Cells
 * that start with = + - @ are escaped (no formula when a spreadsheet opens it).
 */
export function lotCsv(rep: LotReport, onError: (err: Error) => void): NodeJS.ReadableStream {
  async function* rows() {
    for await (const page of rep.parts())
      for (const p of page) {
        const o = partOut(p);
        yield [
          o.capturedAt,
          o.station,
          o.id,
          o.partSeq,
          o.serial ?? '',
          rep.summary.lot,
          o.verdict,
          o.errorCode ?? '',
          o.reasons,
          o.classes.join(' '),
          o.maxScore,
          o.recipe,
          o.recipeVersion ?? '',
          o.model ?? '',
          o.modelSha256 ?? '',
          o.code ?? '',
          p.review?.label ?? '',
          p.review?.class ?? '',
          p.review?.by ?? '',
          p.review?.at ?? '',
          p.review?.note ?? '',
          o.thumbnail ?? '',
          o.hash ?? '',
        ];
      }
  }
  const csv = csvStringify({ header: true, columns: LOT_CSV_COLUMNS, escape_formulas: true });
  pipeline(Readable.from(rows()), csv, (err) => {
    if (err) onError(err);
  });
  return csv;
}

/**
 * The report as one JSON document, `{"report":"lot","generatedAt":…,"summary":{…},"parts":[…]}`,
 * written as it is read: the summary first, then the parts page by page (a client that wants
 * them one at a time reads the array with a streaming parser).
 */
export function lotJson(rep: LotReport): Readable {
  async function* chunks() {
    yield `{"report":"lot","generatedAt":${JSON.stringify(rep.generatedAt.toISOString())},"summary":${JSON.stringify(rep.summary)},"parts":[`;
    let first = true;
    for await (const page of rep.parts()) {
      const text = page.map((p) => JSON.stringify(partOut(p))).join(',\n');
      yield (first ? '\n' : ',\n') + text;
      first = false;
    }
    yield '\n]}\n';
  }
  return Readable.from(chunks(), { objectMode: false });
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
/** A capture time as the part lines show it: UTC to the millisecond. */
const timeOf = (iso: string) => iso.replace('T', ' ').replace('Z', '');

// A4 landscape, in points.
const PAGE_W = 841.89;
const PAGE_H = 595.28;
const MARGIN = 36;
const FOOTER = 18;
const ROW = 10;
const PART_FONT = 7;
/** The part lines' columns: title, width. */
const COLUMNS: [string, number][] = [
  ['captured (UTC)', 92],
  ['station', 52],
  ['record', 40],
  ['serial', 122],
  ['verdict', 50],
  ['reasons', 168],
  ['recipe', 66],
  ['model', 78],
  ['review', 102],
];
const THUMB_W = 138;
const THUMB_H = 104;
const CELL_W = 154;
const CELL_H = 128;
/** Bytes pdfkit may hold ahead of the reader before the report waits for it (back-pressure). */
const AHEAD = 1 << 20;

/**
 * The report as a PDF, written to the stream returned as it is read. Pages are flushed as they
 * fill (no page buffering), the parts come page by page, and the writing waits whenever the
 * reader is more than AHEAD bytes behind, so memory stays flat for any lot. Every page carries the
 * lot and its number; pdfkit's built-in Helvetica needs no font file. `onError` hears a failure
 * after the first bytes went out (the stream then ends with that error).
 */
export function lotPdf(rep: LotReport, onError: (err: Error) => void): PDFKit.PDFDocument {
  const s = rep.summary;
  const doc = new PDFDocument({
    size: 'A4',
    layout: 'landscape',
    margins: { top: MARGIN, left: MARGIN, right: MARGIN, bottom: 0 },
    autoFirstPage: false,
    info: { Title: `Lot report ${s.lot}`, Subject: 'inspection records of a lot', Creator: 'inspection station', CreationDate: rep.generatedAt },
  });
  void write(doc, rep).catch((err: Error) => {
    onError(err);
    doc.destroy(err);
  });
  return doc;
}

async function write(doc: PDFKit.PDFDocument, rep: LotReport): Promise<void> {
  const s = rep.summary;
  const bottom = PAGE_H - MARGIN - FOOTER;
  let pageNo = 0;
  const newPage = () => {
    doc.addPage();
    pageNo++;
    doc
      .font('Helvetica')
      .fontSize(7)
      .fillColor('#555555')
      .text(`Lot ${s.lot} · generated ${rep.generatedAt.toISOString()} · page ${pageNo}`, MARGIN, PAGE_H - MARGIN, { lineBreak: false });
    doc.fillColor('black');
    doc.x = MARGIN;
    doc.y = MARGIN;
  };
  /**
   * Waits while the reader is far behind (polled: a 'data' listener would set an unpiped stream
   * flowing and lose bytes); false when the reader is gone, and the report stops.
   */
  const room = async (): Promise<boolean> => {
    while (doc.readableLength > AHEAD && !doc.destroyed) await sleep(5);
    return !doc.destroyed;
  };
  const line = (text: string, size = 9, font = 'Helvetica') => {
    if (doc.y + size * 1.4 > bottom) newPage();
    doc
      .font(font)
      .fontSize(size)
      .text(text, MARGIN, doc.y, { width: PAGE_W - 2 * MARGIN });
  };

  newPage();
  doc.font('Helvetica-Bold').fontSize(16).text(`Lot report: ${s.lot}`, MARGIN, MARGIN);
  doc.moveDown(0.3);
  line(`Station${s.stations.length > 1 ? 's' : ''}: ${s.stations.join(', ')}${s.station ? ' (this station only)' : ''}`);
  line(`Captured: ${timeOf(s.first)} to ${timeOf(s.last)} UTC`);
  line(`Generated: ${rep.generatedAt.toISOString()} · records of the lot up to #${s.asOfId}`);
  doc.moveDown(0.5);
  line(
    `Parts ${s.parts} · pass ${s.pass} · fail ${s.fail} · uninspected ${s.uninspected} · yield ${pct(s.yield)} · yield after reviews ${pct(s.reviewedYield)}`,
    11,
    'Helvetica-Bold',
  );
  line(`Reviewed ${s.reviews.reviewed}: confirmed ${s.reviews.confirmed} · false rejects ${s.reviews.falseRejects} · escapes ${s.reviews.escapes}`);
  line(`Recipes: ${s.recipes.map((r) => `${r.name} v${r.version ?? '?'} (${r.parts})`).join(', ')}`);
  line(`Models: ${s.models.map((m) => `${m.name}${m.sha256 ? ` sha256 ${m.sha256.slice(0, 12)}…` : ''} (${m.parts})`).join(', ')}`);
  // The chain heads anchor the records outside the database: a later copy must still hold them.
  for (const h of s.chainHeads) line(`chain head at report time: station ${h.station}, record #${h.id}, hash ${h.hash}`, 8, 'Courier');
  if (s.chainHeads.length)
    line(`check a later copy of the database: station db verify ${s.chainHeads.map((h) => `--head ${h.id}:${h.hash}`).join(' ')}`, 7, 'Courier');
  doc.moveDown(0.5);
  line('Rejects by class', 11, 'Helvetica-Bold');
  if (s.rejectsByClass.length === 0) line('none');
  for (const c of s.rejectsByClass) line(`${c.class}: ${c.parts} part${c.parts === 1 ? '' : 's'} (${c.findings} finding${c.findings === 1 ? '' : 's'})`);
  if (s.codeRejects.noRead || s.codeRejects.mismatch) {
    line('Rejects by the code read from the part', 11, 'Helvetica-Bold');
    line(`no-read (no code could be read): ${s.codeRejects.noRead}`);
    line(`code-mismatch (the code is not the PLC's serial): ${s.codeRejects.mismatch}`);
  }
  if (s.uninspectedByCode.length) {
    line('Uninspected by cause', 11, 'Helvetica-Bold');
    for (const c of s.uninspectedByCode) line(`${c.code}: ${c.parts}`);
  }

  // Every part, one line each; the column titles again on each new page.
  doc.moveDown(0.5);
  line('Parts (in capture order)', 11, 'Helvetica-Bold');
  const header = () => {
    row(
      COLUMNS.map((c) => c[0]),
      'Helvetica-Bold',
    );
  };
  const row = (cells: string[], font = 'Helvetica') => {
    if (doc.y + ROW > bottom) {
      newPage();
      if (font !== 'Helvetica-Bold') header();
    }
    const y = doc.y;
    let x = MARGIN;
    doc.font(font);
    cells.forEach((text, i) => {
      const w = COLUMNS[i][1] - 4;
      // A cell never wraps: long text is cut, except a serial, which shrinks to fit (it must stay searchable).
      let size = PART_FONT;
      let t = text;
      if (i === 3) while (size > 3 && doc.fontSize(size).widthOfString(t) > w) size -= 0.5;
      else t = cut(doc.fontSize(size), t, w);
      doc.fontSize(size).text(t, x, y + (PART_FONT - size), { lineBreak: false });
      x += COLUMNS[i][1];
    });
    doc.x = MARGIN;
    doc.y = y + ROW;
  };
  header();
  for await (const page of rep.parts()) {
    for (const p of page)
      row([
        timeOf(p.capturedAt),
        p.station,
        `#${p.id}`,
        p.serial ?? `(no serial, #${p.partSeq})`,
        p.verdict,
        reasonsText(p.reasons),
        `${p.recipe} v${p.recipeVersion ?? '?'}`,
        p.model ?? '',
        reviewText(p.review),
      ]);
    if (!(await room())) return;
  }

  // The rejects' thumbnails, a grid per page.
  const rejects = s.fail + s.uninspected;
  if (rejects > 0) {
    newPage();
    doc.font('Helvetica-Bold').fontSize(11).text(`Rejects (${rejects}): thumbnails`, MARGIN, MARGIN);
    let x = MARGIN;
    let y = doc.y + 4;
    for await (const page of rep.parts({ rejectsOnly: true })) {
      for (const p of page) {
        if (x + CELL_W > PAGE_W - MARGIN + 1) {
          x = MARGIN;
          y += CELL_H;
        }
        if (y + CELL_H > bottom) {
          newPage();
          x = MARGIN;
          y = MARGIN;
        }
        const img = p.thumb ? await rep.thumb(p.thumb) : null;
        let drawn = false;
        if (img) {
          try {
            doc.image(img, x, y, { fit: [THUMB_W, THUMB_H], align: 'center', valign: 'center' });
            drawn = true;
          } catch {
            // A damaged file: said so in its cell.
          }
        }
        if (!drawn) {
          doc.rect(x, y, THUMB_W, THUMB_H).fillAndStroke('#eeeeee', '#999999');
          doc
            .fillColor('#555555')
            .font('Helvetica')
            .fontSize(8)
            .text(img ? 'image unreadable' : 'image not kept', x, y + THUMB_H / 2 - 4, { width: THUMB_W, align: 'center', lineBreak: false });
          doc.fillColor('black');
        }
        const why = [...new Set(p.defects.map((d) => d.class))].join(', ') || p.errorCode || reasonsText(p.reasons);
        doc.font('Helvetica').fontSize(6.5);
        doc.text(cut(doc, p.serial ?? `#${p.partSeq}`, THUMB_W), x, y + THUMB_H + 3, { lineBreak: false });
        doc.text(cut(doc, `#${p.id} · ${p.verdict} · ${why}`, THUMB_W), x, y + THUMB_H + 11, { lineBreak: false });
        x += CELL_W;
      }
      if (!(await room())) return;
    }
  }
  doc.end();
}

/** `text` cut with an ellipsis to fit `w` points in the document's current font and size. */
function cut(doc: PDFKit.PDFDocument, text: string, w: number): string {
  if (doc.widthOfString(text) <= w) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (doc.widthOfString(`${text.slice(0, mid)}…`) <= w) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}
