/**
 * Results and station state on the plant's message bus: an MQTT Unified Namespace (mqtt.js).
 *
 *   <prefix>/<site>/<area>/<line>/<station>/inspection   every decided part (QoS 1)
 *   <prefix>/<site>/<area>/<line>/<station>/state        the station's state (QoS 1, retained;
 *                                                        "offline" as its last will)
 *
 * The line never waits for the broker: publishing returns at once. While the broker is away,
 * messages wait in a bounded buffer (the oldest dropped and counted beyond it) and go out when
 * the connection is back; mqtt.js reconnects by itself.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { InspectionResult } from '../line/index.js';

export interface UnsOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  /** Topic segments before the station's own (enterprise, site, area, line; empty ones left out). */
  path: string[];
  station: { id: string; site: string; area: string; line: string };
  qos: 0 | 1;
  /** Messages kept while disconnected; beyond it the oldest are dropped (counted). */
  bufferSize: number;
  reconnectMs: number;
}

export interface UnsCounters {
  published: number;
  /** Dropped because the buffer was full while the broker was away. */
  dropped: number;
  /** Publishes the broker refused or that failed in flight. */
  errors: number;
  connects: number;
}

/** The JSON payload of `…/inspection` messages (schema `inspection-station/inspection/v1`). */
export interface InspectionMessage {
  schema: 'inspection-station/inspection/v1';
  station: string;
  site: string;
  area: string;
  line: string;
  source: string;
  partSeq: number;
  /** The part's serial and lot from the PLC (null when it sends none). */
  partId: string | null;
  lot: string | null;
  /** The code read from the part (null: none read, or its recipe reads none). */
  code: string | null;
  capturedAt: string;
  decidedAt: string;
  verdict: 'pass' | 'fail' | 'uninspected';
  errorCode: string | null;
  recipe: string;
  recipeVersion: number;
  model: string | null;
  maxScore: number;
  /** The findings that rejected the part. */
  defects: { class: string; score: number; box: [number, number, number, number] | null; area: number | null }[];
  latencyMs: number;
}

/** An MQTT topic segment: no separators or wildcards. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is forbidden in MQTT topics; replacing it is the point
const segment = (s: string) => s.replace(/[/+#\u0000]/g, '_');

export class UnsPublisher {
  readonly counters: UnsCounters = { published: 0, dropped: 0, errors: 0, connects: 0 };
  readonly root: string;
  private client: MqttClient | null = null;
  private readonly buffer: { topic: string; payload: string; retain: boolean }[] = [];
  private lastState: string | null = null;
  lastError: string | null = null;

  constructor(private readonly o: UnsOptions) {
    this.root = [...o.path, o.station.id].filter(Boolean).map(segment).join('/');
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const offline = JSON.stringify({ schema: 'inspection-station/state/v1', station: this.o.station.id, state: 'offline', at: null });
    this.client = mqtt.connect(this.o.url, {
      clientId: this.o.clientId,
      username: this.o.username,
      password: this.o.password,
      reconnectPeriod: this.o.reconnectMs,
      connectTimeout: 5000,
      clean: true,
      will: { topic: `${this.root}/state`, payload: Buffer.from(offline), qos: 1, retain: true },
      // Never queue in mqtt.js while offline: this class keeps its own bounded buffer.
      queueQoSZero: false,
    });
    this.client.on('connect', () => {
      this.counters.connects++;
      this.lastError = null;
      this.flush();
    });
    this.client.on('error', (err) => {
      this.lastError = err.message;
    });
  }

  /** One decided part, as an `inspection` message. */
  publishResult(r: InspectionResult): void {
    const s = this.o.station;
    const msg: InspectionMessage = {
      schema: 'inspection-station/inspection/v1',
      station: s.id,
      site: s.site,
      area: s.area,
      line: s.line,
      source: r.source,
      partSeq: r.seq,
      partId: r.partId ?? null,
      lot: r.lot ?? null,
      code: r.code ?? null,
      capturedAt: new Date(r.timestamp).toISOString(),
      decidedAt: new Date(r.decidedAt).toISOString(),
      verdict: r.verdict,
      errorCode: r.errorCode ?? null,
      recipe: r.recipe,
      recipeVersion: r.recipeVersion,
      model: r.modelSha256,
      maxScore: r.maxScore,
      latencyMs: r.timings.total,
      defects: r.defects.filter((d) => d.rejecting).map((d) => ({ class: d.class, score: d.score, box: d.box ?? null, area: d.area ?? null })),
    };
    this.send(`${this.root}/inspection`, JSON.stringify(msg), false);
  }

  /** The station's state (retained), published when it changes. */
  publishState(state: string, details: Record<string, unknown> = {}): void {
    const key = JSON.stringify([state, details]);
    if (key === this.lastState) return;
    this.lastState = key;
    this.send(
      `${this.root}/state`,
      JSON.stringify({ schema: 'inspection-station/state/v1', station: this.o.station.id, state, ...details, at: new Date().toISOString() }),
      true,
    );
  }

  private send(topic: string, payload: string, retain: boolean): void {
    if (!this.client?.connected) {
      // Retained state: only the newest matters.
      if (retain) {
        const i = this.buffer.findIndex((m) => m.retain && m.topic === topic);
        if (i >= 0) this.buffer.splice(i, 1);
      }
      this.buffer.push({ topic, payload, retain });
      while (this.buffer.length > this.o.bufferSize) {
        this.buffer.shift();
        this.counters.dropped++;
      }
      return;
    }
    this.client.publish(topic, payload, { qos: this.o.qos, retain }, (err) => {
      if (err) {
        this.counters.errors++;
        this.lastError = err.message;
      } else this.counters.published++;
    });
  }

  private flush(): void {
    for (const m of this.buffer.splice(0)) this.send(m.topic, m.payload, m.retain);
  }

  get buffered(): number {
    return this.buffer.length;
  }

  /** Publishes `offline` (retained) and disconnects; waits at most a second for the broker. */
  async stop(): Promise<void> {
    const c = this.client;
    if (!c) return;
    this.client = null;
    if (c.connected) {
      const offline = JSON.stringify({ schema: 'inspection-station/state/v1', station: this.o.station.id, state: 'offline', at: new Date().toISOString() });
      const sent = new Promise<void>((resolve) => c.publish(`${this.root}/state`, offline, { qos: 1, retain: true }, () => resolve()));
      await Promise.race([sent, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    // A broker that is gone must not hold the station's shutdown: close without waiting for acks.
    await c.endAsync(true).catch(() => undefined);
  }
}
