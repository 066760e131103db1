import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { InspectionResult } from '../src/line/index.js';
import type { Station } from '../src/main.js';
import { ROOT, station as cli } from './helpers/cli.js';
import { observer, startTestStation } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

/** The camera peers are Debian packages (.ci/run installs them); without them these tests skip, saying why. */
function have(cmd: string, args: string[] = ['--version']): boolean {
  const ok = spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  if (!ok)
    console.warn(
      `camera tests skipped: ${cmd} is missing (apt-get install ffmpeg aravis-tools aravis-tools-cli gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gir1.2-gst-rtsp-server-1.0 python3-gi)`,
    );
  return ok;
}
const haveFfmpeg = have('ffmpeg', ['-version']);
const haveRtspServer =
  haveFfmpeg && have('/usr/bin/python3', ['-c', 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer']);
const haveGige = have('arv-fake-gv-camera-0.8', ['--help']) && have('gst-inspect-1.0', ['aravissrc']) && have('unshare', ['-n', 'true']);

let running: Station | null = null;
const children: ChildProcess[] = [];
afterEach(async () => {
  await running?.stop();
  running = null;
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** A test-pattern video file, made by ffmpeg. */
function testVideo(seconds: number): string {
  const file = path.join(tmpDir(), 'pattern.mkv');
  execFileSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=25',
    '-t',
    String(seconds),
    '-pix_fmt',
    'yuv420p',
    '-y',
    file,
  ]);
  return file;
}

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** GStreamer's RTSP server as the camera, in its own process so it can be killed for real. */
async function rtspCamera(port: number): Promise<ChildProcess> {
  const child = spawn('/usr/bin/python3', [path.join(ROOT, 'test/helpers/rtsp-server.py'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`RTSP server exited with ${code}`)));
  });
  return child;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!haveFfmpeg)('ffmpeg camera sources', () => {
  it('station probe reads a video file through ffmpeg: frames, size, pixel format and frame rate', async () => {
    const video = testVideo(3);
    const r = await cli(['probe', `file:${video}`, '--frames', '20', '--json']);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.lines.at(-1)!);
    expect(p).toMatchObject({ frames: 20, width: 320, height: 240, pixelFormat: 'Mono8' });
    expect(p.fps).toBeGreaterThan(0);
    const rgb = JSON.parse((await cli(['probe', `file:${video}#format=RGB8&width=160&height=120&realtime=0`, '--frames', '5', '--json'])).lines.at(-1)!);
    expect(rgb).toMatchObject({ frames: 5, width: 160, height: 120, pixelFormat: 'RGB8' });
  });

  it('refuses a camera that is not there with a clear error, and an unknown parameter as a bad URI', async () => {
    const missing = await cli(['probe', 'file:/nonexistent/video.mkv', '--frames', '1', '--json', '--timeout-s', '5']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('STN_ERR_SOURCE_FAILED');
    const bad = await cli(['probe', 'file:x.mkv#fsp=3', '--json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('STN_ERR_SOURCE_URI');
  });

  it('free-run: every frame the line inspects is recorded; the ones it had no time for are counted as skipped', async () => {
    const video = testVideo(2);
    running = await startTestStation({ sources: [{ name: 'cam', uri: `file:${video}` }], recipe: { keepGood: 1 } });
    await running.line.whenIdle();
    await running.recorder.flush();
    const cam = running.line.cameras.get('cam')!;
    expect(cam).toMatchObject({ state: 'ended', frames: 50, width: 320, height: 240 });
    const recorded = await running.db.inspection.count({ where: { source: 'cam' } });
    expect(recorded).toBeGreaterThan(0);
    expect(recorded + cam.skipped).toBe(cam.frames);
    expect(await running.db.inspection.count({ where: { verdict: 'uninspected' } })).toBe(0);
  });
});

describe.skipIf(!haveRtspServer)('an RTSP camera killed mid-stream', () => {
  it('triggered parts while it is down are counted fail-safe rejects, health degrades, and the station recovers by itself', async () => {
    const port = await freePort();
    let camera = await rtspCamera(port);
    const results = new Map<number, InspectionResult>();
    running = await startTestStation({
      sources: [{ name: 'cam', uri: `rtsp://127.0.0.1:${port}/line#trigger=plc&stallS=1&frameTimeoutMs=400` }],
      onResult: (r) => results.set(r.seq, r),
    });
    const s = running;
    const health = async () => (await s.api!.inject({ method: 'GET', url: '/api/health', headers: await observer(s) })).json();
    await until('the camera to stream', () => s.line.cameras.get('cam')?.state === 'streaming');
    let seq = 0;
    const parts = async (n: number) => {
      const first = seq + 1;
      for (let i = 0; i < n; i++) {
        s.line.trigger(++seq, Date.now());
        await sleep(150);
      }
      await until(`results for parts ${first}–${seq}`, () => results.has(seq));
      return Array.from({ length: n }, (_, i) => results.get(first + i)!);
    };

    const before = await parts(8);
    expect(before.every((r) => r.verdict !== 'uninspected')).toBe(true);

    camera.kill('SIGKILL');
    await until('health to degrade', async () => (await health()).status === 'degraded');
    const down = await parts(8);
    expect(down.map((r) => r.errorCode)).toEqual(Array(8).fill('STN_ERR_CAMERA_NO_FRAME'));
    expect(down.every((r) => r.verdict === 'uninspected')).toBe(true);

    camera = await rtspCamera(port);
    await until('the camera to stream again', () => s.line.cameras.get('cam')?.state === 'streaming', 30_000);
    const after = await parts(8);
    expect(after.every((r) => r.verdict !== 'uninspected')).toBe(true);
    expect((await health()).status).toBe('ok');

    // Every part has exactly one verdict; the missed ones are counted.
    expect([...results.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(s.line.cameras.get('cam')).toMatchObject({ missed: 8 });
    expect(s.line.cameras.get('cam')!.restarts).toBeGreaterThanOrEqual(1);
    expect(s.line.summary().verdicts.uninspected).toBe(8);
  }, 120_000);
});

describe.skipIf(!haveGige)('a GigE Vision camera (the Aravis fake camera, in a private network namespace)', () => {
  it('station probe gets 50 frames from it, and the demo with it as its camera records inspections', async () => {
    const data = path.join(tmpDir(), 'data');
    const node = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(path.join(ROOT, 'src/cli/index.ts'))}`;
    // The fake camera streams only to a client in a namespace that has nothing but lo.
    const script = [
      'set -e',
      'ip link set lo up',
      'arv-fake-gv-camera-0.8 -i lo >/dev/null 2>&1 & cam=$!',
      'sleep 1',
      `${node} probe gige:Aravis-Fake-GV01 --frames 50 --json`,
      `LOG_LEVEL=warn ${node} demo --source gige:Aravis-Fake-GV01 --no-plc --duration 10 --port 0 --data ${JSON.stringify(data)} --json`,
      'kill $cam',
    ].join('\n');
    const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
    const probe = JSON.parse(lines.find((l) => l.startsWith('{"frames"'))!);
    expect(probe).toMatchObject({ frames: 50, width: 512, height: 512, pixelFormat: 'Mono8' });
    const demo = JSON.parse(lines.at(-1)!);
    expect(demo.recorded).toBeGreaterThan(10);
    const db = new Database(path.join(data, 'station.db'), { readonly: true });
    const rows = db.prepare("SELECT COUNT(*) AS n, SUM(verdict = 'uninspected') AS u FROM Inspection WHERE source = 'line'").get() as { n: number; u: number };
    db.close();
    expect(rows.n).toBe(demo.recorded);
    expect(rows.u).toBe(0);
  }, 120_000);
});
