/**
 * The access log of one service on one listener: a line per connection,
 * formatted when it ends and handed to a shared writer (writer.ts), which
 * writes in batches off the data plane. A line the writer cannot take (its
 * buffer is full: the destination is slower than the traffic) is dropped and
 * counted in the service's `accessLogDropped`.
 *
 * Nothing here runs while the log is off: a session holds `undefined`
 * instead of an AccessLog, and its end costs one comparison.
 *
 * Fields (both formats, in this order):
 *   time       when the client was accepted (ISO 8601, UTC, ms)
 *   service    the service's name
 *   client     the client's ip:port (the PROXY header's when one gave it)
 *   listener   the address the client connected to, ip:port
 *   backend    host:port of the backend that served it, or that the last
 *              attempt went to; none (`-`/null) when no attempt was made
 *   attempts   connect attempts made (0 when refused before any)
 *   queueMs    time waited in the service's queue; -1/null when it never queued
 *   connectMs  time the successful connect took; -1/null when none succeeded
 *   durationMs from accept to the end
 *   bytesIn    bytes from the client relayed to the backend
 *   bytesOut   bytes from the backend relayed to the client
 *   end        how it ended (end-reasons.ts)
 *   detail     for `rejected`, the verdict (denied, per-ip-connections,
 *              per-ip-rate, queue-full); for `connect-failed`, the last
 *              error code; for `proxy-header`, what was wrong; else none
 *
 * `text` puts them on one line as HAProxy's tcplog does, timers together:
 *   127.0.0.2:40312 [2026-11-30T12:45:02.123Z] web 127.0.0.1:8080 10.0.0.5:5432 1 -1/0.412/1250 517 2048 client-closed -
 * (client [time] service listener backend attempts queueMs/connectMs/durationMs bytesIn bytesOut end detail)
 */
import type { AccessLogFormat } from '../../config/config.ts';
import type { ProxyStats } from '../stats.ts';
import { endReasonName } from './end-reasons.ts';
import { accessLogWriter, type AccessLogWriter, type WriterErrorHandler } from './writer.ts';

/** What a session exposes for its line; read once, when it ends. */
export interface AccessRecord {
  /** Epoch ms of the accept. */
  readonly startedAt: number;
  readonly clientIp: string;
  readonly clientPort: number;
  /** The backend's key, or undefined. */
  readonly backendKey: string | undefined;
  readonly attempts: number;
  /** -1: never queued. */
  readonly queueMs: number;
  /** -1: no connect succeeded. */
  readonly connectMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly endReason: number;
  readonly endDetail: string | undefined;
}

export class AccessLog {
  readonly service: string;
  readonly format: AccessLogFormat;
  readonly destination: string;
  readonly #stats: ProxyStats;
  readonly #writer: AccessLogWriter;
  /** The service as a JSON string, made once. */
  readonly #jsonService: string;

  constructor(service: string, destination: string, format: AccessLogFormat, stats: ProxyStats, onError?: WriterErrorHandler) {
    this.service = service;
    this.destination = destination;
    this.format = format;
    this.#stats = stats;
    this.#jsonService = JSON.stringify(service);
    this.#writer = accessLogWriter(destination, onError);
  }

  /** The line for `r`, which ended now, on `listener` (ip:port). Never throws, never blocks. */
  write(r: AccessRecord, listener: string): void {
    const line = this.format === 'json' ? jsonLine(this.#jsonService, r, listener) : textLine(this.service, r, listener);
    if (!this.#writer.offer(line, this.#stats)) this.#stats.accessLogDropped++;
  }
}

/** `off` (or nothing) is no log: undefined. */
export function accessLogFor(service: string, destination: string | undefined, format: AccessLogFormat | undefined, stats: ProxyStats, onError?: WriterErrorHandler): AccessLog | undefined {
  if (destination === undefined || destination === 'off') return undefined;
  return new AccessLog(service, destination, format ?? 'json', stats, onError);
}

let isoSecond = -1;
let isoPrefix = '';

/** `new Date(ms).toISOString()`, with the part up to the second made once a second (lines come in bursts of the same second). */
function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20); // 2026-11-30T12:45:02.
  }
  const frac = ms - second * 1000;
  return `${isoPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

/** `jsonService`: the name as a JSON string. Backend keys and addresses are canonical `host:port` text, nothing to escape. */
export function jsonLine(jsonService: string, r: AccessRecord, listener: string): string {
  const backend = r.backendKey === undefined ? 'null' : `"${r.backendKey}"`;
  const detail = r.endDetail === undefined ? '' : `,"detail":${JSON.stringify(r.endDetail)}`;
  return (
    `{"time":"${isoTime(r.startedAt)}","service":${jsonService},"client":"${hostPort(r.clientIp, r.clientPort)}","listener":"${listener}",` +
    `"backend":${backend},"attempts":${r.attempts},"queueMs":${r.queueMs < 0 ? 'null' : round3(r.queueMs)},"connectMs":${r.connectMs < 0 ? 'null' : round3(r.connectMs)},` +
    `"durationMs":${Date.now() - r.startedAt},"bytesIn":${r.bytesIn},"bytesOut":${r.bytesOut},"end":"${endReasonName(r.endReason)}"${detail}}\n`
  );
}

export function textLine(service: string, r: AccessRecord, listener: string): string {
  const timers = `${r.queueMs < 0 ? -1 : round3(r.queueMs)}/${r.connectMs < 0 ? -1 : round3(r.connectMs)}/${Date.now() - r.startedAt}`;
  return (
    `${hostPort(r.clientIp, r.clientPort)} [${isoTime(r.startedAt)}] ${service} ${listener} ${r.backendKey ?? '-'} ${r.attempts} ${timers} ` +
    `${r.bytesIn} ${r.bytesOut} ${endReasonName(r.endReason)} ${r.endDetail?.replace(/\s/g, '_') ?? '-'}\n`
  );
}

/** `ip:port`, an IPv6 address in brackets. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
