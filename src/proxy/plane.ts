/**
 * Which data plane carries the connections, chosen once per process:
 *
 * - `native`: raw TCP handles (listener.ts, session.ts, relay.ts), the
 *   fastest, resting on Node internals (native.ts);
 * - `stream`: plain `net.Socket`s (stream/), public API only, for a Node
 *   that refuses or lacks those internals (the permission model refuses
 *   `process.binding`);
 * - `auto` (the default): `native` when its start-up check passes, else
 *   `stream`, with one warning saying why.
 */
import type { DataPlaneChoice } from '../config/config.ts';
import { DataPlaneError } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { ProxyListener, type DataPlaneListener, type ProxyListenerOptions } from './listener.ts';
import { nativeProblem } from './native.ts';
import { StreamListener } from './stream/listener.ts';

export type DataPlane = Exclude<DataPlaneChoice, 'auto'>;

let warned = false;

/**
 * The plane to run. Throws a DataPlaneError (one line, no stack needed) for
 * `native` where it cannot work; logs the fallback of `auto` once per process.
 */
export function resolveDataPlane(choice: DataPlaneChoice, log: Logger): DataPlane {
  if (choice === 'stream') return 'stream';
  const problem = nativeProblem();
  if (problem === undefined) return 'native';
  if (choice === 'native') throw new DataPlaneError(`--data-plane native: ${problem}; use auto or stream`);
  if (!warned) log.warn({ dataPlane: 'stream', reason: problem }, `data plane: stream (net.Socket), because ${problem}`);
  warned = true;
  return 'stream';
}

export function createProxyListener(plane: DataPlane, options: ProxyListenerOptions): DataPlaneListener {
  return plane === 'native' ? new ProxyListener(options) : new StreamListener(options);
}
