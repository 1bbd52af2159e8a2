/**
 * The TLS ClientHello, read for its server name (SNI, RFC 6066 section 3)
 * without terminating TLS: fed the first chunks of a connection as they
 * arrive, it answers `more`, `done { serverName, … }`, or a refusal.
 *
 * - TLS record layer (RFC 8446 5.1): type 22 (handshake), version 3.x,
 *   length 1..2^14. A handshake message may span several records, and
 *   records several chunks; both are reassembled. The ClientHello must be the
 *   first handshake message and is bounded (16 KiB by default).
 * - Every length is checked against the one that encloses it, and the
 *   parser never reads past a declared length nor past the ClientHello.
 * - `ERR_NOT_TLS` when the first two bytes are not a handshake record of
 *   TLS (0x16 0x03): the connection speaks something else, which an SNI
 *   listener may hand to its default service. `ERR_CLIENT_HELLO` for TLS
 *   that is malformed, which is closed.
 *
 * Cost: a ClientHello that comes in one record in one chunk (nearly always)
 * is read in place; otherwise its bytes are copied once into a buffer of the
 * declared size. Nothing is allocated per byte.
 */
import { NEED_MORE, type FirstBytesReject, type NeedMore } from './errors.ts';
import { readServerName, type HelloOutcome } from './client-hello-body.ts';

export interface ClientHelloDone {
  readonly kind: 'done';
  /** The host_name from server_name, lower-cased, a trailing dot removed; undefined when the client sent none. */
  readonly serverName: string | undefined;
  /** Bytes of the last chunk up to the ClientHello's last byte (nothing is consumed: TLS is relayed whole). */
  readonly consumed: number;
  /** Bytes of input, record headers included, up to the ClientHello's last byte. */
  readonly length: number;
}

export type ClientHelloResult = NeedMore | ClientHelloDone | FirstBytesReject<'ERR_CLIENT_HELLO' | 'ERR_NOT_TLS'>;

export interface ClientHelloParserOptions {
  /** The largest ClientHello message accepted, its 4-byte handshake header included. @default 16384 */
  maxLength?: number;
}

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const MAX_RECORD = 1 << 14;

export class ClientHelloParser {
  readonly #max: number;
  readonly #record = new Uint8Array(RECORD_HEADER);
  #recordHave = 0;
  /** Payload bytes left in the current record; 0 while reading a record header. */
  #recordLeft = 0;
  #records = 0;
  readonly #hsHead = new Uint8Array(HANDSHAKE_HEADER);
  #hsHave = 0;
  #msg: Buffer | undefined;
  #msgHave = 0;
  #seen = 0;
  #finished = false;
  readonly #out: HelloOutcome = { serverName: undefined, reason: '' };

  constructor(options: ClientHelloParserOptions = {}) {
    const max = options.maxLength ?? 16_384;
    if (!Number.isInteger(max) || max < 64 || max > 1 << 24) throw new RangeError(`maxLength: ${max} is not an integer in 64..2^24`);
    this.#max = max;
  }

