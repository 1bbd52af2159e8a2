/**
 * Admin bodies → specs, once, at the edge. Values go through the same parsers
 * as the CLI (src/config/parse.ts), so a bad address reads the same wherever
 * it was typed. An unknown field is refused outright (403) rather than
 * ignored: a typo like `wieght` must not silently do nothing.
 */
import type { AdminState } from '../backends/backend.ts';
import { parseBackendProxyProtocol, parseDuration, parseHostPort, parseWeight, MAX_WEIGHT, MIN_WEIGHT, type BackendProxyProtocol, type HostPort } from '../config/parse.ts';
import { ConfigError } from '../errors.ts';
import { badRequest, HttpError } from './http-error.ts';

/** Longer than any host:port or URL anyone means; keeps error titles short. */
const MAX_ADDRESS_LENGTH = 512;
const ADMIN_STATES: readonly AdminState[] = ['active', 'draining'];

export interface RegisterSpec extends HostPort {
  /** Undefined when not given: 1 for a new backend, unchanged for an existing one. */
  readonly weight: number | undefined;
  /** Undefined when not given: no limit for a new backend, unchanged for an existing one. */
  readonly maxConnections: number | undefined;
  /** Undefined when not given: false for a new backend, unchanged for an existing one. */
  readonly backup?: boolean;
  /** `slowStart` in ms; undefined when not given. */
  readonly slowStartMs?: number;
  /** Undefined when not given: the service's for a new backend, unchanged for an existing one. */
  readonly proxyProtocol?: BackendProxyProtocol;
}

export interface BackendPatch {
  readonly weight?: number;
  readonly state?: AdminState;
}

/** `{"address": …, "weight"?: …, "backup"?: true, "slowStart"?: "30s", "proxyProtocol"?: "v2"}` */
export function parseRegister(body: unknown): RegisterSpec {
  const o = fields(body, ['address', 'weight', 'maxConnections', 'backup', 'slowStart', 'proxyProtocol']);
  const address = parseAddress(o.address);
  if (o.backup !== undefined && typeof o.backup !== 'boolean') throw new ConfigError('backup', `${preview(o.backup)} is invalid (use true or false)`);
  if (o.slowStart !== undefined && typeof o.slowStart !== 'string' && typeof o.slowStart !== 'number') {
    throw new ConfigError('slowStart', `${preview(o.slowStart)} is invalid (use a duration like "30s", or 0 to turn it off)`);
  }
  return {
    ...address,
    weight: o.weight === undefined ? undefined : weight(o.weight),
    maxConnections: o.maxConnections === undefined ? undefined : maxConnections(o.maxConnections),
    ...(o.backup !== undefined && { backup: o.backup as boolean }),
    ...(o.slowStart !== undefined && { slowStartMs: parseDuration('slowStart', o.slowStart as string | number, { zeroMeansOff: true }) }),
    ...(o.proxyProtocol !== undefined && { proxyProtocol: parseBackendProxyProtocol('proxyProtocol', o.proxyProtocol) }),
  };
}

/** `{"address": …}` */
export function parseDeregister(body: unknown): HostPort {
  return parseAddress(fields(body, ['address']).address);
}

/** `{"weight"?: …, "state"?: "active" | "draining"}`, at least one of them. */
export function parsePatch(body: unknown): BackendPatch {
  const o = fields(body, ['weight', 'state']);
  if (o.weight === undefined && o.state === undefined) throw badRequest('nothing to change (give "weight" and/or "state")');
  const patch: { weight?: number; state?: AdminState } = {};
  if (o.weight !== undefined) patch.weight = weight(o.weight);
  if (o.state !== undefined) {
    if (!ADMIN_STATES.includes(o.state as AdminState)) {
      throw new ConfigError('state', `${preview(o.state)} is invalid (use ${ADMIN_STATES.map((s) => `"${s}"`).join(' or ')})`);
    }
    patch.state = o.state as AdminState;
  }
  return patch;
}

/** `?force=1`: true for 1/true, false for 0/false or absent. */
export function parseForce(query: URLSearchParams): boolean {
  const values = query.getAll('force');
  if (values.length === 0) return false;
  if (values.length > 1) throw new ConfigError('force', 'given more than once');
  const v = values[0]!.toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new ConfigError('force', `${preview(values[0])} is invalid (use 1 or 0)`);
}

function fields(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw new HttpError(403, 'ERR_UNKNOWN_FIELD', `unknown field ${preview(key)} (allowed: ${allowed.join(', ')})`, { field: key.slice(0, 64) });
    }
  }
  return body as Record<string, unknown>;
}

function parseAddress(value: unknown): HostPort {
  if (value === undefined) throw new ConfigError('address', 'is required (e.g. "127.0.0.1:9001")');
  if (typeof value !== 'string') throw new ConfigError('address', `must be a string like "127.0.0.1:9001", not ${preview(value)}`);
  if (value.length > MAX_ADDRESS_LENGTH) throw new ConfigError('address', `is longer than ${MAX_ADDRESS_LENGTH} characters`);
  const hp = parseHostPort('address', value);
  if (hp.port === 0) throw new ConfigError('address', `${preview(value)} has port 0, which no backend listens on (use 1-65535)`);
  return hp;
}

function maxConnections(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 10_000_000) {
    throw new ConfigError('maxConnections', `${preview(value)} is invalid (use an integer 0-10000000; 0: no limit)`);
  }
  return value;
}

function weight(value: unknown): number {
  // Strings are refused even when they hold digits: JSON has numbers for that.
  if (typeof value !== 'number') throw new ConfigError('weight', `${preview(value)} is invalid (use an integer ${MIN_WEIGHT}-${MAX_WEIGHT})`);
  return parseWeight('weight', value);
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Bodies are depth-checked when read; this keeps a title from ever becoming a 500.
    text = Array.isArray(value) ? 'an array' : typeof value;
  }
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}
