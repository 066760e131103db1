/**
 * What is wrong with the station now, for `GET /api/health`, readiness and the MQTT state topic.
 * Reads the components' live status; keeps only what it needs to notice a counter growing.
 */

export interface HealthInputs {
  line: { state: string; lastFault: string | null; cameras: ReadonlyMap<string, { state: string; lastError?: string | null }> };
  recorder: {
    databaseDown: boolean;
    spoolDepth: number;
    lastDatabaseError: string | null;
    counters: { diskFull: number; imageErrors: number; journalErrors?: number; dropped?: number; quarantined?: number };
  };
  /** Sources that ended with an error (they do not come back by themselves), by name. */
  failedSources: ReadonlyMap<string, { code: string; message: string }>;
  /** The code (or message) of the last image write that failed, as the recorder's error handler saw it. */
  lastImageError: () => string | null;
  retention: { disk: { totalBytes: number; freeBytes: number } | null };
  minFreeBytes: number;
  gate: { state: string; lastError: string | null; ack: { unacknowledged: number } } | null;
  mqtt: { connected: boolean; buffered: number; lastError: string | null } | null;
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'failed';
  /** One sentence per problem; empty when all is well. */
  problems: string[];
}

/** A problem stays listed this long after the counter behind it last grew. */
const RECENT_MS = 60_000;

/** Remembers when a counter last grew. */
class Growth {
  private seen = 0;
  private at = Number.NEGATIVE_INFINITY;
  /** True while `value` grew within the last RECENT_MS. */
  recent(value: number, now: number): boolean {
    if (value > this.seen) {
      this.seen = value;
      this.at = now;
    }
    return now - this.at < RECENT_MS;
  }
}

/** The station's health problems, computed from its components on each call. */
export class StationHealth {
  private readonly diskFull = new Growth();
  private readonly imageErrors = new Growth();
  private readonly journalErrors = new Growth();
  private readonly dropped = new Growth();
  private readonly quarantined = new Growth();
  private readonly unacknowledged = new Growth();
  constructor(
    private readonly s: HealthInputs,
    private readonly now: () => number = Date.now,
  ) {}

  check(): HealthReport {
    const { line, recorder, retention, gate, mqtt } = this.s;
    const now = this.now();
    const p: string[] = [];
    let failed = false;
    if (line.state === 'failed') {
      failed = true;
      p.push(`line failed: ${line.lastFault}`);
    } else if (line.state !== 'running') p.push(`line ${line.state}${line.lastFault ? `: ${line.lastFault}` : ''}`);
    for (const [name, c] of line.cameras) if (c.state === 'reconnecting') p.push(`camera ${name} reconnecting: ${c.lastError ?? ''}`);
    for (const [name, e] of this.s.failedSources) p.push(`frame source ${name} failed: ${e.code}: ${e.message}`);
    if (recorder.databaseDown) p.push(`database writes failing, ${recorder.spoolDepth} records in the spool: ${recorder.lastDatabaseError ?? ''}`);
    const d = retention.disk;
    if (d && d.totalBytes > 0 && d.freeBytes < this.s.minFreeBytes) p.push(`image disk low: ${d.freeBytes} bytes free`);
    if (this.diskFull.recent(recorder.counters.diskFull, now)) p.push('image disk full in the last minute: records kept without images');
    if (this.imageErrors.recent(recorder.counters.imageErrors, now))
      p.push(`recorder: ${recorder.counters.imageErrors} image writes failed (last: ${this.s.lastImageError() ?? 'unknown'})`);
    const c = recorder.counters;
    // Records at risk or lost: verdicts went to the PLC without a durable record behind them.
    if (this.journalErrors.recent(c.journalErrors ?? 0, now))
      p.push(`recorder: ${c.journalErrors} results could not be journaled (a crash now would lose their records)`);
    if (this.dropped.recent(c.dropped ?? 0, now)) p.push(`recorder: ${c.dropped} records lost (neither the database nor the spool took them)`);
    if (this.quarantined.recent(c.quarantined ?? 0, now))
      p.push(`recorder: ${c.quarantined} spool lines could not be replayed and were set aside (quarantine-*.quarantine in the spool folder)`);
    if (gate && gate.state !== 'ready') p.push(`PLC link ${gate.state}: ${gate.lastError ?? ''}`);
    // The acknowledge handshake (tags.ResultAck): the PLC stopped confirming the results it takes.
    if (gate && this.unacknowledged.recent(gate.ack.unacknowledged, now))
      p.push(`PLC: ${gate.ack.unacknowledged} results not acknowledged (ResultAck) within plc.ackTimeoutMs`);
    if (mqtt && !mqtt.connected) p.push(`MQTT broker unreachable, ${mqtt.buffered} messages waiting: ${mqtt.lastError ?? ''}`);
    return { status: failed ? 'failed' : p.length ? 'degraded' : 'ok', problems: p };
  }
}