  /** Feeds the next chunk. After `done` or a refusal, pushing again is a caller's bug and throws. */
  push(chunk: Buffer): ClientHelloResult {
    if (this.#finished) throw new Error('ClientHelloParser: push after done or reject');
    if (this.#seen === 0 && chunk.length >= RECORD_HEADER + HANDSHAKE_HEADER) {
      const whole = this.#inPlace(chunk);
      if (whole !== undefined) return whole;
    }
    for (let i = 0; i < chunk.length; ) {
      if (this.#recordLeft === 0) {
        const take = Math.min(RECORD_HEADER - this.#recordHave, chunk.length - i);
        this.#record.set(chunk.subarray(i, i + take), this.#recordHave);
        this.#recordHave += take;
        i += take;
        const bad = this.#checkRecordHeader();
        if (bad !== undefined) return bad;
        continue;
      }
      const take = Math.min(this.#recordLeft, chunk.length - i);
      const used = this.#handshake(chunk, i, i + take);
      if (used < 0) return this.#reject('ERR_CLIENT_HELLO', this.#out.reason);
      i += used;
      this.#recordLeft -= used;
      if (this.#msg !== undefined && this.#msgHave === this.#msg.length) {
        if (!readServerName(this.#msg, 0, this.#msg.length, this.#out)) return this.#reject('ERR_CLIENT_HELLO', this.#out.reason);
        return this.#done(i, this.#seen + i);
      }
    }
    this.#seen += chunk.length;
    return NEED_MORE;
  }

  /** The usual case, one record holding the whole ClientHello at the start of one chunk: read it where it lies. */
  #inPlace(chunk: Buffer): ClientHelloResult | undefined {
    if (chunk[0] !== 0x16 || chunk[1] !== 0x03 || chunk[5] !== 0x01) return undefined;
    const recordLen = chunk.readUInt16BE(3);
    const msgLen = (chunk[6]! << 16) | chunk.readUInt16BE(7);
    const end = RECORD_HEADER + HANDSHAKE_HEADER + msgLen;
    if (recordLen > MAX_RECORD || chunk[2]! > 4 || HANDSHAKE_HEADER + msgLen > recordLen || end > chunk.length || HANDSHAKE_HEADER + msgLen > this.#max) return undefined;
    if (!readServerName(chunk, RECORD_HEADER + HANDSHAKE_HEADER, end, this.#out)) return this.#reject('ERR_CLIENT_HELLO', this.#out.reason);
    return this.#done(end, end);
  }

  #checkRecordHeader(): ClientHelloResult | undefined {
    const r = this.#record;
    const have = this.#recordHave;
    const first = this.#records === 0;
    if (have >= 1 && r[0] !== 0x16) {
      return first ? this.#reject('ERR_NOT_TLS', 'not a TLS handshake record') : this.#reject('ERR_CLIENT_HELLO', `record type ${r[0]} inside the ClientHello`);
    }
    if (have >= 2 && r[1] !== 0x03) return first ? this.#reject('ERR_NOT_TLS', 'not TLS (record version is not 3.x)') : this.#reject('ERR_CLIENT_HELLO', 'record version is not 3.x');
    if (have >= 3 && r[2]! > 4) return this.#reject('ERR_CLIENT_HELLO', `record version 3.${r[2]} is unknown`);
    if (have < RECORD_HEADER) return undefined;
    const len = (r[3]! << 8) | r[4]!;
    if (len === 0 || len > MAX_RECORD) return this.#reject('ERR_CLIENT_HELLO', `record length ${len} is not 1..16384`);
    this.#recordLeft = len;
    this.#recordHave = 0;
    this.#records++;
    return undefined;
  }

  /** Takes handshake bytes chunk[from, to) up to the end of the ClientHello; -1 to refuse. */
  #handshake(chunk: Buffer, from: number, to: number): number {
    let i = from;
    if (this.#hsHave < HANDSHAKE_HEADER) {
      const take = Math.min(HANDSHAKE_HEADER - this.#hsHave, to - i);
      this.#hsHead.set(chunk.subarray(i, i + take), this.#hsHave);
      this.#hsHave += take;
      i += take;
      if (this.#hsHead[0] !== 0x01) return this.#fail(`handshake message type ${this.#hsHead[0]} is not ClientHello (1)`);
      if (this.#hsHave < HANDSHAKE_HEADER) return i - from;
      const h = this.#hsHead;
      const len = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
      if (HANDSHAKE_HEADER + len > this.#max) return this.#fail(`ClientHello of ${HANDSHAKE_HEADER + len} bytes is over the ${this.#max}-byte limit`);
      this.#msg = Buffer.allocUnsafe(len);
    }
    const msg = this.#msg!;
    const take = Math.min(msg.length - this.#msgHave, to - i);
    chunk.copy(msg, this.#msgHave, i, i + take);
    this.#msgHave += take;
    return i + take - from;
  }

  #fail(reason: string): -1 {
    this.#out.reason = reason;
    return -1;
  }

  #reject(code: 'ERR_CLIENT_HELLO' | 'ERR_NOT_TLS', reason: string): FirstBytesReject<'ERR_CLIENT_HELLO' | 'ERR_NOT_TLS'> {
    this.#finished = true;
    this.#msg = undefined;
    return { kind: 'reject', code, reason };
  }

  #done(consumed: number, length: number): ClientHelloDone {
    this.#finished = true;
    this.#msg = undefined;
    return { kind: 'done', serverName: this.#out.serverName, consumed, length };
  }
}

/** One whole buffer at once (tests, tools). */
export function parseClientHello(buf: Buffer, options?: ClientHelloParserOptions): ClientHelloResult {
  return new ClientHelloParser(options).push(buf);
}
