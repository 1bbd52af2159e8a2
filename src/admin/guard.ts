/**
 * What keeps a web page in the operator's browser away from the admin API,
 * checked before auth on every request:
 *
 * - Host (DNS rebinding): a page on `evil.example` that rebinds its name to
 *   127.0.0.1 reaches us with `Host: evil.example`. The host must be
 *   `localhost`, a name the operator allowed, or an IP literal equal to the
 *   address the connection arrived on. An IP literal cannot be rebound, and
 *   "the address it arrived on" is exactly the admin's own address when it
 *   listens on one, and whichever of this machine's addresses was dialled
 *   when it listens on 0.0.0.0 or ::. The port is not compared: rebinding
 *   changes names, not ports, and port forwards (ssh -L) change ports.
 *   421, as the request was meant for another authority.
 * - Origin (cross-site requests): browsers send it on every cross-origin
 *   request and on same-origin POSTs; curl and scripts do not. When present it
 *   must be this very authority (`http://` or `https://` + Host). 403.
 *
 * The third check, `Content-Type: application/json` on bodies, is in body.ts,
 * where the body is read: text/plain and form bodies are what a page can send
 * cross-site without a preflight.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { canonicalHost } from '../config/canonical-host.ts';
import { HttpError } from './http-error.ts';

/** Returns a check that throws an HttpError for a request that may come from a web page. */
export function requestGuard(allowedHosts: readonly string[]): (req: IncomingMessage, targetAuthority: string | undefined) => void {
  const allowed = new Set(['localhost', ...allowedHosts.map((h) => canonicalHost(h))]);
  return (req, targetAuthority) => {
    // An absolute-form target's authority overrides Host (RFC 9112 §3.2.2).
    const authority = targetAuthority ?? req.headers.host;
    // HTTP/1.0 without Host: no browser sends that, so nothing to rebind.
    if (authority === undefined) return;
    const host = hostOf(authority);
    const local = req.socket.localAddress;
    const ok =
      host !== undefined && (allowed.has(host) || (isIP(host) !== 0 && local !== undefined && host === canonicalHost(local)));
    if (!ok) {
      throw new HttpError(421, 'ERR_HOST_NOT_ALLOWED', `host ${JSON.stringify(authority.slice(0, 128))} is not this admin API's (use its address or localhost, or allow the name with --admin-allowed-host)`);
    }
    const origin = req.headers.origin;
    if (origin === undefined) return;
    const o = origin.toLowerCase();
    const a = authority.toLowerCase();
    if (o !== `http://${a}` && o !== `https://${a}`) {
      throw new HttpError(403, 'ERR_ORIGIN_NOT_ALLOWED', `cross-origin request from ${JSON.stringify(origin.slice(0, 128))} refused (the admin API takes no requests from web pages)`);
    }
  };
}

/** The canonical host of `host[:port]` or `[v6][:port]`; undefined when it is no valid host. */
function hostOf(authority: string): string | undefined {
  let host = authority;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return undefined;
    host = host.slice(1, end);
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  if (host === '' || !/^[A-Za-z0-9.:%_-]+$/.test(host)) return undefined;
  try {
    return canonicalHost(host);
  } catch {
    return undefined;
  }
}
