/**
 * The shift report (issue #20): the hand-over between shifts — what the shift made (parts, yield
 * before and after reviews, per hour), what it rejected (by class, the highest-scoring rejects),
 * what kept the station from deciding (fail-safe rejects by cause) and what was changed (audited
 * changes). As JSON for the gallery's page, and as a printable PDF. Every count is read from the
 * hourly aggregates; the few records it lists are bounded (shiftFacts).
 */
import PDFDocument from 'pdfkit';
import { type PlantClock, wallOf } from '../config/plant.js';
import { type Repository, type ShiftFacts, type ShiftWindow, shiftFacts, shiftWindow } from '../store/index.js';

export interface ShiftReport {
  shift: ShiftWindow;
  timeZone: string;
  station: string | null;
  generatedAt: string;
  /** The shift is still running: its counts are up to now. */
  running: boolean;
  totals: {
    parts: number;
    pass: number;
    fail: number;
    uninspected: number;
    yield: number | null;
    reviewedYield: number | null;
    falseRejects: number;
    escapes: number;
  };
  hours: { start: string; parts: number; yield: number | null }[];
  rejectsByClass: { class: string; count: number; share: number }[];
  facts: ShiftFacts;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** The report of one shift (see shiftWindow for how it is chosen), or null when the clock has no such shift. */
export async function shiftReport(
  repo: Pick<Repository, 'yieldStats' | 'pareto' | 'db'>,
  clock: PlantClock,
  o: { date?: string; name?: string; station?: string },
  now = Date.now(),
): Promise<ShiftReport | null> {
  const w = shiftWindow(clock, o, now);
  if (!w) return null;
  const scope = { station: o.station };
  const hours = await repo.yieldStats('hour', w.from, w.to, scope, clock);
  const t = { parts: 0, pass: 0, fail: 0, uninspected: 0, falseRejects: 0, escapes: 0 };
  for (const h of hours) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += h[k];
  return {
    shift: w,
    timeZone: clock.timeZone,
    station: o.station ?? null,
    generatedAt: new Date(now).toISOString(),
    running: w.from.getTime() <= now && now < w.to.getTime(),
    totals: {
      ...t,
      yield: t.parts ? round4(t.pass / t.parts) : null,
      reviewedYield: t.parts ? round4((t.pass - t.escapes + t.falseRejects) / t.parts) : null,
    },
    hours: hours.map((h) => ({ start: h.start, parts: h.parts, yield: h.yield })),
    rejectsByClass: (await repo.pareto(w.from, w.to, scope)).map((c) => ({ class: c.class, count: c.count, share: c.share })),
    facts: await shiftFacts(repo.db, w.from, w.to, scope),
  };
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)} %`);

/** A time as the plant reads it: `2026-12-03 14:00` in the plant's zone. */
function plantTime(zone: string, iso: string): string {
  const w = wallOf(zone, Date.parse(iso));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${w.y}-${p(w.mo)}-${p(w.d)} ${p(w.h)}:${p(w.mi)}`;
}

/** The report as a printable A4 PDF (one or two pages: it lists no more than its bounded facts). */
export function shiftPdf(rep: ShiftReport): PDFKit.PDFDocument {
  const tz = rep.timeZone;
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: 40, left: 40, right: 40, bottom: 40 },
    info: { Title: `Shift report ${rep.shift.date} ${rep.shift.name}`, Subject: 'what a shift made and what happened', Creator: 'inspection station' },
  });
  const h = (text: string) => doc.moveDown(0.6).font('Helvetica-Bold').fontSize(12).text(text).font('Helvetica').fontSize(10);
  doc.font('Helvetica-Bold').fontSize(18).text(`Shift report: ${rep.shift.date}, ${rep.shift.name} shift`);
  doc
    .font('Helvetica')
    .fontSize(10)
    .text(
      `${plantTime(tz, rep.shift.from.toISOString())} to ${plantTime(tz, rep.shift.to.toISOString())} (${tz})${rep.running ? ' · still running: counts up to now' : ''}`,
    )
    .text(`${rep.station ? `Station ${rep.station}` : 'All stations'} · generated ${plantTime(tz, rep.generatedAt)}`);
  const s = rep.totals;
  h('Production');
  doc.text(`Parts ${s.parts} · pass ${s.pass} · fail ${s.fail} · uninspected (fail-safe rejects) ${s.uninspected}`);
  doc.text(`Yield ${pct(s.yield)} · after reviews ${pct(s.reviewedYield)} (reviewed false rejects ${s.falseRejects}, escapes ${s.escapes})`);
  h('Per hour');
  if (rep.hours.length === 0) doc.text('No parts.');
  for (const x of rep.hours) doc.text(`${plantTime(tz, x.start)}   ${String(x.parts).padStart(7)} parts   yield ${pct(x.yield)}`);
  h('Rejects by class');
  if (rep.rejectsByClass.length === 0) doc.text('None.');
  for (const c of rep.rejectsByClass) doc.text(`${c.class}: ${c.count} findings (${pct(c.share)})`);
  h('Highest-scoring rejects');
  if (rep.facts.topRejects.length === 0) doc.text('None.');
  for (const r of rep.facts.topRejects)
    doc.text(`${plantTime(tz, r.capturedAt)} · ${r.station} · ${r.partId ?? `#${r.partSeq}`} · ${r.class ?? '?'} ${r.maxScore.toFixed(3)} · record ${r.id}`);
  h('Fail-safe rejects by cause');
  if (rep.facts.uninspectedByCode.length === 0) doc.text('None: the station decided every part.');
  for (const c of rep.facts.uninspectedByCode) doc.text(`${c.code}: ${c.parts}`);
  h('Changes during the shift');
  if (rep.facts.changes.length === 0) doc.text('None.');
  for (const c of rep.facts.changes) doc.text(`${plantTime(tz, c.at)} · ${c.actor} · ${c.action} ${c.target}`);
  doc.end();
  return doc;
}
