import { FulcrumError } from '../../errors.ts';

/**
 * Stable codes for what the first bytes of a connection can be refused for:
 * - `ERR_PROXY_HEADER`: no valid PROXY protocol header where one is required;
 * - `ERR_CLIENT_HELLO`: a TLS handshake record that is not a well-formed ClientHello;
 * - `ERR_NOT_TLS`: the first bytes are not a TLS handshake record at all (an
 *   SNI listener sends these to its default service, if it has one).
 */
export type FirstBytesCode = 'ERR_PROXY_HEADER' | 'ERR_CLIENT_HELLO' | 'ERR_NOT_TLS';

/** What a parser answers when it refuses the bytes; `reason` is for logs, `code` for metrics. */
export interface FirstBytesReject<C extends FirstBytesCode = FirstBytesCode> {
  readonly kind: 'reject';
  readonly code: C;
  readonly reason: string;
}

/** The parser has seen too little to decide: push the next chunk. One frozen object, never allocated per call. */
export interface NeedMore {
  readonly kind: 'more';
}
export const NEED_MORE: NeedMore = Object.freeze({ kind: 'more' });

/** A refusal as an error, for `socket.destroy(err)` and the logs: the client's fault. */
export class FirstBytesError extends FulcrumError {
  readonly reason: string;

  constructor(reject: FirstBytesReject) {
    super(`${reject.reason}`, reject.code, 'client');
    this.reason = reject.reason;
  }
}

/** An encoder was given an address or port it cannot write (a caller's bug, not a client's). */
export class ProxyEncodeError extends FulcrumError {
  constructor(message: string) {
    super(message, 'ERR_PROXY_ENCODE', 'internal');
  }
}
