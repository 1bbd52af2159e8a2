/**
 * Parsers for the value types users type: addresses, durations, weights.
 * Each throws ConfigError naming the field, so the CLI, the config file and
 * the admin API report bad input the same way.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';
import { canonicalHost } from './canonical-host.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parsePort(field: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new ConfigError(field, `port "${text}" is not a number (use 0-65535)`);
  const port = Number(text);
  if (port > 65535) throw new ConfigError(field, `port ${text} is out of range (use 0-65535)`);
  return port;
}

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

/** The host in its canonical spelling (canonical-host.ts), so every spelling of one server is one key. */
function checkHost(field: string, host: string, original: string): string {
  if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new ConfigError(field, `"${original}" has an invalid host "${host}"`);
  try {
    return canonicalHost(host);
  } catch (err) {
    throw new ConfigError(field, `"${original}" has an invalid IPv4 address "${host}"`, { cause: err });
  }
}

/**
 * `host:port`, `[v6]:port`, `tcp://host:port` or `http://host[:port]` (port 80
 * when omitted). `defaultHost`, when given, allows a bare `port`.
 */
export function parseHostPort(field: string, text: string, defaultHost?: string): HostPort {
  const original = text;
  let s = text.trim();
  let defaultPort: number | undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  if (scheme) {
    const name = scheme[1]!.toLowerCase();
    if (name === 'http') defaultPort = 80;
    else if (name !== 'tcp') throw new ConfigError(field, `"${original}" has an unsupported scheme "${name}" (use tcp:// or http://)`);
    s = s.slice(scheme[0].length).replace(/\/.*$/, '');
  }
  if (s === '') throw new ConfigError(field, 'address is empty (use host:port)');
  if (defaultHost !== undefined && /^\d+$/.test(s)) return { host: defaultHost, port: parsePort(field, s) };

  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) throw new ConfigError(field, `"${original}" has an unclosed "[" (use [v6]:port)`);
    host = s.slice(1, end);
    if (isIP(host) !== 6) throw new ConfigError(field, `"${original}" has an invalid IPv6 address "${host}"`);
    host = checkHost(field, host, original);
    const rest = s.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new ConfigError(field, `"${original}" is not [v6]:port`);
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0 && s.indexOf(':') !== colon) {
      throw new ConfigError(field, `"${original}" looks like a bare IPv6 address (write it as [v6]:port)`);
    }
    host = colon < 0 ? s : s.slice(0, colon);
    portText = colon < 0 ? undefined : s.slice(colon + 1);
    host = checkHost(field, host, original);
  }
  if (portText === undefined) {
    if (defaultPort === undefined) throw new ConfigError(field, `"${original}" has no port (use host:port)`);
    return { host, port: defaultPort };
  }
  return { host, port: parsePort(field, portText) };
}

/** A host without a port: a name, an IPv4 address or an IPv6 one (bracketed or not); canonical. */
export function parseHostName(field: string, text: string): string {
  const s = text.trim();
  const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (bare === '') throw new ConfigError(field, 'host is empty');
  return checkHost(field, bare, text);
}

/** `host:port` the way people write it back: IPv6 in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const DURATION = /^(-?)(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
/** The shortest duration any setting takes. Shorter values are refused rather than rounded to 0, which would mean "off" or "at once". */
export const MIN_DURATION_MS = 1;

/**
 * `500ms`, `3s`, `10m`, `1h`, or a bare number of seconds. Returns whole
 * milliseconds, at least MIN_DURATION_MS; 0 only with `zeroMeansOff`, for the
 * settings where it turns the feature off (idle timeout, health interval).
 */
