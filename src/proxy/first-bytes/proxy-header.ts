import type { FirstBytesReject, NeedMore } from './errors.ts';

/** One end of a proxied connection, as Node would report it (`remoteAddress`, `remotePort`). */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

/** A PROXY v2 Type-Length-Value (proxy-protocol.txt 2.2); `value` is a copy, not a view of the client's chunk. */
export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

/** The registered TLV types (proxy-protocol.txt 2.2). */
export const PP2_TYPE = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
});

/**
 * A decoded PROXY header. `family: 'UNKNOWN'` means "use the socket's own
 * addresses": a v1 `UNKNOWN` line, a v2 `LOCAL` (health checks), or a v2
 * `PROXY` for a family Fulcrum does not relay (UNSPEC, UDP, UNIX), which the
 * spec says a receiver falls back to UNSPEC for (2.2).
 */
export type ProxyHeader =
  | {
      readonly version: 1 | 2;
      readonly command: 'PROXY';
      readonly family: 'TCP4' | 'TCP6';
      readonly source: ProxyEndpoint;
      readonly destination: ProxyEndpoint;
      /** v2 only; NOOP TLVs are left out, a checked CRC32C is kept. Empty for v1. */
      readonly tlvs: readonly ProxyTlv[];
    }
  | {
      readonly version: 1 | 2;
      readonly command: 'PROXY' | 'LOCAL';
      readonly family: 'UNKNOWN';
      readonly tlvs: readonly ProxyTlv[];
    };

export interface ProxyHeaderDone {
  readonly kind: 'done';
  readonly header: ProxyHeader;
  /**
   * How many bytes of the chunk last pushed belong to the header: the
   * client's own data starts at `chunk.subarray(consumed)`. Bytes of earlier
   * chunks (answered `more`) were all header.
   */
  readonly consumed: number;
  /** The header's whole length, over every chunk. */
  readonly length: number;
}

export type ProxyParseResult = NeedMore | ProxyHeaderDone | FirstBytesReject<'ERR_PROXY_HEADER'>;

export const NO_TLVS: readonly ProxyTlv[] = Object.freeze([]);

/** Scratch that the v1 and v2 decoders fill in for the incremental parser (one per parser, reused). */
export interface Outcome {
  header: ProxyHeader | undefined;
  reason: string;
  /** Bytes the header needs in all, once known (v2 after its 16-byte fixed part). */
  need: number;
}
