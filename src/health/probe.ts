/**
 * What every health probe shares: a target, an outcome with a reason for the
 * log, and one socket that is always closed and one promise that always
 * settles, at the latest when the timeout fires.
 */
import { connect, type Socket } from 'node:net';
import type { HostPort } from '../config/parse.ts';
import { LOCAL_ERRNOS } from '../errors.ts';

export interface ProbeResult {
  readonly ok: boolean;
  /** Why, in a few words, for the flip log: 'connected', 'ECONNREFUSED', 'HTTP 503', 'timeout after 1000ms'. */
  readonly reason: string;
  /** The probe could not be made for want of local resources (LOCAL_ERRNOS): it says nothing about the backend. */
  readonly local?: boolean;
}

/** One probe of one backend; must settle within its timeout and leave no socket behind. */
export type Probe = (target: HostPort & { readonly key: string }, timeoutMs: number) => Promise<ProbeResult>;

/**
 * Dials `target` and hands the connected socket to `onConnect`, which calls
 * `settle` when it knows the outcome. Whatever happens first (outcome, error,
 * early close, timeout) settles the promise and destroys the socket.
 */
export function probeSocket(
  target: HostPort,
  timeoutMs: number,
  onConnect: (socket: Socket, settle: (result: ProbeResult) => void) => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    const settle = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => settle({ ok: false, reason: `timeout after ${timeoutMs}ms` }), timeoutMs);
    socket.once('connect', () => onConnect(socket, settle));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      settle(err.code !== undefined && LOCAL_ERRNOS.has(err.code) ? { ok: false, local: true, reason: err.code } : { ok: false, reason: err.code ?? err.message }),
    );
    socket.once('close', () => settle({ ok: false, reason: 'closed by backend' }));
  });
}
