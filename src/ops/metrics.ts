/**
 * Prometheus metrics (prom-client). Per-part figures are observed as results arrive on the main
 * thread (no per-frame work in the line worker); counters kept elsewhere (recorder, PLC link,
 * retention, cameras) are read when Prometheus scrapes, so nothing is counted twice.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InspectionResult, LineState } from '../line/index.js';

export interface MetricSources {
  line: () => {
    state: LineState;
    restarts: number;
    inFlight: number;
    partsPerS: number;
    cameras: Record<string, { state: string; frames: number; skipped: number; stalls: number; restarts: number; missed: number }>;
  };
  recorder: () => { queueDepth: number; spoolDepth: number; databaseDown: boolean; counters: Record<string, number> };
  plc: () => { state: string; counters: Record<string, number> } | null;
  disk: () => Promise<{ freeBytes: number; totalBytes: number; imageBytes: number } | null>;
  retention: () => Record<string, number>;
  config: () => Record<string, number>;
  mqtt: () => { connected: boolean; counters: Record<string, number> } | null;
}

const LINE_STATES: LineState[] = ['starting', 'running', 'restarting', 'failed', 'stopped'];
const STAGES = ['queue', 'preprocess', 'inference', 'decode', 'decision', 'total'] as const;

/** A counter whose value is kept elsewhere: at each scrape it is moved up to that value. */
function mirrored(registry: Registry, name: string, help: string, labelNames: string[], read: () => Record<string, number> | null, label?: string) {
  const seen = new Map<string, number>();
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      const values = read();
      if (!values) return;
      for (const [k, v] of Object.entries(values)) {
        const prev = seen.get(k) ?? 0;
        if (v > prev) {
          if (label) this.inc({ [label]: k }, v - prev);
          else this.inc(v - prev);
          seen.set(k, v);
        }
      }
    },
  });
}

export class StationMetrics {
  readonly registry = new Registry();
  private readonly parts: Counter;
  private readonly uninspected: Counter;
  private readonly rejects: Counter;
  private readonly stage: Histogram;
  private readonly late: Counter;

