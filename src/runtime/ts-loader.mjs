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
import { fileURLToPath } from 'node:url';

const insideNodeModules = /[\\/]node_modules[\\/]/.test(fileURLToPath(import.meta.url));

/** True when this Node runs this package's `.ts` files without a loader. */
export const stripsTypes = Boolean(process.features.typescript) && !insideNodeModules;

/** The `file:` URL of tsx's `--import` entry, as this package resolves it. */
export function loaderUrl() {
  return import.meta.resolve('tsx');
}

/** Registers tsx in this process unless Node strips types itself. Resolves to whether it did. */
export async function registerLoader() {
  if (stripsTypes) return false;
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
  if (stripsTypes || execArgv.some((a) => a.includes('tsx'))) return [...execArgv];
  return [...execArgv, '--import', loaderUrl()];
}
