#!/usr/bin/env node
// `postpack`: removes the JavaScript `prepack` emitted beside each TypeScript
// source (src/, tools/), so a clone keeps running its sources. Only a `.js`
// with a `.ts` of the same name goes; the dashboard's own `.js` files stay.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let removed = 0;
function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith('.js') && existsSync(path.slice(0, -3) + '.ts')) {
      rmSync(path);
      removed++;
    }
  }
}
for (const dir of ['src', 'tools']) walk(join(root, dir));
console.error(`clean-build: removed ${removed} emitted file(s)`);
