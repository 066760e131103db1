import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StationError } from '../errors/index.js';
import { IMAGE_VARIANTS, type ImageStore, type ImageVariant, type Repository } from '../store/index.js';
import { need } from './auth.js';
import { IdParams, idOf } from './schemas.js';

export interface ImageDeps {
  repo: Pick<Repository, 'getImage'>;
  images: Pick<ImageStore, 'open'>;
}

/** The stored images of an inspection: original, overlay, thumbnail; cacheable (they never change). */
export async function imageRoutes(app: FastifyInstance, deps: ImageDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.get(
    '/api/inspections/:id/image',
    {
      onRequest: need('viewer'),
      schema: {
        params: IdParams,
        querystring: Type.Object(
          {
            variant: Type.Union(
              IMAGE_VARIANTS.map((v) => Type.Literal(v)),
              { default: 'overlay' },
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const id = idOf(req.params);
      const img = await deps.repo.getImage(id, req.query.variant as ImageVariant);
      if (!img) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `inspection ${id} has no ${req.query.variant} image`);
      // Stored images never change: an ETag from the row is enough, and caches may keep them.
      const etag = `"${img.id}-${img.bytes}"`;
      reply.header('ETag', etag).header('Cache-Control', 'private, max-age=86400, immutable');
      if (req.headers['if-none-match'] === etag) return reply.status(304).send();
      const found = await deps.images.open(img.path);
      if (!found) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `the ${req.query.variant} image of inspection ${id} is no longer stored`);
      return reply.type(img.mime).header('Content-Length', found.size).send(found.stream);
    },
  );
}
