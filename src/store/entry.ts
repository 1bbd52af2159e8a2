/**
 * What the shared store holds for one backend of one service, and how it is
 * written: one JSON object per backend in a Redis hash per service, field
 * `host:port`. The entry is the backend's admin state as last set through
 * any instance's API: its spec (for backends registered over the API), its
 * weight and admin state, or a tombstone once it is deregistered (so a
 * removal reaches instances that have the backend in their file, and an old
 * message never brings it back: every entry carries the version that wrote
 * it). Health, counters and connections are never here: each instance keeps
 * its own.
 */
import type { AdminState, Backend } from '../backends/backend.ts';
import { BACKEND_PROXY_PROTOCOLS, formatHostPort, MAX_WEIGHT, MIN_WEIGHT, type BackendProxyProtocol } from '../config/parse.ts';

export interface SharedEntry {
  /** The store version that wrote it (INCR of the version key). */
  readonly v: number;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly state: AdminState;
  readonly backup: boolean;
  readonly slowStartMs?: number;
  readonly maxConnections: number;
  /** Its own PROXY header setting (over the service's); absent: the service's. */
  readonly proxyProtocol?: BackendProxyProtocol;
  /**
   * Written by a `register`, or since one: on a backend the file declares,
   * its settings override the file's. Absent (a PATCH or drain of a file
   * backend never registered): only the weight and admin state do, so a
   * reload's new file settings still apply.
   */
  readonly registered?: true;
  /** Deregistered: no instance keeps it, from the file or the API. */
  readonly removed: boolean;
}

/** An entry before the store has given it a version. */
export type EntryDraft = Omit<SharedEntry, 'v'>;

/** One change announced on the channel: the version, and the entry it wrote. */
export interface ChangeMessage {
  readonly v: number;
  readonly service: string;
  readonly key: string;
  readonly entry: SharedEntry;
}

/** The entry that describes `backend` as it stands (for a PATCH or a deregister to modify). */
export function draftOf(backend: Backend): EntryDraft {
  return {
    host: backend.host,
    port: backend.port,
    weight: backend.weight,
    state: backend.state,
    backup: backend.backup,
    ...(backend.slowStartMs !== undefined && { slowStartMs: backend.slowStartMs }),
    maxConnections: backend.maxConnections,
    ...(backend.proxyProtocol !== undefined && { proxyProtocol: backend.proxyProtocol }),
    ...(backend.registered && { registered: true }),
    removed: false,
  };
}

export function encodeDraft(draft: EntryDraft): string {
  return JSON.stringify(draft);
}

const isInt = (x: unknown, min: number, max: number): x is number => Number.isInteger(x) && (x as number) >= min && (x as number) <= max;

/**
 * An entry read back from Redis, checked field by field: the store is
 * shared with other processes (and people with redis-cli), so a bad value is
 * reported and skipped rather than trusted. Returns a reason on failure.
 */
export function decodeEntry(text: string): SharedEntry | string {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'not JSON';
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not an object';
  const { v, host, port, weight, state, backup, slowStartMs, maxConnections, proxyProtocol, registered, removed } = raw;
  if (!isInt(v, 1, Number.MAX_SAFE_INTEGER)) return 'v: not a positive integer';
  if (typeof host !== 'string' || host === '') return 'host: missing';
  if (!isInt(port, 1, 65535)) return 'port: not 1-65535';
  if (!isInt(weight, MIN_WEIGHT, MAX_WEIGHT)) return `weight: not ${MIN_WEIGHT}-${MAX_WEIGHT}`;
  if (state !== 'active' && state !== 'draining') return 'state: not active or draining';
  if (typeof backup !== 'boolean') return 'backup: not a boolean';
  if (slowStartMs !== undefined && !isInt(slowStartMs, 0, Number.MAX_SAFE_INTEGER)) return 'slowStartMs: not a duration in ms';
  if (!isInt(maxConnections, 0, Number.MAX_SAFE_INTEGER)) return 'maxConnections: not an integer';
  if (proxyProtocol !== undefined && !BACKEND_PROXY_PROTOCOLS.includes(proxyProtocol as BackendProxyProtocol)) return `proxyProtocol: not ${BACKEND_PROXY_PROTOCOLS.join(', ')}`;
  if (registered !== undefined && registered !== true) return 'registered: not true';
  if (typeof removed !== 'boolean') return 'removed: not a boolean';
  const pp = proxyProtocol as BackendProxyProtocol | undefined;
  return { v, host, port, weight, state, backup, ...(slowStartMs !== undefined && { slowStartMs }), maxConnections, ...(pp !== undefined && { proxyProtocol: pp }), ...(registered === true && { registered: true as const }), removed };
}

/** A message from the channel, or a reason it is unreadable. */
export function decodeMessage(text: string): ChangeMessage | string {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'not JSON';
  }
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const { v, s, k, e } = raw;
  if (!isInt(v, 1, Number.MAX_SAFE_INTEGER)) return 'v: not a positive integer';
  if (typeof s !== 'string' || typeof k !== 'string') return 'service or key missing';
  const entry = decodeEntry(JSON.stringify(e));
  if (typeof entry === 'string') return `entry: ${entry}`;
  if (entry.v !== v) return 'entry version differs from the message version';
  if (formatHostPort(entry) !== k) return 'entry address differs from the key';
  return { v, service: s, key: k, entry };
}
