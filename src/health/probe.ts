/**
 * What every health probe shares: a target, an outcome with a reason for the
 * log, and one socket that is always closed and one promise that always
 * settles, at the latest when the timeout fires.
 */
import { connect, type Socket } from 'node:net';
import type { HostPort, ProxyVersion } from '../config/parse.ts';
import { LOCAL_ERRNOS } from '../errors.ts';
import { ATTEMPT_TIMEOUT_MS, numericAddress, worstCode, type Address } from '../net/addresses.ts';
import { backendResolver } from '../net/resolver.ts';
import { checkHeader } from '../proxy/first-bytes/send-header.ts';

export interface ProbeResult {
  readonly ok: boolean;
  /** Why, in a few words, for the flip log: 'connected', 'ECONNREFUSED', 'HTTP 503', 'timeout after 1000ms'. */
  readonly reason: string;
  /** The probe could not be made for want of local resources (LOCAL_ERRNOS): it says nothing about the backend. */
  readonly local?: boolean;
}

/** What a probe dials: a backend, or where its `health.port` sends the checks. */
export interface ProbeTarget extends HostPort {
  readonly key: string;
  /** The backend expects a PROXY header first (its resolved `proxyProtocol`); undefined: none. */
  readonly sendProxy?: ProxyVersion | undefined;
}

/** One probe of one backend; must settle within its timeout and leave no socket behind. */
export type Probe = (target: ProbeTarget, timeoutMs: number) => Promise<ProbeResult>;

/**
 * Dials `target` and hands the connected socket to `onConnect`, which calls
 * `settle` when it knows the outcome. Whatever happens first (outcome, error,
 * early close, timeout) settles the promise and destroys the socket.
 *
 * A name is resolved and its addresses tried exactly as the data plane does
 * (net/addresses.ts, the same resolver and cache), so a probe passes only if
 * traffic would get through.
 *
 * A backend that expects the PROXY protocol gets a header without a client
 * first (v2 LOCAL or v1 UNKNOWN: "use this connection's addresses", HAProxy's
 * `check-send-proxy`), and `onConnect` runs once it is in the kernel: a
 * receiver that requires the header (`accept-proxy`, nginx `proxy_protocol`)
 * would otherwise close the check's connection or take its bytes for a
 * broken header.
 */
export function probeSocket(
  target: ProbeTarget,
  timeoutMs: number,
  onConnect: (socket: Socket, settle: (result: ProbeResult) => void) => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    let socket: Socket | undefined;
    let attemptTimer: NodeJS.Timeout | undefined;
    const settle = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(attemptTimer);
      socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => settle({ ok: false, reason: `timeout after ${timeoutMs}ms` }), timeoutMs);
    const preface = target.sendProxy === undefined ? undefined : checkHeader(target.sendProxy);
    const failed = (code: string) => settle(LOCAL_ERRNOS.has(code) ? { ok: false, local: true, reason: code } : { ok: false, reason: code });

    /** Tries `addresses[i]`, then the next ones, until one connects. */
    const attempt = (addresses: readonly Address[], i: number, code: string | undefined) => {
      const address = addresses[i]!;
      const last = i === addresses.length - 1;
      const s = (socket = connect({ host: address.ip, family: address.family, port: target.port, noDelay: true }));
      const next = (why: string) => {
        clearTimeout(attemptTimer);
        s.destroy();
        const worst = worstCode(code, why, LOCAL_ERRNOS);
        if (done) return;
        if (last) return failed(worst);
        attempt(addresses, i + 1, worst);
      };
      if (!last) attemptTimer = setTimeout(() => next('ETIMEDOUT'), ATTEMPT_TIMEOUT_MS);
      let connected = false;
      s.once('connect', () => {
        connected = true;
        clearTimeout(attemptTimer);
        s.once('close', () => settle({ ok: false, reason: 'closed by backend' }));
        if (preface === undefined) onConnect(s, settle);
        else {
          s.write(preface, (err) => {
            if (!err && !done) onConnect(s, settle);
          });
        }
      });
      s.on('error', (err: NodeJS.ErrnoException) => {
        if (!connected) next(err.code ?? err.message);
        else failed(err.code ?? err.message);
      });
    };

    const numeric = numericAddress(target.host);
    if (numeric !== undefined) return attempt([numeric], 0, undefined);
    backendResolver().resolve(target.host, (err, addresses) => {
      if (done) return;
      if (err !== undefined) return failed(err.errno);
      attempt(addresses!, 0, undefined);
    });
  });
}