export function parseDuration(field: string, value: string | number, { zeroMeansOff = false } = {}): number {
  const text = String(value).trim();
  const m = DURATION.exec(text);
  const use = `use e.g. 500ms, 3s, 10m; a bare number is seconds${zeroMeansOff ? '; 0 turns it off' : ''}`;
  if (!m) throw new ConfigError(field, `"${text}" is not a duration (${use})`);
  if (m[1] === '-') throw new ConfigError(field, `"${text}" is invalid: a duration cannot be negative (${use})`);
  const ms = Number(m[2]) * UNIT_MS[(m[3] ?? 's') as keyof typeof UNIT_MS];
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new ConfigError(field, `"${text}" is too long`);
  if (ms === 0 && zeroMeansOff) return 0;
  if (ms < MIN_DURATION_MS) {
    throw new ConfigError(field, `"${text}" is invalid: under the ${MIN_DURATION_MS}ms minimum (use ${MIN_DURATION_MS}ms or more${zeroMeansOff ? ', or 0 to turn it off' : ''})`);
  }
  return Math.round(ms);
}

/**
 * A path (and query) for an HTTP request line, as `--health-http` takes it.
 * Only characters RFC 3986 allows there: anything else (a space, CR, LF, a
 * control or non-ASCII character) would break the request line or inject
 * headers into every probe.
 */
export function parseHttpPath(field: string, text: string): string {
  if (!text.startsWith('/')) throw new ConfigError(field, `"${text}" must be a path starting with "/"`);
  const bad = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%?]/.exec(text);
  if (bad) {
    throw new ConfigError(field, `${JSON.stringify(text)} contains ${JSON.stringify(bad[0])}, which cannot go in a request line (percent-encode it, e.g. %20 for a space)`);
  }
  return text;
}

export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 1000;

export function parseWeight(field: string, value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < MIN_WEIGHT || n > MAX_WEIGHT) {
    throw new ConfigError(field, `weight ${JSON.stringify(value)} is invalid (use an integer ${MIN_WEIGHT}-${MAX_WEIGHT})`);
  }
  return n;
}

export interface BackendSpec extends HostPort {
  readonly weight: number;
  /** Connections it takes at once; 0 or absent: no limit. */
  readonly maxConnections?: number;
  /** Takes connections only while no non-backup backend of its service is ready (HAProxy's `backup`). @default false */
  readonly backup?: boolean;
  /** This backend's slow-start window, ms, over the service's `slowStart`; 0 turns it off for this backend. */
  readonly slowStartMs?: number;
  /** The PROXY header this backend gets, over the service's `proxyProtocol`; `none`: no header even when the service sends one. */
  readonly proxyProtocol?: BackendProxyProtocol;
}

/** A PROXY protocol version Fulcrum sends (HAProxy `send-proxy` / `send-proxy-v2`). */
export type ProxyVersion = 'v1' | 'v2';
/** What a backend may say: a version, or `none` to opt out of its service's (HAProxy `no-send-proxy`). */
export type BackendProxyProtocol = ProxyVersion | 'none';
export const BACKEND_PROXY_PROTOCOLS: readonly BackendProxyProtocol[] = ['v1', 'v2', 'none'];

/** `v1`, `v2` or `none` (a backend's `proxyProtocol`, e.g. in a register body). */
export function parseBackendProxyProtocol(field: string, value: unknown): BackendProxyProtocol {
  if (typeof value === 'string' && (BACKEND_PROXY_PROTOCOLS as readonly string[]).includes(value)) return value as BackendProxyProtocol;
  const shown = JSON.stringify(value) ?? String(value);
  throw new ConfigError(field, `${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown} is invalid (use v1, v2 or none)`);
}

/** The header a backend gets: its own setting over its service's; undefined for none. */
export function effectiveProxyProtocol(own: BackendProxyProtocol | undefined, service: ProxyVersion | undefined): ProxyVersion | undefined {
  if (own === undefined) return service;
  return own === 'none' ? undefined : own;
}

/** `host:port[@weight]` as given to `--backend`. */
export function parseBackendSpec(field: string, text: string): BackendSpec {
  const at = text.lastIndexOf('@');
  const address = at < 0 ? text : text.slice(0, at);
  const weight = at < 0 ? 1 : parseWeight(field, text.slice(at + 1));
  const hostPort = parseHostPort(field, address);
  if (hostPort.port === 0) throw new ConfigError(field, `"${text}" has port 0 (a backend needs a real port, 1-65535)`);
  return { ...hostPort, weight };
}

