/** The data plane's side of `lrt`: one smoothed number updated per successful connect, on both planes. */
import type { Backend } from '../backends/backend.ts';
import { recordConnectTime } from '../strategies/least-response-time.ts';

/** Records the connect that began at `dialedAt` (performance.now()) and just succeeded. */
export function timeConnect(backend: Backend, dialedAt: number): void {
  const now = performance.now();
  recordConnectTime(backend, now - dialedAt, performance.timeOrigin + now);
}
