/**
 * The PROXY header Fulcrum sends a backend (`proxyProtocol: v1 | v2` on a
 * service or a backend): the real client and the address it connected to,
 * TCP4 or TCP6 as they are (an IPv4-mapped client with an IPv4 listener is
 * TCP4). It is written as soon as the backend connection is up, before any
 * client byte and whether or not the client has sent one, so server-first
 * protocols (SMTP, MySQL, FTP) work through it.
 */
import type { ProxyVersion } from '../../config/parse.ts';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local } from './proxy-encode.ts';
import type { ProxyEndpoint } from './proxy-header.ts';

export type { ProxyVersion };
export const PROXY_VERSIONS: readonly ProxyVersion[] = ['v1', 'v2'];

export function proxyHeader(version: ProxyVersion, client: ProxyEndpoint, local: ProxyEndpoint): Buffer {
  return version === 'v1' ? encodeProxyV1(client, local) : encodeProxyV2(client, local);
}

const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');

/**
 * What a health check sends first to a backend expecting `version`: there is
 * no client, so the header says "use this connection's own addresses". v2:
 * the 16-byte LOCAL header; v1: `PROXY UNKNOWN\r\n`, v1's way of saying the
 * same (proxy-protocol.txt 2.1), as HAProxy's checks do for a `send-proxy`
 * server (a receiver that takes v1 only need not read v2). Shared, never
 * written to: sockets copy what they are given.
 */
export function checkHeader(version: ProxyVersion): Buffer {
  return version === 'v1' ? V1_UNKNOWN : V2_LOCAL;
}

const V2_LOCAL = encodeProxyV2Local();
