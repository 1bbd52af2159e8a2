/**
 * Which service of a shared listen address takes a connection, by the TLS
 * server name: an exact name first, then a wildcard `*.example.com` (one
 * label: `a.example.com`, not `example.com` nor `a.b.example.com`), then the
 * one service without `sni`, which also takes connections with no server
 * name and non-TLS ones. Case-insensitive. Built once per set of services;
 * a lookup is at most two Map gets.
 */
import { ConfigError } from '../../errors.ts';

/** What the router needs of a service: its `sni` names; none (or undefined) makes it the default. */
export interface SniService {
  readonly sni?: readonly string[] | undefined;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A name or pattern lower-cased and checked: `*.` then a name, or a name (labels of letters, digits, `-`, `_`). */
function normalise(pattern: string, field: string): string {
  const p = pattern.toLowerCase();
  const name = p.startsWith('*.') ? p.slice(2) : p;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => LABEL.test(l))) {
    throw new ConfigError(field, `${JSON.stringify(pattern)} is not a host name or a *.wildcard of one (one leading "*." only, no trailing dot)`);
  }
  return p;
}

export class SniRouter<T extends SniService> {
  readonly #exact = new Map<string, T>();
  /** Keyed by the part after `*.`. */
  readonly #wildcard = new Map<string, T>();
  readonly #fallback: T | undefined;

  /** Throws ConfigError (`ERR_CONFIG`) for a bad pattern, a name claimed twice, or two services without `sni`. */
  constructor(services: readonly T[], field = 'sni') {
    let fallback: T | undefined;
    for (const s of services) {
      if (s.sni === undefined || s.sni.length === 0) {
        if (fallback !== undefined) throw new ConfigError(field, 'at most one service on a listen address may set no sni (it takes every other connection)');
        fallback = s;
        continue;
      }
      for (const raw of s.sni) {
        const p = normalise(raw, field);
        const [map, key] = p.startsWith('*.') ? [this.#wildcard, p.slice(2)] : [this.#exact, p];
        if (map.has(key) && map.get(key) !== s) throw new ConfigError(field, `${JSON.stringify(raw)} is claimed by two services`);
        map.set(key, s);
      }
    }
    this.#fallback = fallback;
  }

  /** The service for a server name (from ClientHelloParser: already lower-case), or for none. */
  match(serverName: string | undefined): T | undefined {
    if (serverName === undefined) return this.#fallback;
    const name = serverName.toLowerCase();
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.#wildcard.get(name.slice(dot + 1));
      if (wild !== undefined) return wild;
    }
    return this.#fallback;
  }
}

/** One lookup without keeping a router (tests, tools); a listener should build a SniRouter once per configuration. */
export function matchSni<T extends SniService>(serverName: string | undefined, services: readonly T[]): T | undefined {
  return new SniRouter(services).match(serverName);
}
