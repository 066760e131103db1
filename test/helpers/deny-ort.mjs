// A loader hook for `node --import`: resolving a denied package throws, so a command run under it
// proves it never loads it. Denied: onnxruntime-node (the native runtime), or the packages named
// in STATION_DENY_MODULES (comma-separated).
import { register } from 'node:module';

const deny = (process.env.STATION_DENY_MODULES || 'onnxruntime-node').split(',').filter(Boolean);
register(
  `data:text/javascript,${encodeURIComponent(`
let deny = [];
export async function initialize(data) { deny = data.deny; }
export async function resolve(specifier, context, next) {
  if (deny.some((d) => specifier === d || specifier.startsWith(d + '/'))) {
    throw new Error(specifier + ' was loaded: ' + (context.parentURL ?? ''));
  }
  return next(specifier, context);
}`)}`,
  { data: { deny } },
);
