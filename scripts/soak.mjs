#!/usr/bin/env node
// Soak: the demo (synthetic line, shipped model, line simulator over OPC UA, SQLite, HTTP) at a
// line rate for a long time, sampling the station process's memory and handles from
// /api/health and /proc. Not a CI test: run it by hand, e.g.
//   node scripts/soak.mjs --minutes 30 --rate 10 --warmup 5 > soak-report.md
//   node scripts/soak.mjs --minutes 60 --rate 50 --warmup 5 --arg=--no-plc     (accelerated, issue #18)
//   … --env STATION_ALLOCATOR=glibc                                          (glibc's allocator, for comparison)
// The last stdout line is the report as JSON.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    every: { type: 'string', default: '10' },
    port: { type: 'string', default: '18999' },
    env: { type: 'string', multiple: true, default: [] },
    // more demo options, e.g. --arg=--no-plc (a free-running line: faster than the PLC handshake allows)
    arg: { type: 'string', multiple: true, default: [] },
  },
});
const minutes = Number(o.minutes),
  warmupMin = Number(o.warmup),
  everyS = Number(o.every);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const data = mkdtempSync(path.join(os.tmpdir(), 'station-soak-'));
// bin/station, as a plant starts it: jemalloc preloaded when installed (STATION_ALLOCATOR=glibc: not).
const child = spawn(
  path.join(root, 'bin/station'),
  ['demo', '--rate', o.rate, '--duration', String(minutes * 60), '--json', '--port', o.port, '--data', data, ...o.arg],
  {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      STATION_ADMIN_PASSWORD: 'soak-admin-password',
      ...Object.fromEntries(o.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    },
  },
);
let out = '';
child.stdout.on('data', (d) => (out += d));
child.stderr.on('data', () => undefined);

const samples = [];
const t0 = Date.now();
const vmRss = () => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return null;
  }
};
// Health details (process memory, line counters) need a login: the demo's admin, as a script
// logs in (the session token in the body, sent back as a bearer token).
let token = null;
const logIn = async () => {
  const r = await fetch(`http://127.0.0.1:${o.port}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'soak-admin-password', tokenInBody: true }),
  });
  if (r.ok) token = (await r.json()).token;
};
const timer = setInterval(async () => {
  try {
    if (!token) await logIn();
    const h = await (await fetch(`http://127.0.0.1:${o.port}/api/health`, { headers: { authorization: `Bearer ${token}` } })).json();
    if (!h.process) {
      token = null;
      return;
    }
    samples.push({
      t: (Date.now() - t0) / 1000,
      rss: h.process.rssBytes,
      heap: h.process.heapUsedBytes,
      workerHeap: h.process.workerHeapUsedBytes,
      external: h.process.externalBytes,
      resources: h.process.activeResources,
      vmRss: vmRss(),
      allocator: h.process.allocator,
      parts: h.line.parts,
      p99: h.line.latencyMs.p99,
      status: h.status,
    });
    const s = samples.at(-1);
    process.stderr.write(
      `${(s.t / 60).toFixed(1)} min  parts ${s.parts}  rss ${(s.rss / 2 ** 20).toFixed(1)} MB  heap ${(s.heap / 2 ** 20).toFixed(1)} MB  worker heap ${((s.workerHeap ?? 0) / 2 ** 20).toFixed(1)} MB  external ${((s.external ?? 0) / 2 ** 20).toFixed(1)} MB  resources ${s.resources}  ${s.status}\n`,
    );
  } catch {
    /* not up yet */
  }
}, everyS * 1000);

const code = await new Promise((resolve) => child.on('close', resolve));
clearInterval(timer);
const du = (dir) => {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += statSync(path.join(e.parentPath, e.name)).size;
  return total;
};
const diskBytes = du(data);
rmSync(data, { recursive: true, force: true });

const summary = JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
const after = samples.filter((s) => s.t >= warmupMin * 60);
const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.floor((a.length - 1) / 2)];
};
// Compare the first and the last minute after warm-up (medians, robust to GC timing).
const perMin = 60 / everyS;
const first = after.slice(0, perMin),
  last = after.slice(-perMin);