  constructor(station: string, src: MetricSources) {
    const r = this.registry;
    r.setDefaultLabels({ station });
    collectDefaultMetrics({ register: r, prefix: 'station_' });
    this.parts = new Counter({
      name: 'station_parts_total',
      help: 'Parts decided, by verdict, recipe and source',
      labelNames: ['verdict', 'recipe', 'source'],
      registers: [r],
    });
    this.uninspected = new Counter({
      name: 'station_uninspected_total',
      help: 'Parts that could not be inspected (fail-safe rejects), by error code',
      labelNames: ['code'],
      registers: [r],
    });
    this.rejects = new Counter({
      name: 'station_reject_reasons_total',
      help: 'Rules that failed parts, by rule and class',
      labelNames: ['rule', 'class'],
      registers: [r],
    });
    this.late = new Counter({ name: 'station_late_verdicts_total', help: 'Verdicts ready after the part deadline (STN_ERR_LINE_DEADLINE)', registers: [r] });
    this.stage = new Histogram({
      name: 'station_stage_seconds',
      help: 'Per-stage latency of inspected parts (queue: trigger to start; total: trigger to verdict)',
      labelNames: ['stage'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2],
      registers: [r],
    });
    new Gauge({
      name: 'station_parts_per_second',
      help: 'Parts decided per second over the last 10 s',
      registers: [r],
      collect() {
        this.set(src.line().partsPerS);
      },
    });
    new Gauge({
      name: 'station_line_state',
      help: "The line worker's supervision state (1 for the current one)",
      labelNames: ['state'],
      registers: [r],
      collect() {
        const s = src.line().state;
        for (const x of LINE_STATES) this.set({ state: x }, x === s ? 1 : 0);
      },
    });
    mirrored(r, 'station_line_restarts_total', 'Line worker restarts by the watchdog', [], () => ({ _: src.line().restarts }));
    new Gauge({
      name: 'station_line_in_flight',
      help: 'Parts accepted by the line and not yet decided',
      registers: [r],
      collect() {
        this.set(src.line().inFlight);
      },
    });
    new Gauge({
      name: 'station_queue_depth',
      help: 'Items waiting, by queue',
      labelNames: ['queue'],
      registers: [r],
      collect() {
        const rec = src.recorder();
        this.set({ queue: 'recorder' }, rec.queueDepth);
        this.set({ queue: 'spool' }, rec.spoolDepth);
      },
    });
    new Gauge({
      name: 'station_database_up',
      help: '0 while database writes fail and records wait in the spool',
      registers: [r],
      collect() {
        this.set(src.recorder().databaseDown ? 0 : 1);
      },
    });
    mirrored(
      r,
      'station_records_total',
      'Recorder outcomes: recorded, spooled, replayed, imagesShed, imageErrors, diskFull, writeErrors, dropped',
      ['outcome'],
      () => src.recorder().counters,
      'outcome',
    );
    new Gauge({
      name: 'station_plc_link_up',
      help: 'PLC link Ready (1), down (0); absent without a PLC',
      registers: [r],
      collect() {
        const p = src.plc();
        if (p) this.set(p.state === 'ready' ? 1 : 0);
      },
    });
    mirrored(
      r,
      'station_plc_total',
      'PLC link events: triggers, written, late, notConnected, writeErrors, connects, …',
      ['event'],
      () => src.plc()?.counters ?? null,
      'event',
    );
    new Gauge({
      name: 'station_disk_bytes',
      help: 'Image disk: free, total, and bytes held by stored images',
      labelNames: ['kind'],
      registers: [r],
      async collect() {
        const d = await src.disk();
        if (!d) return;
        this.set({ kind: 'free' }, d.freeBytes);
        this.set({ kind: 'total' }, d.totalBytes);
        this.set({ kind: 'images' }, d.imageBytes);
      },
    });
    mirrored(
      r,
      'station_retention_total',
      'Retention: sweeps, inspectionsPurged (images deleted), recordsDeleted (past recordsDays), monthsDropped (PostgreSQL), bytesFreed, errors',
      ['event'],
      () => src.retention(),
      'event',
    );
    mirrored(r, 'station_config_reloads_total', 'Configuration reloads: applied, refused, modelSwapFailed', ['result'], () => src.config(), 'result');
    new Gauge({
      name: 'station_mqtt_up',
      help: 'MQTT broker connected (1) or not (0); absent without MQTT',
      registers: [r],
      collect() {
        const m = src.mqtt();
        if (m) this.set(m.connected ? 1 : 0);
      },
    });
    mirrored(
      r,
      'station_mqtt_total',
      'MQTT messages: published, dropped (buffer full while the broker was away), errors; connects',
      ['event'],
      () => src.mqtt()?.counters ?? null,
      'event',
    );
    new Gauge({
      name: 'station_camera',
      help: 'Camera counters: frames, skipped, stalls, restarts, missed; up (1 streaming)',
      labelNames: ['source', 'kind'],
      registers: [r],
      collect() {
        for (const [source, c] of Object.entries(src.line().cameras)) {
          this.set({ source, kind: 'up' }, c.state === 'streaming' ? 1 : 0);
          for (const k of ['frames', 'skipped', 'stalls', 'restarts', 'missed'] as const) this.set({ source, kind: k }, c[k]);
        }
      },
    });
  }

  /** One decided part. */
  observe(r: InspectionResult): void {
    this.parts.inc({ verdict: r.verdict, recipe: r.recipe, source: r.source });
    if (r.verdict === 'uninspected') {
      this.uninspected.inc({ code: r.errorCode ?? 'unknown' });
      if (r.errorCode === 'STN_ERR_LINE_DEADLINE') this.late.inc();
      return;
    }
    for (const reason of r.reasons) this.rejects.inc({ rule: reason.rule, class: reason.class ?? '' });
    for (const s of STAGES) this.stage.observe({ stage: s }, r.timings[s] / 1000);
    if (r.timings.code !== undefined) this.stage.observe({ stage: 'code' }, r.timings.code / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
