/**
 * The request target as RFC 9112 §3.2 has it: origin-form (`/backends?x=1`),
 * absolute-form (`http://host:port/backends`, which proxies and some clients
 * send; the authority in it then stands in for Host), or anything else
 * (asterisk-form `*`, garbage), which simply matches no route.
 */
export interface RequestTarget {
  readonly path: string;
  readonly query: URLSearchParams;
  /** The authority of an absolute-form target; undefined for the other forms. */
  readonly authority: string | undefined;
}

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;

export function parseTarget(target: string): RequestTarget {
  let rest = target;
  let authority: string | undefined;
  const abs = ABSOLUTE.exec(target);
  if (abs) {
    authority = abs[1]!;
    rest = target.slice(abs[0].length);
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }
  // Split by hand rather than with URL: `//x` in origin-form would become a host there, not a path.
  const q = rest.indexOf('?');
  return {
    path: q < 0 ? rest : rest.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : rest.slice(q + 1)),
    authority,
  };
}
