#!/usr/bin/env node
// The `fulcrum` bin. Node ≥ 22.18 runs the TypeScript sources itself; elsewhere
// (Node 20, or an installed copy under node_modules, where Node will not strip
// types) tsx's loader is registered in this process first, found from this
// package's folder. One process: signals sent to it reach Fulcrum.
import { registerLoader } from '../src/runtime/ts-loader.mjs';

await registerLoader();
await import('../src/main.ts');
