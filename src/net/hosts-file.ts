/**
 * /etc/hosts, read by us: c-ares's `resolve4`/`resolve6` query DNS only, and
 * `getaddrinfo` (which reads it) is what we avoid (see resolver.ts). Names
 * here win over DNS, as `hosts: files dns` has it.
 *
 * The file is read synchronously: it is small and local, and a read costs
 * microseconds, where an asynchronous one would go through libuv's thread
 * pool. It is re-read when its identity, size or mtime changes, checked at
 * most once per `checkMs`; a missing or unreadable file means no entries.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { orderAddresses, type Address } from './addresses.ts';

/** Parses hosts-file text: `IP name [alias...]`, `#` comments; names case-insensitive; addresses in file order, then ordered as connects try them. */
export function parseHosts(text: string): Map<string, readonly Address[]> {
  const raw = new Map<string, Address[]>();
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    const ip = fields[0] ?? '';
    const family = isIP(ip);
    if (family === 0 || fields.length < 2) continue;
    for (const name of fields.slice(1)) {
      const key = name.toLowerCase().replace(/\.$/, '');
      const list = raw.get(key) ?? [];
      if (!list.some((a) => a.ip === ip)) list.push({ ip, family: family as 4 | 6 });
      raw.set(key, list);
    }
  }
  const out = new Map<string, readonly Address[]>();
  for (const [name, list] of raw) out.set(name, orderAddresses(list));
  return out;
}

export class HostsFile {
  readonly #path: string;
  readonly #now: () => number;
  readonly #checkMs: number;
  #entries = new Map<string, readonly Address[]>();
  #stamp = '';
  #checkedAt = -Infinity;

  constructor(path: string, now: () => number, checkMs = 1000) {
    this.#path = path;
    this.#now = now;
    this.#checkMs = checkMs;
  }

  /** The file's addresses for `name` (lower-case, no trailing dot), or undefined. */
  get(name: string): readonly Address[] | undefined {
    const now = this.#now();
    if (now - this.#checkedAt >= this.#checkMs) {
      this.#checkedAt = now;
      this.#reload();
    }
    return this.#entries.get(name);
  }

  #reload(): void {
    let stamp: string;
    try {
      const s = statSync(this.#path);
      stamp = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp === this.#stamp) return;
    this.#stamp = stamp;
    try {
      this.#entries = parseHosts(readFileSync(this.#path, 'latin1'));
    } catch {
      this.#entries = new Map();
    }
  }
}
