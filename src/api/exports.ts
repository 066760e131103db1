import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import type { Exporter } from '../store/index.js';
import { actorOf, need } from './auth.js';
import { Range, rangeOf } from './schemas.js';

export interface ExportDeps {
  exporter: Pick<Exporter, 'start' | 'get' | 'archivePath' | 'close' | 'ttlMs'>;
}

const ExportId = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Datasets of reviewed images for training, built in the background; archives expire. */
export async function exportRoutes(app: FastifyInstance, deps: ExportDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const quality = need('quality');
  app.addHook('onClose', async () => deps.exporter.close());

  api.post(
    '/api/exports',
    {
      onRequest: quality,
      schema: {
        description: `A dataset of reviewed images with labels, as a .tar.gz built in the background: ultralytics (images/, labels/, data.yaml) or folders (good/, defect/<class>/). Archives are deleted ${Math.round(deps.exporter.ttlMs / 3600_000)} h after they were made (and at start-up when older).`,
        body: Type.Object({ layout: Type.Union([Type.Literal('ultralytics'), Type.Literal('folders')]), ...Range }, { additionalProperties: false }),
      },
    },
    async (req, reply) => reply.status(202).send(deps.exporter.start(req.body.layout, rangeOf(req.body), actorOf(req))),
  );
  api.get('/api/exports/:id', { onRequest: quality, schema: { params: ExportId } }, async (req) => {
    const job = deps.exporter.get(req.params.id);
    if (!job) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no export ${req.params.id}`);
    return job;
  });
  api.get('/api/exports/:id/archive', { onRequest: quality, schema: { params: ExportId } }, async (req, reply) => {
    const job = deps.exporter.get(req.params.id);
    const file = job ? deps.exporter.archivePath(job) : null;
    if (!job || !file) throw new StationError('STN_ERR_HTTP_NOT_FOUND', job ? `export ${job.id} is ${job.state}` : `no export ${req.params.id}`);
    return reply
      .type('application/gzip')
      .header('content-disposition', `attachment; filename="dataset-${job.layout}-${job.id.slice(0, 8)}.tar.gz"`)
      .send(createReadStream(file));
  });
}
