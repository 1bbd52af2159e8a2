/**
 * Incremental reader for the HTTP/1.1 responses on one client connection,
 * shared by the load generator and the idle-connection opener. It counts body
 * bytes instead of keeping them (a 1 MiB body costs nothing to "read"), and
 * knows only the framing our backends use: Content-Length, or read-to-close.
 * Chunked responses are reported as an error rather than misparsed.
 */

const HEADER_END = Buffer.from('\r\n\r\n');
const READING_HEAD = -1;

export interface Response {
  status: number;
  /** Headers plus body, as received. */
  bytes: number;
  /** The server will close the connection after this response (read-to-close body or `Connection: close`). */
  close: boolean;
}

export class ResponseReader {
  #partial: Buffer | undefined;
  /** Body bytes still expected; READING_HEAD between responses, Infinity for read-to-close. */
  #remaining = READING_HEAD;
  #status = 0;
  #bytes = 0;
  #close = false;
  readonly #onResponse: (r: Response) => void;

  constructor(onResponse: (r: Response) => void) {
    this.#onResponse = onResponse;
  }

  /** Feeds received bytes; calls onResponse for each complete response. Throws on unsupported framing. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#partial) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    let off = 0;
    while (off < buf.length) {
      if (this.#remaining === READING_HEAD) {
        const end = buf.indexOf(HEADER_END, off);
        if (end < 0) {
          this.#partial = Buffer.from(buf.subarray(off));
          return;
        }
        this.#remaining = this.#startBody(buf.toString('latin1', off, end));
        this.#bytes += end + HEADER_END.length - off;
        off = end + HEADER_END.length;
        if (this.#remaining === 0) this.#finish();
      } else {
        const take = Math.min(this.#remaining, buf.length - off);
        this.#remaining -= take;
        this.#bytes += take;
        off += take;
        if (this.#remaining === 0) this.#finish();
      }
    }
  }

  /** The peer closed: completes a read-to-close body. */
  end(): void {
    if (this.#remaining === Infinity) this.#finish();
  }

  /** Parses the head; returns the body length to expect. */
  #startBody(head: string): number {
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!status) throw new Error(`not an HTTP/1.x response: ${JSON.stringify(head.slice(0, 40))}`);
    this.#status = Number(status[1]);
    if (/^transfer-encoding:\s*chunked/im.test(head)) throw new Error('chunked responses are not supported');
    const length = /^content-length:\s*(\d+)/im.exec(head);
    this.#close = !length || /^connection:\s*close/im.test(head);
    return length ? Number(length[1]) : Infinity;
  }

  #finish(): void {
    const r = { status: this.#status, bytes: this.#bytes, close: this.#close };
    this.#remaining = READING_HEAD;
    this.#bytes = 0;
    this.#onResponse(r);
  }
}

/** Refuses anything but loopback: the load tools must never aim at another machine. */
export function assertLoopback(host: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) && host !== 'localhost') {
    throw new Error(`refusing to send load to ${host}: only 127.0.0.0/8 is allowed`);
  }
}
