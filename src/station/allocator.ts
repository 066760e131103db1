import { readFileSync } from 'node:fs';

/**
 * Which C allocator this process runs on: `bin/station` preloads jemalloc when it is installed
 * (glibc's allocator lets the native memory of a many-threaded station grow for hours; see
 * docs/performance.md#memory). Read once from the process's own mappings. Its own module: every
 * command reads it, and none of them may load the inference runtime for it.
 */
export const allocator: 'jemalloc' | 'glibc' | 'other' = (() => {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    if (/libjemalloc\.so/.test(maps)) return 'jemalloc';
    return /\/libc\.so\.6/.test(maps) ? 'glibc' : 'other';
  } catch {
    return 'other';
  }
})();
