/**
 * The PROXY header Fulcrum sends a backend (`proxyProtocol: v1 | v2` on a
 * service): the real client and the address it connected to, TCP4 or TCP6
 * as they are (an IPv4-mapped client with an IPv4 listener is TCP4). It is
 * written as soon as the backend connection is up, before any client byte
 * and whether or not the client has sent one, so server-first protocols
 * (SMTP, MySQL, FTP) work through it.
 */
import { encodeProxyV1, encodeProxyV2 } from './proxy-encode.ts';
import type { ProxyEndpoint } from './proxy-header.ts';

export type ProxyVersion = 'v1' | 'v2';
export const PROXY_VERSIONS: readonly ProxyVersion[] = ['v1', 'v2'];

export function proxyHeader(version: ProxyVersion, client: ProxyEndpoint, local: ProxyEndpoint): Buffer {
  return version === 'v1' ? encodeProxyV1(client, local) : encodeProxyV2(client, local);
}
