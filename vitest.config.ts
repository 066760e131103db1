import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real onnxruntime sessions and worker threads: run files one at a time on this 2-core box.
    fileParallelism: false,
    reporters: ['default'],
  },
});
