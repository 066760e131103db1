/**
 * A private Mosquitto broker for a test (Debian's mosquitto; `.ci/run` installs it), on a free
 * loopback port, that the test can kill and start again on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll } from 'vitest';
import { tmpDir } from './tmp.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const haveMosquitto = existsSync(MOSQUITTO);
if (!haveMosquitto) console.warn(`MQTT tests skipped: ${MOSQUITTO} is missing (apt-get install mosquitto; .ci/run does)`);

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const c of running) c.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on ${port}`);
}

export async function startMosquitto() {
  const port = await freePort();
  const conf = path.join(tmpDir('mosquitto-', true), 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
    running.add(child);
    await listening(port);
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    /** SIGKILL: the broker is gone at once, as on a power cut. */
    kill: async () => {
      const c = child!;
      running.delete(c);
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
    start,
    stop: () => {
      if (child) {
        running.delete(child);
        child.kill('SIGTERM');
      }
    },
  };
}
