#!/usr/bin/env node
// The `fulcrum` bin. An installed copy runs the JavaScript emitted when it was
// packed, with plain node. From a clone, Node ≥ 22.18 runs the TypeScript
// sources itself, and elsewhere (Node 20) tsx's loader is registered in this
// process first, found from this package's folder. One process: signals sent
// to it reach Fulcrum.
import { mainModule, registerLoader } from '../src/runtime/ts-loader.mjs';

await registerLoader();
await import(mainModule);