/**
 * A bearer token for the admin API. Refuses one no client could ever send:
 * HTTP strips leading and trailing whitespace from header values and forbids
 * control characters in them. Spaces inside and UTF-8 are fine.
 */
export function parseToken(field: string, token: string): string {
  if (token.trim() === '') throw new ConfigError(field, 'is empty (give a token, or leave it unset for an open admin API)');
  if (token !== token.trim()) throw new ConfigError(field, 'starts or ends with whitespace, which HTTP strips from headers (remove it)');
  if (/[\x00-\x1f\x7f]/.test(token)) throw new ConfigError(field, 'contains a control character, which HTTP headers cannot carry');
  return token;
}

/** `"50/s"` or `"600/m"` → count and period. */
export function parseRate(field: string, text: string): { count: number; periodMs: number } {
  const m = /^\s*(\d+)\s*\/\s*(s|m)\s*$/.exec(text);
  if (!m || Number(m[1]) < 1) throw new ConfigError(field, `"${text}" is not a rate (use e.g. 50/s or 600/m)`);
  return { count: Number(m[1]), periodMs: m[2] === 's' ? 1000 : 60_000 };
}

/**
 * Backslash escapes in bytes to send or expect (`\r`, `\n`, `\t`, `\0`,
 * `\\`, `\xHH`), so `PING\r\n` means the same typed on the command line, in
 * single quotes or unquoted in YAML, or in double quotes (where YAML has
 * already turned it into CR LF). Other characters are taken as UTF-8.
 */
export function parseEscapes(field: string, text: string): Buffer {
  const parts: Buffer[] = [];
  let plain = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      plain += c;
      continue;
    }
    const e = text[++i];
    const simple = e === undefined ? undefined : ({ r: '\r', n: '\n', t: '\t', '0': '\0', '\\': '\\' } as Record<string, string>)[e];
    if (simple !== undefined) {
      plain += simple;
      continue;
    }
    if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      parts.push(Buffer.from(plain, 'utf8'), Buffer.from([parseInt(text.slice(i + 1, i + 3), 16)]));
      plain = '';
      i += 2;
      continue;
    }
    throw new ConfigError(field, `${JSON.stringify(text)} has an unknown escape "\\${e ?? ''}" (use \\r, \\n, \\t, \\0, \\\\ or \\xHH)`);
  }
  parts.push(Buffer.from(plain, 'utf8'));
  return Buffer.concat(parts);
}

/** What a send/expect check waits for. */
export type Expectation = { readonly regex: RegExp } | { readonly prefix: Buffer };

/** `/regex/flags` is a regular expression; anything else is a literal prefix. Checks the regex compiles. */
export function parseExpect(field: string, text: string): Expectation {
  const m = /^\/(.*)\/([dgimsuy]*)$/s.exec(text);
  if (m) {
    try {
      // Without `g`/`y`: `test` must not carry state from one probe to the next.
      return { regex: new RegExp(m[1]!, m[2]!.replace(/[gy]/g, '')) };
    } catch (err) {
      throw new ConfigError(field, `${JSON.stringify(text)} is not a valid regular expression (${(err as Error).message})`, { cause: err });
    }
  }
  const prefix = parseEscapes(field, text);
  if (prefix.length === 0) throw new ConfigError(field, 'is empty (give the text the reply starts with, or /regex/)');
  return { prefix };
}

/** `"200-299"` or `"200"`: the HTTP statuses a check accepts, both ends included. */
export function parseStatusRange(field: string, text: string): readonly [number, number] {
  const m = /^\s*([1-5]\d\d)\s*(?:-\s*([1-5]\d\d)\s*)?$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || hi < lo) throw new ConfigError(field, `"${text}" is invalid (use a status or a range like "200-299")`);
  return [lo, hi];
}
