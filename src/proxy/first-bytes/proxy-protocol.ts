/**
 * The PROXY protocol receiver (HAProxy's doc/proxy-protocol.txt, v1 and v2):
 * fed the first chunks of a connection as they arrive, it answers `more`,
 * `done { header, consumed }` or `reject { code: 'ERR_PROXY_HEADER', reason }`.
 *
 * v1 and v2 are told apart by their first byte ('P' or CR) and then by their
 * whole signature, checked as bytes arrive, so garbage is refused at its first
 * wrong byte rather than after a timeout (2.1: "abort the connection as soon
 * as possible"). Nothing is guessed: a connection that does not start with a
 * header is refused (2: "MUST not try to guess").
 *
 * Cost: a header that arrives in one chunk (the sender "must always ensure
 * that the header is sent at once", 2) is decoded in place from that chunk;
 * only a header split across chunks is copied, into one buffer per parser
 * (107 bytes for v1; 16, then the declared length, for v2). No step
 * allocates per byte. The parser never reads the chunk past the header's end
 * and never writes to it.
 */
import { NEED_MORE } from './errors.ts';
import type { Outcome, ProxyHeaderDone, ProxyParseResult } from './proxy-header.ts';
import { decodeV1, scanV1, V1_MAX, V1_PREFIX } from './proxy-v1.ts';
import { inspectV2, V2_DEFAULT_MAX, V2_FIXED } from './proxy-v2.ts';

export interface ProxyParserOptions {
  /**
   * The largest v2 header accepted, TLVs included; a longer `len` is refused
   * before any of it is buffered. At least 232 (the UNIX address block).
   * @default 4096
   */
  maxV2Length?: number;
}

/** Which header the first byte announced. */
const VERSION = { none: 0, v1: 1, v2: 2 } as const;

export class ProxyHeaderParser {
  readonly #max: number;
  #version: number = VERSION.none;
  /** Buffered header bytes, once a chunk has ended before the header did. */
  #buf: Buffer | undefined;
  #have = 0;
  #finished = false;
  readonly #out: Outcome = { header: undefined, reason: '', need: 0 };

  constructor(options: ProxyParserOptions = {}) {
    const max = options.maxV2Length ?? V2_DEFAULT_MAX;
    if (!Number.isInteger(max) || max < 232 || max > 65_551) {
      throw new RangeError(`maxV2Length: ${max} is not an integer in 232..65551`);
    }
    this.#max = max;
  }

  /** Feeds the next chunk. After `done` or `reject`, pushing again is a caller's bug and throws. */
  push(chunk: Buffer): ProxyParseResult {
    if (this.#finished) throw new Error('ProxyHeaderParser: push after done or reject');
    if (chunk.length === 0) return NEED_MORE;
    if (this.#have === 0) {
      const r = this.#inspect(chunk, chunk.length, 0);
      if (r === 0) this.#keep(chunk, 0, chunk.length);
      return this.#answer(r, 0);
    }
    const base = this.#have;
    let off = 0;
    for (;;) {
      off += this.#keep(chunk, off, chunk.length);
      const r = this.#inspect(this.#buf!, this.#have, base);
      // a v2 header whose length became known in this chunk: grow, take more
      if (r === 0 && off < chunk.length && this.#grow()) continue;
      return this.#answer(r, base);
    }
  }

  /** 0 for more, -1 to refuse, else the header's whole length (decoded into #out). */
  #inspect(data: Buffer, len: number, base: number): number {
    const out = this.#out;
    if (this.#version === VERSION.none) {
      const first = data[0];
      if (first === V1_PREFIX[0]) this.#version = VERSION.v1;
      else if (first === 0x0d) this.#version = VERSION.v2;
      else return reject(out, 'not a PROXY protocol header (neither "PROXY " nor the v2 signature)');
    }
    if (this.#version === VERSION.v2) return inspectV2(data, len, this.#max, out);
    const n = Math.min(len, V1_PREFIX.length);
    for (let i = 0; i < n; i++) if (data[i] !== V1_PREFIX[i]) return reject(out, 'not a PROXY protocol header (v1 must start "PROXY ")');
    const lf = scanV1(data, Math.max(0, base - 1), len);
    if (lf === -2) return reject(out, 'v1: a CR or LF alone; the line must end with CRLF');
    if (lf === -1) return len >= V1_MAX ? reject(out, `v1: no CRLF within ${V1_MAX} bytes`) : 0;
    if (lf < V1_PREFIX.length + 1) return reject(out, 'v1: line too short');
    return decodeV1(data, lf - 1, out) ? lf + 1 : -1;
  }

  /** Copies chunk[from, to) into the buffer as far as the header can reach; returns how many. */
  #keep(chunk: Buffer, from: number, to: number): number {
    if (this.#buf === undefined) {
      this.#buf = Buffer.allocUnsafe(this.#version === VERSION.v1 ? V1_MAX : Math.max(V2_FIXED, this.#out.need));
    }
    const n = Math.min(to - from, this.#buf.length - this.#have);
    chunk.copy(this.#buf, this.#have, from, from + n);
    this.#have += n;
    return n;
  }

  #grow(): boolean {
    const need = this.#out.need;
    if (this.#version !== VERSION.v2 || need <= this.#buf!.length) return false;
    const bigger = Buffer.allocUnsafe(need);
    this.#buf!.copy(bigger, 0, 0, this.#have);
    this.#buf = bigger;
    return true;
  }

  #answer(r: number, base: number): ProxyParseResult {
    if (r === 0) return NEED_MORE;
    this.#finished = true;
    this.#buf = undefined;
    if (r < 0) return { kind: 'reject', code: 'ERR_PROXY_HEADER', reason: this.#out.reason };
    const done: ProxyHeaderDone = { kind: 'done', header: this.#out.header!, consumed: r - base, length: r };
    return done;
  }
}

function reject(out: Outcome, reason: string): -1 {
  out.reason = reason;
  return -1;
}

/** One whole buffer at once (tests, tools): `more` means the buffer ends inside the header. */
export function parseProxyHeader(buf: Buffer, options?: ProxyParserOptions): ProxyParseResult {
  return new ProxyHeaderParser(options).push(buf);
}
