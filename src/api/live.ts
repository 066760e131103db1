import type { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { StationError } from '../errors/index.js';
import type { Line } from '../line/index.js';
import type { Repository } from '../store/index.js';
import { need } from './auth.js';

export interface LiveDeps {
  repo: Pick<Repository, 'listedInspection'>;
  line: Pick<Line, 'counters'>;
  live: EventEmitter<{ inspection: [number] }>;
  /** Open streams one user may hold (each holds a socket, a timer and a listener). */
  streamsPerUser: number;
}

/** Live mode: each recorded inspection and the line's counters, as server-sent events. */
export async function liveRoutes(app: FastifyInstance, deps: LiveDeps): Promise<void> {
  const open = new Map<number, number>();
  app.get(
    '/api/live',
    {
      onRequest: need('viewer'),
      schema: {
        description: `Server-sent events: \`inspection\` (as in the listing) and \`counters\` every second. At most ${deps.streamsPerUser} open streams per user (429 STN_ERR_HTTP_LIVE_LIMIT).`,
      },
    },
    (req, reply) => {
      const user = req.principal!.userId;
      const n = open.get(user) ?? 0;
      if (n >= deps.streamsPerUser) throw new StationError('STN_ERR_HTTP_LIVE_LIMIT', `${req.principal!.username} has ${n} live streams open`);
      open.set(user, n + 1);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
      const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      // A database hiccup while a gallery watches live: that card is skipped, never an unhandled rejection.
      const onInspection = (id: number) => {
        deps.repo.listedInspection(id).then(
          (row) => {
            if (row) send('inspection', row);
          },
          () => undefined,
        );
      };
      deps.live.on('inspection', onInspection);
      const timer = setInterval(() => send('counters', deps.line.counters), 1000);
      send('counters', deps.line.counters);
      req.raw.on('close', () => {
        clearInterval(timer);
        deps.live.off('inspection', onInspection);
        const left = (open.get(user) ?? 1) - 1;
        if (left > 0) open.set(user, left);
        else open.delete(user);
      });
    },
  );
}
