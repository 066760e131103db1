/** Import rules checked by `npm run lint` (dependency-cruiser). */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module must not import itself through others: a circle makes load order and ownership unclear.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'store-without-runtime',
      severity: 'error',
      comment: 'The store (migrations, repositories) never loads onnxruntime-node or the line: `station db migrate` must run without the native runtime.',
      from: { path: '^src/store/' },
      to: { path: ['^src/line/(?!protocol\\.ts$|stats\\.ts$)', '^src/inference/', '^src/whatif/', 'onnxruntime-node'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^src/store/generated/', '^dist/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
};
