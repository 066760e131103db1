#!/usr/bin/env node
// The `station` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { main } from '../dist/cli/index.js';

await main(process.argv);
