import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The quality gallery: bundled into dist/web and served by the station (no CDN: plants are offline).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: { outDir: fileURLToPath(new URL('../../dist/web', import.meta.url)), emptyOutDir: true, sourcemap: false },
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  logLevel: 'warn',
});
