#!/usr/bin/env node
// The `station` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import '../dist/cli/index.js';
