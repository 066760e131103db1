import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

export interface GalleryDeps {
  /** The built gallery (Vite output); absent in a source checkout that was not built. */
  webDir: string;
}

/** The gallery: the built single-page app, open to all (it logs in through the API). */
export async function galleryRoutes(app: FastifyInstance, deps: GalleryDeps): Promise<void> {
  if (existsSync(deps.webDir)) {
    await app.register(fastifyStatic, { root: deps.webDir, prefix: '/', index: ['index.html'], wildcard: false });
  } else {
    app.get('/', (_req, reply) => reply.type('text/plain').send('The gallery is not built: run `npm run build`.'));
  }
}
