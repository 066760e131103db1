import mqtt from 'mqtt';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import type { Station } from '../src/main.js';
import { haveMosquitto, startMosquitto } from './helpers/mosquitto.js';
import { observer, push, startTestStation, userWithRole } from './helpers/station.js';

let running: Station | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

/** A subscriber on the whole tree, collecting messages by topic. */
async function subscriber(url: string) {
  const got: { topic: string; body: Record<string, unknown>; retain: boolean }[] = [];
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 200 });
  c.on('message', (topic, payload, packet) => got.push({ topic, body: JSON.parse(payload.toString()), retain: packet.retain }));
  await c.subscribeAsync('#', { qos: 1 });
  return { got, close: () => c.endAsync(true) };
}

async function parts(n: number) {
  const gen = new PartGenerator({ seed: 12, defectRate: 0.5 });
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      sharp(gen.part(i).image.data, { raw: { width: 512, height: 384, channels: 1 } })
        .png()
        .toBuffer(),
    ),
  );
}
const until = async (what: () => boolean | Promise<boolean>, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe.skipIf(!haveMosquitto)('MQTT Unified Namespace, against a real Mosquitto', () => {
  it('publishes every result and the station state under site/area/line/station, QoS 1, with the documented schema', async () => {
    const broker = await startMosquitto();
    const sub = await subscriber(broker.url);
    running = await startTestStation({
      sources: [{ name: 'push', uri: 'http:' }],
      adminPassword: 'mqtt-admin-password',
      extra: { mqtt: { url: broker.url, topicPrefix: 'acme' }, station: { id: 'press-3', line: 'line 3', area: 'body/shop', site: 'plant-1' } },
    });
    const key = await userWithRole(running, 'integrator');
    await until(() => sub.got.some((m) => m.topic.endsWith('/state')));
    const verdicts: string[] = [];
    for (const png of await parts(5)) verdicts.push((await push(running, key, png)).verdict);
    await until(() => sub.got.filter((m) => m.topic.endsWith('/inspection')).length === 5);
    const msgs = sub.got.filter((m) => m.topic.endsWith('/inspection'));
    // Topic levels are the plant hierarchy; separators inside names are replaced.
    expect(msgs[0].topic).toBe('acme/plant-1/body_shop/line 3/press-3/inspection');
    expect(msgs.map((m) => m.body.verdict)).toEqual(verdicts);
    expect(msgs[0].body).toMatchObject({
      schema: 'inspection-station/inspection/v1',
      station: 'press-3',
      site: 'plant-1',
      area: 'body/shop',
      line: 'line 3',
      source: 'push',
      partSeq: 1,
      recipe: 'plate',
      recipeVersion: 1,
      errorCode: null,
      maxScore: expect.any(Number),
      latencyMs: expect.any(Number),
      capturedAt: expect.any(String),
    });
    const failed = msgs.find((m) => m.body.verdict === 'fail');
    expect(failed?.body.defects).toEqual([expect.objectContaining({ class: expect.any(String), score: expect.any(Number), box: expect.any(Array) })]);
    const state = sub.got.filter((m) => m.topic === 'acme/plant-1/body_shop/line 3/press-3/state').at(-1)!;
    expect(state.body).toMatchObject({ schema: 'inspection-station/state/v1', station: 'press-3', line: 'running' });
    await sub.close();
    // The state is retained: a late subscriber learns it at once.
    const late = await subscriber(broker.url);
    await until(() => late.got.some((m) => m.topic.endsWith('/state') && m.retain));
    await late.close();
    broker.stop();
  });

  it('a broker outage never stalls the line: messages wait in a bounded buffer (the rest counted as dropped) and flow again after the reconnect', async () => {
    const broker = await startMosquitto();
    running = await startTestStation({
      sources: [{ name: 'push', uri: 'http:' }],
      adminPassword: 'mqtt-admin-password',
      extra: { mqtt: { url: broker.url, bufferSize: 3, reconnectMs: 1500 } },
    });
    const s = running;
    const key = await userWithRole(s, 'integrator');
    const images = await parts(12);
    const metrics = async () => (await s.api!.inject({ method: 'GET', url: '/metrics', headers: await observer(s) })).body;
    await until(async () => (await metrics()).includes('station_mqtt_up{station="test-1"} 1'));
    for (const png of images.slice(0, 2)) await push(s, key, png);

    await broker.kill();
    const t0 = Date.now();
    for (const png of images.slice(2, 9)) expect(['pass', 'fail']).toContain((await push(s, key, png)).verdict);
    const whileDown = Date.now() - t0;
    const h = (await s.api!.inject({ method: 'GET', url: '/api/health', headers: await observer(s) })).json();
    expect(h.mqtt).toMatchObject({ connected: false, buffered: 3, dropped: 4 });
    expect(h.problems.join(' ')).toMatch(/MQTT broker unreachable/);
    expect(whileDown).toBeLessThan(7 * 2000); // decided at line speed, not at the broker's

    await broker.start();
    const sub = await subscriber(broker.url);
    await until(() => sub.got.filter((m) => m.topic.endsWith('/inspection')).length >= 3, 20_000);
    for (const png of images.slice(9)) await push(s, key, png);
    const seqs = () => sub.got.filter((m) => m.topic.endsWith('/inspection')).map((m) => m.body.partSeq as number);
    await until(() => seqs().includes(12));
    // The three newest from the outage (7, 8, 9) and the three after it; 3–6 were dropped (counted).
    // A message in flight when the broker died comes again: QoS 1 is at least once.
    expect(seqs().filter((n) => n > 2)).toEqual([7, 8, 9, 10, 11, 12]);
    expect(
      seqs()
        .filter((n) => n <= 2)
        .every((n) => n === 1 || n === 2),
    ).toBe(true);
    const m = await metrics();
    expect(m).toContain('station_mqtt_total{event="dropped",station="test-1"} 4');
    expect(m).toContain('station_mqtt_total{event="connects",station="test-1"} 2');
    await s.recorder.flush();
    expect(await s.repo.countInspections()).toBe(12);
    await sub.close();
    broker.stop();
  }, 60_000);
});
