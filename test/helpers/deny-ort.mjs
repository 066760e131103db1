// A loader hook for `node --import`: resolving onnxruntime-node (the native runtime) throws, so a
// command run under it proves it never loads the line or inference.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === 'onnxruntime-node' || specifier.startsWith('onnxruntime-node/')) {
    throw new Error('onnxruntime-node was loaded: ' + (context.parentURL ?? ''));
  }
  return next(specifier, context);
}`)}`,
);