const change = (k) => (median(last.map((s) => s[k])) - median(first.map((s) => s[k]))) / median(first.map((s) => s[k]));
// Least-squares slope after warm-up, in MB per hour.
const slope = (k) => {
  const n = after.length,
    mx = after.reduce((a, s) => a + s.t, 0) / n,
    my = after.reduce((a, s) => a + s[k], 0) / n;
  const num = after.reduce((a, s) => a + (s.t - mx) * (s[k] - my), 0),
    den = after.reduce((a, s) => a + (s.t - mx) ** 2, 0);
  return ((num / den) * 3600) / 2 ** 20;
};
const mb = (x) => Math.round((x / 2 ** 20) * 10) / 10;
const report = {
  minutes,
  rate: Number(o.rate),
  warmupMinutes: warmupMin,
  exitCode: code,
  parts: summary.parts,
  recorded: summary.recorded,
  verdicts: summary.verdicts,
  latencyMs: summary.latencyMs,
  plc: summary.plc,
  samples: samples.length,
  rssMb: {
    afterWarmup: mb(median(first.map((s) => s.rss))),
    end: mb(median(last.map((s) => s.rss))),
    max: mb(Math.max(...after.map((s) => s.rss))),
    changePct: Math.round(change('rss') * 1000) / 10,
    slopeMbPerHour: Math.round(slope('rss') * 10) / 10,
  },
  heapMb: {
    afterWarmup: mb(median(first.map((s) => s.heap))),
    end: mb(median(last.map((s) => s.heap))),
    changePct: Math.round(change('heap') * 1000) / 10,
    slopeMbPerHour: Math.round(slope('heap') * 10) / 10,
  },
  activeResources: {
    afterWarmup: median(first.map((s) => s.resources)),
    end: median(last.map((s) => s.resources)),
    max: Math.max(...after.map((s) => s.resources)),
  },
  // Resident memory gained per part after warm-up (first minute → last minute), and what a part costs on disk.
  rssBytesPerPart: Math.round(
    (median(last.map((s) => s.rss)) - median(first.map((s) => s.rss))) / (median(last.map((s) => s.parts)) - median(first.map((s) => s.parts))),
  ),
  diskBytesPerPart: summary.recorded ? Math.round(diskBytes / summary.recorded) : null,
  env: o.env,
  args: o.arg,
  allocator: samples.at(-1)?.allocator ?? null,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', node: process.version },
};
// Flat: memory did not grow by more than 5 % after warm-up — neither from the first minute to the
// last (medians) nor along the least-squares line over the whole run (robust to one noisy minute).
const fittedGrowthPct = (k, mbBase) => Math.round(((slope(k) * (after.at(-1).t - after[0].t)) / 3600 / mbBase) * 1000) / 10;
report.rssMb.fittedGrowthPct = fittedGrowthPct('rss', report.rssMb.afterWarmup);
report.heapMb.fittedGrowthPct = fittedGrowthPct('heap', report.heapMb.afterWarmup);
report.flat = report.rssMb.changePct <= 5 && report.rssMb.fittedGrowthPct <= 5;
report.uninspectedShare = summary.parts ? Math.round((summary.verdicts.uninspected / summary.parts) * 1000) / 1000 : null;
process.stdout.write(
  [
    `| minutes | parts | recorded | RSS after warm-up → end (MB) | change | heap after warm-up → end (MB) | change | handles | p99 ms |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    `| ${minutes} | ${report.parts} | ${report.recorded} | ${report.rssMb.afterWarmup} → ${report.rssMb.end} (max ${report.rssMb.max}) | ${report.rssMb.changePct} % | ${report.heapMb.afterWarmup} → ${report.heapMb.end} | ${report.heapMb.changePct} % | ${report.activeResources.afterWarmup} → ${report.activeResources.end} | ${summary.latencyMs?.p99} |`,
    '',
    JSON.stringify(report),
    '',
  ].join('\n'),
);
