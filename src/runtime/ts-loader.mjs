/**
 * How this Node runs Fulcrum's TypeScript sources, decided once per process.
 * Plain JavaScript: it runs before anything can load TypeScript.
 *
 * Node ≥ 22.18 strips types itself (`process.features.typescript`), so the
 * bin and the workers run the sources with plain `node`. It refuses to do so
 * for files under `node_modules` (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING),
 * which is where an installed Fulcrum lives; there, and on Node 20, tsx's
 * loader does it. tsx is resolved from this package's folder, never from the
 * current directory, so `cd / && fulcrum --workers 2` finds it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const insideNodeModules = /[\\/]node_modules[\\/]/.test(fileURLToPath(import.meta.url));

/**
 * An installed copy ships JavaScript emitted at pack time (`prepack`: tsc with
 * `rewriteRelativeImportExtensions`, beside each `.ts`), so it runs with plain
 * `node` on every Node, no loader. A clone always runs its TypeScript sources.
 */
export const compiled = insideNodeModules && existsSync(fileURLToPath(new URL('../main.js', import.meta.url)));

/** True when this Node runs this package's `.ts` files without a loader. */
export const stripsTypes = Boolean(process.features.typescript) && !insideNodeModules;

/** The entry point to import: the emitted JavaScript of an installed copy, else the sources. */
export const mainModule = new URL(compiled ? '../main.js' : '../main.ts', import.meta.url).href;

/** The `file:` URL of tsx's `--import` entry, as this package resolves it. */
export function loaderUrl() {
  return import.meta.resolve('tsx');
}

/** Registers tsx in this process unless Node strips types itself. Resolves to whether it did. */
export async function registerLoader() {
  if (compiled || stripsTypes) return false;
  const { register } = await import(import.meta.resolve('tsx/esm/api'));
  register();
  return true;
}

/**
 * The execArgv for a child process (a cluster worker) that runs our `.ts`
 * files: the parent's own, plus tsx's loader by absolute URL when this Node
 * needs one and the parent did not already pass one on.
 */
export function tsExecArgv(execArgv = process.execArgv) {
  if (compiled || stripsTypes || execArgv.some((a) => a.includes('tsx'))) return [...execArgv];
  return [...execArgv, '--import', loaderUrl()];
}
