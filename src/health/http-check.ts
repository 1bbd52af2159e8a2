/**
 * `--health-http PATH`: the backend passes when `GET PATH` answers a status
 * in `statuses` (2xx or 3xx unless `health.expectStatus` says otherwise)
 * within the timeout, with `Host: host` (the backend's host:port unless
 * `health.host` is set, for virtual hosts). Only the status line is read; the socket is closed as
 * soon as it arrives, so a large or endless body costs nothing.
 */
import { probeSocket, type Probe } from './probe.ts';

/** Enough for any sane status line; a backend that sends more without a CRLF is not speaking HTTP. */
const MAX_STATUS_LINE = 1024;
const STATUS_LINE = /^HTTP\/\d(?:\.\d)? (\d{3})(?: |\r?$)/;

export interface HttpCheckOptions {
  /** The Host header; default the target's host:port. */
  readonly host?: string | undefined;
  /** Accepted statuses, both ends included. @default [200, 399] */
  readonly statuses?: readonly [number, number];
}

export function httpCheck(path: string, { host, statuses = [200, 399] }: HttpCheckOptions = {}): Probe {
  const [lo, hi] = statuses;
  return (target, timeoutMs) =>
    probeSocket(target, timeoutMs, (socket, settle) => {
      let head = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        head += chunk;
        const eol = head.indexOf('\n');
        if (eol < 0) {
          if (head.length > MAX_STATUS_LINE) settle({ ok: false, reason: 'no HTTP status line' });
          return;
        }
        const m = STATUS_LINE.exec(head.slice(0, eol));
        if (!m) return settle({ ok: false, reason: 'no HTTP status line' });
        const status = Number(m[1]);
        settle({ ok: status >= lo && status <= hi, reason: `HTTP ${status}` });
      });
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host ?? target.key}\r\nConnection: close\r\nUser-Agent: fulcrum-health\r\nAccept: */*\r\n\r\n`);
    });
}
