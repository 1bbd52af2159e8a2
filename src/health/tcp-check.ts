/** The default probe: the backend passes when it accepts a TCP connection within the timeout. */
import { probeSocket, type Probe } from './probe.ts';

export const tcpCheck: Probe = (target, timeoutMs) =>
  probeSocket(target, timeoutMs, (_socket, settle) => settle({ ok: true, reason: 'connected' }));
