import { existsSync } from 'node:fs';
import { relative, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyCompress from '@fastify/compress';
import fastifyStatic from '@fastify/static';

export interface GalleryDeps {
  /** The built gallery (Vite output); absent in a source checkout that was not built. */
  webDir: string;
}

/**
 * Caching of the built files: Vite names everything under /assets after its content hash, so a
 * browser may keep those for a year; index.html names the current bundles and is revalidated on
 * every load, so a new build reaches the browser on the next page load.
 */
function cacheHeaders(webDir: string) {
  // Judged by the path inside the built folder: a folder named "assets" above it must not make index.html immutable.
  return (res: { setHeader(name: string, value: string): unknown }, file: string): void => {
    const inside = relative(webDir, file);
    if (inside.startsWith(`assets${sep}`)) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    else if (inside === 'index.html') res.setHeader('Cache-Control', 'no-cache');
  };
}

/**
 * The gallery: the built single-page app, open to all (it logs in through the API). Compression is
 * registered in this plugin's scope only: the API's JSON, images and the live SSE stream
 * (text/event-stream must reach the browser unbuffered) are untouched.
 */
export async function galleryRoutes(app: FastifyInstance, deps: GalleryDeps): Promise<void> {
  if (existsSync(deps.webDir)) {
    // brotli first, then gzip (by Accept-Encoding); files under 1 KiB are sent as they are.
    await app.register(fastifyCompress, { global: true, threshold: 1024, encodings: ['br', 'gzip'] });
    await app.register(fastifyStatic, {
      root: deps.webDir,
      prefix: '/',
      index: ['index.html'],
      wildcard: false,
      cacheControl: false,
      setHeaders: cacheHeaders(deps.webDir),
    });
  } else {
    app.get('/', (_req, reply) => reply.type('text/plain').send('The gallery is not built: run `npm run build`.'));
  }
}
